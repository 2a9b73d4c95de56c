"""Event data: readers for real formats, transforms, public datasets, audio to spikes.

Events are numpy structured arrays (``x, y, t, p`` for cameras; ``t, x, p`` for audio channels;
``t`` in microseconds).  See :mod:`neuro.datasets.readers`, :mod:`~neuro.datasets.transforms`,
:mod:`~neuro.datasets.public` (which also finds each dataset's files), :mod:`~neuro.datasets.prepared`
(the real datasets as ready tensors) and :mod:`~neuro.datasets.audio`.
"""

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

__all__ = [
    "AUDIO_DTYPE", "CAMERA_DTYPE", "FSDD", "MNIST", "NMNIST", "SHD", "SSC", "CachedDataset", "ChannelShift",
    "CochleaEncoder", "Compose", "CropTime", "Denoise", "Downsample", "DropEvent", "EventStream",
    "PermutedMNIST", "ShdFile", "SpatialJitter", "SpikingFSDD", "TimeJitter", "ToFrame", "detect_format",
    "length_mask", "make_events", "pad_time_major", "read_aedat4", "read_events", "read_idx", "read_nmnist",
    "read_prophesee_dat", "read_prophesee_raw", "read_wav", "to_dense", "to_sparse", "write_nmnist", "write_shd",
    "fsdd_inputs", "nmnist_frames", "nmnist_inputs",
]
