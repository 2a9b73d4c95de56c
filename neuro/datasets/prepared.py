"""The real datasets as ready-made tensors: what the demo, the experiments and the benchmarks train on.

Each function finds its dataset like the dataset classes do (``root``, else the data directory, see
:func:`neuro.config.data_root`) and raises :class:`~neuro.errors.DatasetNotFoundError` when it is absent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from neuro.datasets.events import to_dense
from neuro.datasets.public import NMNIST, SpikingFSDD
from neuro.datasets.transforms import Downsample
from neuro.errors import DataError

NMNIST_BINS = 30  # 10 ms bins over 300 ms
AUDIO_BINS = 60   # 10 ms bins over 600 ms


def nmnist_frames(root=None, n_bins: int = 10, duration_us: int = 300_000, train: bool = True,
                  files: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Event counts ``[N, n_bins, 2, 34, 34]`` over the first ``duration_us`` of N-MNIST recordings, and labels.

    ``files`` picks the recordings, in that order, by their ``<digit>/<file>.bin`` name (:attr:`NMNIST.names`,
    how checkpoints record a data split); default: every recording.  A missing one is a DataError.
    """
    ds = NMNIST(root, train=train)
    if files is None:
        idx = list(range(len(ds)))
    else:
        where = {name: i for i, name in enumerate(ds.names)}
        missing = [f for f in files if f not in where]
        if missing:
            raise DataError(f"{len(missing)} of {len(files)} N-MNIST recordings are missing under {ds.folder} "
                            f"(e.g. {missing[0]}); point the data folder at the copy the model was trained with")
        idx = [where[f] for f in files]
    frames = np.zeros((len(idx), n_bins, 2, 34, 34), np.float32)
    for k, i in enumerate(idx):
        frames[k] = to_dense(ds[i][0], NMNIST.sensor_size, n_bins, t0=0, duration=duration_us)
    return torch.from_numpy(frames), torch.tensor([ds.targets[i] for i in idx], dtype=torch.long)


def nmnist_inputs(root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """N-MNIST recordings as binary spike frames ``[T, N, 578]`` (2 polarities x 17 x 17) and labels."""
    ds = NMNIST(root)
    down = Downsample(spatial_factor=2)
    frames = [to_dense(down(ds[i][0]), (17, 17, 2), NMNIST_BINS, t0=0, duration=300_000) for i in range(len(ds))]
    x = torch.from_numpy((np.stack(frames) > 0).astype(np.float32)).flatten(2).transpose(0, 1)
    return x.contiguous(), torch.tensor(ds.targets)


def fsdd_inputs(root=None, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Spiking FSDD as binary frames ``[T, N, 140]`` (700 channels summed by 5, 10 ms bins), labels, speakers.

    Recordings not yet encoded are encoded first, with a progress bar when ``progress``."""
    ds = SpikingFSDD(root)
    ds.encode_all(progress)
    down = Downsample(channel_factor=5)
    frames = [to_dense(down(ds.events(i)), (140, 1, 1), AUDIO_BINS, t0=0, duration=AUDIO_BINS * 10_000)
              for i in range(len(ds))]
    x = torch.from_numpy((np.stack(frames) > 0).astype(np.float32)).transpose(0, 1)
    return x.contiguous(), torch.tensor(ds.targets), ds.speakers
