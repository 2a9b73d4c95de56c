"""Batching variable-length sequences into time-major tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from neuro.errors import DataError


def as_sample_tensor(x: Any, k: int = 0) -> torch.Tensor:
    """One sample ``[T, ...]`` as a tensor: numpy arrays (tonic's int16 frames included) and tensors;
    integer or boolean data become float32.  Raw event arrays get a clear error: they need a
    transform to frames first (``neuro.datasets.ToFrame`` or tonic's)."""
    if isinstance(x, np.ndarray) and x.dtype.names is not None:
        raise DataError(f"batch item {k} holds raw events (fields {', '.join(x.dtype.names)}), which do not batch; "
                        "give the dataset a transform to frames, e.g. transform=ToFrame(sensor_size, time_window=...)")
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim == 0:
        raise DataError(f"batch item {k} is a scalar; samples must be sequences [T, ...]")
    return t if t.is_floating_point() else t.float()


def as_label(y: Any, k: int = 0) -> int:
    """A class label as an int (numpy and torch scalars included); anything else is a clear error."""
    try:
        if isinstance(y, str | bytes):  # a class name, not a class number
            raise TypeError
        return int(y)
    except (TypeError, ValueError):
        raise DataError(f"batch item {k} has the label {y!r}, not a class number; map labels to ints "
                        "(tonic: target_transform=lambda y: classes.index(y))") from None


def pad_time_major(batch: Sequence[tuple[Any, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Collate ``(x [T_i, ...], label)`` items into ``x [T_max, B, ...]`` (zero-padded), labels ``[B]`` and
    lengths ``[B]``.  Use :func:`length_mask` for the ``[T_max, B]`` validity mask.  Items may come
    from tonic datasets and transforms (numpy frames of any numeric dtype)."""
    xs = [as_sample_tensor(b[0], k) for k, b in enumerate(batch)]
    lengths = torch.tensor([x.shape[0] for x in xs])
    T = int(lengths.max())
    out = xs[0].new_zeros((T, len(xs), *xs[0].shape[1:]), dtype=torch.float32)
    for k, x in enumerate(xs):
        if x.shape[1:] != xs[0].shape[1:]:
            raise DataError(f"batch item {k} has frames of shape {tuple(x.shape[1:])}, item 0 "
                            f"{tuple(xs[0].shape[1:])}; all samples need the same sensor size")
        out[: x.shape[0], k] = x
    return out, torch.tensor([as_label(b[1], k) for k, b in enumerate(batch)]), lengths


def length_mask(lengths: torch.Tensor, T: int | None = None) -> torch.Tensor:
    """``[T, B]`` mask, true where ``t < length``."""
    T = int(lengths.max()) if T is None else T
    return torch.arange(T)[:, None] < lengths[None, :]
