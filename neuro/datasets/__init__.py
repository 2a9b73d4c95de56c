"""Event data: readers for real formats, transforms, public datasets, audio to spikes.

Events are numpy structured arrays (``x, y, t, p`` for cameras; ``t, x, p`` for audio channels;
``t`` in microseconds).  See :mod:`neuro.datasets.readers`, :mod:`~neuro.datasets.transforms`,
:mod:`~neuro.datasets.public` (which also finds each dataset's files), :mod:`~neuro.datasets.prepared`
(the real datasets as ready tensors), :mod:`~neuro.datasets.camera` (event-camera datasets),
:mod:`~neuro.datasets.representations` (voxel grids, time surfaces), :mod:`~neuro.datasets.slicing`
and :mod:`~neuro.datasets.audio`.
"""

from neuro.datasets.aedat_legacy import read_aedat2, read_aedat3, write_aedat2, write_aedat3
from neuro.datasets.audio import CochleaEncoder
from neuro.datasets.cache import CachedDataset
from neuro.datasets.camera import ASLDVS, CIFAR10DVS, NCARS, DVSGesture, NCaltech101
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
from neuro.datasets.representations import ToTimesurface, ToVoxelGrid
from neuro.datasets.shd import ShdFile, write_shd
from neuro.datasets.slicing import SliceByEventCount, SliceByTime, SlicedDataset
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

__all__ = [
    "AUDIO_DTYPE", "CAMERA_DTYPE", "FSDD", "MNIST", "NMNIST", "SHD", "SSC", "CachedDataset", "ChannelShift",
    "CochleaEncoder", "Compose", "CropTime", "Denoise", "Downsample", "DropEvent", "EventStream",
    "PermutedMNIST", "ShdFile", "SpatialJitter", "SpikingFSDD", "TimeJitter", "ToFrame", "detect_format",
    "length_mask", "make_events", "pad_time_major", "read_aedat4", "read_events", "read_idx", "read_nmnist",
    "read_prophesee_dat", "read_prophesee_raw", "read_wav", "to_dense", "to_sparse", "write_nmnist", "write_shd",
    "fsdd_inputs", "nmnist_frames", "nmnist_inputs",
    "ASLDVS", "CIFAR10DVS", "NCARS", "CenterCrop", "DVSGesture", "Decimation", "HotPixelFilter", "MergePolarities",
    "NCaltech101", "RandomCrop", "RandomFlipLR", "RandomFlipPolarity", "RandomFlipUD", "RefractoryPeriod",
    "SliceByEventCount", "SliceByTime", "SlicedDataset", "TimeSkew", "ToTimesurface", "ToVoxelGrid",
    "UniformNoise", "read_aedat2", "read_aedat3", "sensor_size_after", "write_aedat2", "write_aedat3",
]
