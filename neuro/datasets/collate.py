"""Batching variable-length sequences into time-major tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def pad_time_major(batch: Sequence[tuple[Any, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Collate ``(x [T_i, ...], label)`` items into ``x [T_max, B, ...]`` (zero-padded), labels ``[B]`` and
    lengths ``[B]``.  Use :func:`length_mask` for the ``[T_max, B]`` validity mask."""
    xs = [torch.as_tensor(np.asarray(b[0]) if not isinstance(b[0], torch.Tensor) else b[0]) for b in batch]
    lengths = torch.tensor([x.shape[0] for x in xs])
    T = int(lengths.max())
    out = xs[0].new_zeros((T, len(xs), *xs[0].shape[1:]), dtype=torch.float32)
    for k, x in enumerate(xs):
        out[: x.shape[0], k] = x
    return out, torch.tensor([int(b[1]) for b in batch]), lengths


def length_mask(lengths: torch.Tensor, T: int | None = None) -> torch.Tensor:
    """``[T, B]`` boolean mask, true where ``t < length``."""
    T = int(lengths.max()) if T is None else T
    return torch.arange(T)[:, None] < lengths[None, :]
