"""Event data: readers for real formats, transforms, public datasets, audio to spikes.

Events are numpy structured arrays (``x, y, t, p`` for cameras; ``t, x, p`` for audio channels;
``t`` in microseconds).  See :mod:`neuro.datasets.readers`, :mod:`~neuro.datasets.transforms`,
:mod:`~neuro.datasets.public` (which also finds each dataset's files), :mod:`~neuro.datasets.prepared`
(the real datasets as ready tensors) and :mod:`~neuro.datasets.audio`.

Names are imported from their module on first use, so reading and plotting an event file
(``read_events``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: module -> the names this package takes from it
_EXPORTS = {
    "audio": ["CochleaEncoder"],
    "cache": ["CachedDataset"],
    "collate": ["length_mask", "pad_time_major"],
    "events": ["AUDIO_DTYPE", "CAMERA_DTYPE", "EventStream", "make_events", "to_dense", "to_sparse"],
    "prepared": ["fsdd_inputs", "nmnist_frames", "nmnist_inputs"],
    "public": ["FSDD", "MNIST", "NMNIST", "SHD", "SSC", "PermutedMNIST", "SpikingFSDD"],
    "readers": ["detect_format", "read_aedat4", "read_events", "read_idx", "read_nmnist", "read_prophesee_dat",
                "read_prophesee_raw", "read_wav", "write_nmnist"],
    "shd": ["ShdFile", "write_shd"],
    "transforms": ["ChannelShift", "Compose", "CropTime", "Denoise", "Downsample", "DropEvent", "SpatialJitter",
                   "TimeJitter", "ToFrame"],
}
_MODULE_OF = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = [  # every name of _EXPORTS (a test checks)
    "AUDIO_DTYPE", "CAMERA_DTYPE", "CachedDataset", "ChannelShift", "CochleaEncoder", "Compose", "CropTime",
    "Denoise", "Downsample", "DropEvent", "EventStream", "FSDD", "MNIST", "NMNIST", "PermutedMNIST", "SHD", "SSC",
    "ShdFile", "SpatialJitter", "SpikingFSDD", "TimeJitter", "ToFrame", "detect_format", "fsdd_inputs",
    "length_mask", "make_events", "nmnist_frames", "nmnist_inputs", "pad_time_major", "read_aedat4", "read_events",
    "read_idx", "read_nmnist", "read_prophesee_dat", "read_prophesee_raw", "read_wav", "to_dense", "to_sparse",
    "write_nmnist", "write_shd",
]


def __getattr__(name: str) -> Any:
    mod = _MODULE_OF.get(name)
    if mod is None:
        raise AttributeError(f"module 'neuro.datasets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"neuro.datasets.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


if TYPE_CHECKING:  # the same names, for type checkers and the API docs
    from neuro.datasets.audio import CochleaEncoder
    from neuro.datasets.cache import CachedDataset
    from neuro.datasets.collate import length_mask, pad_time_major
    from neuro.datasets.events import AUDIO_DTYPE, CAMERA_DTYPE, EventStream, make_events, to_dense, to_sparse
    from neuro.datasets.prepared import fsdd_inputs, nmnist_frames, nmnist_inputs
    from neuro.datasets.public import FSDD, MNIST, NMNIST, SHD, SSC, PermutedMNIST, SpikingFSDD
    from neuro.datasets.readers import (
        detect_format,
        read_aedat4,
        read_events,
        read_idx,
        read_nmnist,
        read_prophesee_dat,
        read_prophesee_raw,
        read_wav,
        write_nmnist,
    )
    from neuro.datasets.shd import ShdFile, write_shd
    from neuro.datasets.transforms import (
        ChannelShift,
        Compose,
        CropTime,
        Denoise,
        Downsample,
        DropEvent,
        SpatialJitter,
        TimeJitter,
        ToFrame,
    )
