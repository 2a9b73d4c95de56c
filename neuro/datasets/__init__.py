"""Event data: readers for real formats, transforms, public datasets, audio to spikes.

Events are numpy structured arrays (``x, y, t, p`` for cameras; ``t, x, p`` for audio channels;
``t`` in microseconds).  See :mod:`neuro.datasets.readers`, :mod:`~neuro.datasets.transforms`,
:mod:`~neuro.datasets.public` (which also finds each dataset's files), :mod:`~neuro.datasets.prepared`
(the real datasets as ready tensors), :mod:`~neuro.datasets.camera` (event-camera datasets),
:mod:`~neuro.datasets.representations` (voxel grids, time surfaces), :mod:`~neuro.datasets.slicing`
and :mod:`~neuro.datasets.audio`.

Names are imported from their module on first use, so reading and plotting an event file
(``read_events``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: module -> the names this package takes from it
_EXPORTS = {
    "aedat_legacy": ["read_aedat2", "read_aedat3", "write_aedat2", "write_aedat3"],
    "audio": ["CochleaEncoder"],
    "cache": ["CachedDataset"],
    "camera": ["ASLDVS", "CIFAR10DVS", "NCARS", "DVSGesture", "NCaltech101"],
    "collate": ["length_mask", "pad_time_major"],
    "inner_ear": ["InnerEarEncoder"],
    "events": ["AUDIO_DTYPE", "CAMERA_DTYPE", "EventStream", "make_events", "to_dense", "to_sparse"],
    "prepared": ["fsdd_inputs", "nmnist_frames", "nmnist_inputs"],
    "public": ["FSDD", "MNIST", "NMNIST", "SHD", "SSC", "PermutedMNIST", "SpikingFSDD"],
    "readers": ["detect_format", "read_aedat4", "read_events", "read_idx", "read_nmnist", "read_prophesee_dat",
        "read_prophesee_raw", "read_wav", "write_nmnist"],
    "representations": ["ToTimesurface", "ToVoxelGrid"],
    "shd": ["ShdFile", "write_shd"],
    "slicing": ["SliceByEventCount", "SliceByTime", "SlicedDataset"],
    "transforms": ["CenterCrop", "ChannelShift", "Compose", "CropTime", "Decimation", "Denoise", "Downsample",
        "DropEvent", "HotPixelFilter", "MergePolarities", "RandomCrop", "RandomFlipLR", "RandomFlipPolarity",
        "RandomFlipUD", "RefractoryPeriod", "SpatialJitter", "TimeJitter", "TimeSkew", "ToFrame", "UniformNoise",
        "sensor_size_after"],
}
_MODULE_OF = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = [  # every name of _EXPORTS (a test checks)
    "ASLDVS", "AUDIO_DTYPE", "CAMERA_DTYPE", "CIFAR10DVS", "CachedDataset", "CenterCrop", "ChannelShift",
    "CochleaEncoder", "Compose", "CropTime", "DVSGesture", "Decimation", "Denoise", "Downsample", "DropEvent",
    "EventStream", "FSDD", "HotPixelFilter", "InnerEarEncoder", "MNIST", "MergePolarities", "NCARS", "NCaltech101",
    "NMNIST", "PermutedMNIST", "RandomCrop", "RandomFlipLR", "RandomFlipPolarity", "RandomFlipUD", "RefractoryPeriod",
    "SHD", "SSC", "ShdFile", "SliceByEventCount", "SliceByTime", "SlicedDataset", "SpatialJitter", "SpikingFSDD",
    "TimeJitter", "TimeSkew", "ToFrame", "ToTimesurface", "ToVoxelGrid", "UniformNoise", "detect_format",
    "fsdd_inputs", "length_mask", "make_events", "nmnist_frames", "nmnist_inputs", "pad_time_major", "read_aedat2",
    "read_aedat3", "read_aedat4", "read_events", "read_idx", "read_nmnist", "read_prophesee_dat",
    "read_prophesee_raw", "read_wav", "sensor_size_after", "to_dense", "to_sparse", "write_aedat2", "write_aedat3",
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
    from neuro.datasets.aedat_legacy import (
        read_aedat2,
        read_aedat3,
        write_aedat2,
        write_aedat3,
    )
    from neuro.datasets.audio import (
        CochleaEncoder,
    )
    from neuro.datasets.cache import (
        CachedDataset,
    )
    from neuro.datasets.camera import (
        ASLDVS,
        CIFAR10DVS,
        NCARS,
        DVSGesture,
        NCaltech101,
    )
    from neuro.datasets.collate import (
        length_mask,
        pad_time_major,
    )
    from neuro.datasets.events import (
        AUDIO_DTYPE,
        CAMERA_DTYPE,
        EventStream,
        make_events,
        to_dense,
        to_sparse,
    )
    from neuro.datasets.inner_ear import (
        InnerEarEncoder,
    )
    from neuro.datasets.prepared import (
        fsdd_inputs,
        nmnist_frames,
        nmnist_inputs,
    )
    from neuro.datasets.public import (
        FSDD,
        MNIST,
        NMNIST,
        SHD,
        SSC,
        PermutedMNIST,
        SpikingFSDD,
    )
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
    from neuro.datasets.representations import (
        ToTimesurface,
        ToVoxelGrid,
    )
    from neuro.datasets.shd import (
        ShdFile,
        write_shd,
    )
    from neuro.datasets.slicing import (
        SliceByEventCount,
        SliceByTime,
        SlicedDataset,
    )
    from neuro.datasets.transforms import (
        CenterCrop,
        ChannelShift,
        Compose,
        CropTime,
        Decimation,
        Denoise,
        Downsample,
        DropEvent,
        HotPixelFilter,
        MergePolarities,
        RandomCrop,
        RandomFlipLR,
        RandomFlipPolarity,
        RandomFlipUD,
        RefractoryPeriod,
        SpatialJitter,
        TimeJitter,
        TimeSkew,
        ToFrame,
        UniformNoise,
        sensor_size_after,
    )
