"""Continual-learning tasks, their accuracy matrix and ACC / BWT, the result of a run, and its settings.

``A[i, j]`` is the test accuracy on task ``j`` after training task ``i``;
``ACC = mean_j A[-1, j]`` and ``BWT = mean_{j < n-1} (A[-1, j] - A[j, j])`` (GEM / GPM / HLOP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from neuro.errors import ConfigError, ShapeError


@dataclass
class Task:
    """One task: training and test tensors (``x [n, ...]``, ``y [n]`` int64) and its output head."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    head: int | None = None


def check_tasks(tasks: Sequence[Task]) -> None:
    """Raise :class:`ShapeError` unless all tasks share one input shape and x / y lengths agree."""
    if not tasks:
        raise ConfigError("a continual-learning run needs at least one task")
    shape = tuple(tasks[0].x_train.shape[1:])
    for t in tasks:
        for split, x, y in (("train", t.x_train, t.y_train), ("test", t.x_test, t.y_test)):
            if tuple(x.shape[1:]) != shape:
                raise ShapeError(
                    f"task {t.name!r} {split} inputs have shape {tuple(x.shape[1:])} but task "
                    f"{tasks[0].name!r} has {shape}; all tasks must share one input shape"
                )
            if len(x) != len(y) or len(x) == 0:
                raise ShapeError(f"task {t.name!r} {split}: {len(x)} inputs but {len(y)} labels (need equal, > 0)")


def acc_bwt(matrix: np.ndarray | Sequence[Sequence[float]]) -> tuple[float, float]:
    """ACC (mean final accuracy) and BWT (mean change of each earlier task since it was learned)."""
    a = np.asarray(matrix, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ShapeError(f"accuracy matrix must be square [tasks, tasks], got shape {a.shape}")
    acc = float(a[-1].mean())
    bwt = float((a[-1] - np.diag(a))[:-1].mean()) if a.shape[0] > 1 else 0.0
    return acc, bwt


@dataclass
class ContinualResult:
    """The outcome of one strategy on a task sequence (accuracies in percent)."""

    method: str
    matrix: np.ndarray
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def acc(self) -> float:
        return acc_bwt(self.matrix)[0] if self.matrix.ndim == 2 else float(self.matrix.mean())

    @property
    def bwt(self) -> float | None:
        return acc_bwt(self.matrix)[1] if self.matrix.ndim == 2 else None

    def summary(self) -> dict:
        out = {"ACC": round(self.acc, 2), "BWT": None if self.bwt is None else round(self.bwt, 2),
               "seconds": round(self.seconds, 1)}
        if self.matrix.ndim == 2:
            out["accuracy_matrix"] = np.round(self.matrix, 2).tolist()
        else:
            out["final_accuracies"] = np.round(self.matrix, 2).tolist()
        return {**out, **self.extra}


@dataclass
class ContinualConfig:
    """Training settings of a continual-learning run, shared by all strategies (SGD; BPTT or online)."""

    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.0
    training: str = "bptt"  # or "online"
    eval_batch_size: int = 1000
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        if self.training not in ("bptt", "online"):
            raise ConfigError(f"training must be 'bptt' or 'online', got {self.training!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("epochs and batch_size must be >= 1 and lr > 0")
