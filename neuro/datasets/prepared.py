"""The real datasets as ready-made tensors: what the demo, the experiments and the benchmarks train on.

Each function finds its dataset like the dataset classes do (``root``, else the data directory, see
:func:`neuro.config.data_root`) and raises :class:`~neuro.errors.DatasetNotFoundError` when it is absent.
"""

from __future__ import annotations

import numpy as np
import torch

from neuro.datasets.events import to_dense
from neuro.datasets.public import NMNIST, SpikingFSDD
from neuro.datasets.transforms import Downsample

NMNIST_BINS = 30  # 10 ms bins over 300 ms
AUDIO_BINS = 60   # 10 ms bins over 600 ms


def nmnist_frames(root=None, n_bins: int = 10, duration_us: int = 300_000, train: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Event counts ``[N, n_bins, 2, 34, 34]`` over the first ``duration_us`` of every N-MNIST recording, and labels."""
    ds = NMNIST(root, train=train)
    frames = [to_dense(ds[i][0], NMNIST.sensor_size, n_bins, t0=0, duration=duration_us) for i in range(len(ds))]
    return torch.from_numpy(np.stack(frames)), torch.tensor(ds.targets)


def nmnist_inputs(root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """N-MNIST recordings as binary spike frames ``[T, N, 578]`` (2 polarities x 17 x 17) and labels."""
    ds = NMNIST(root)
    down = Downsample(spatial_factor=2)
    frames = [to_dense(down(ds[i][0]), (17, 17, 2), NMNIST_BINS, t0=0, duration=300_000) for i in range(len(ds))]
    x = torch.from_numpy((np.stack(frames) > 0).astype(np.float32)).flatten(2).transpose(0, 1)
    return x.contiguous(), torch.tensor(ds.targets)


def fsdd_inputs(root=None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Spiking FSDD as binary frames ``[T, N, 140]`` (700 channels summed by 5, 10 ms bins), labels, speakers."""
    ds = SpikingFSDD(root)
    down = Downsample(channel_factor=5)
    frames = [to_dense(down(ds.events(i)), (140, 1, 1), AUDIO_BINS, t0=0, duration=AUDIO_BINS * 10_000)
              for i in range(len(ds))]
    x = torch.from_numpy((np.stack(frames) > 0).astype(np.float32)).transpose(0, 1)
    return x.contiguous(), torch.tensor(ds.targets), ds.speakers
