"""HLOP experiments: permuted MNIST (784-800-800-10 spiking MLP) and split N-MNIST (spiking CNN).

Both compare HLOP with fine-tuning, EWC, GPM and multitask training through
:mod:`neuro.learning.continual`, on real images / recordings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from neuro.datasets import MNIST, NMNIST, PermutedMNIST, ToFrame
from neuro.errors import ConfigError, DatasetNotFoundError
from neuro.learning.continual import (
    EWC,
    GPM,
    ContinualConfig,
    FineTune,
    HLOPStrategy,
    Task,
    plot_accuracy_matrix,
    run_continual,
    run_multitask,
    run_multitask_heads,
)
from neuro.models.hlop_nets import SpikingConvNet, SpikingMLP

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


# ----------------------------------------------------------------------------- tasks
def load_mnist(root=None) -> tuple[Any, Any, bool]:
    """(train, test, full): the official training set when present, else the test set only."""
    test = MNIST(root, train=False)
    try:
        return MNIST(root, train=True), test, True
    except DatasetNotFoundError:
        return None, test, False


def pmnist_tasks(n_tasks: int = 10, root=None, n_train: int | None = None, n_test: int | None = None,
                 test_fraction: float = 0.2, seed: int = 0) -> tuple[list[Task], dict]:
    """Permuted-MNIST tasks on real images (normalised, flat ``[784]``).

    With the full MNIST (train + test IDX files) each task uses the official split; with only
    the 10,000 test images each task draws its own fixed train / test split (``test_fraction``)
    from them.  Task ``i`` permutes the pixels with :class:`neuro.datasets.PermutedMNIST`
    (task 0 keeps the original order).  ``n_train`` / ``n_test`` subsample (for quick runs).
    """
    if n_tasks < 1:
        raise ConfigError(f"n_tasks must be >= 1, got {n_tasks}")
    train, test, full = load_mnist(root)
    tasks = []
    for i in range(n_tasks):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        pt = PermutedMNIST(test, i, seed=seed)
        xt, yt = (pt.flat - MNIST_MEAN) / MNIST_STD, test.targets
        if full:
            pr = PermutedMNIST(train, i, seed=seed)
            xr, yr = (pr.flat - MNIST_MEAN) / MNIST_STD, train.targets
        else:
            perm = torch.randperm(len(yt), generator=g)
            k = int(round(len(yt) * test_fraction))
            xr, yr, xt, yt = xt[perm[k:]], yt[perm[k:]], xt[perm[:k]], yt[perm[:k]]
        if n_train is not None:
            xr, yr = xr[:n_train], yr[:n_train]
        if n_test is not None:
            xt, yt = xt[:n_test], yt[:n_test]
        tasks.append(Task(f"perm{i}", xr.contiguous(), yr, xt.contiguous(), yt))
    info = {"source": "MNIST train+test" if full else "MNIST test set (10,000 images), per-task split",
            "n_train_per_task": len(tasks[0].y_train), "n_test_per_task": len(tasks[0].y_test)}
    return tasks, info


def split_nmnist_tasks(root=None, T: int = 8, pairs: int = 5, test_fraction: float = 0.25,
                       seed: int = 0) -> tuple[list[Task], dict]:
    """Split N-MNIST: digits in pairs (0/1, 2/3, ...), one 2-way head per task.

    Each recording's first saccade (105 ms) becomes ``T`` binary event frames ``[T, 2, 34, 34]``.
    Reads every recording under ``Train/`` of the N-MNIST folder (or ``nmnist-small/Train/``).
    """
    if not 1 <= pairs <= 5:
        raise ConfigError(f"pairs must be in 1..5, got {pairs}")
    ds = NMNIST(root, train=True, first_saccade=True, transform=ToFrame((34, 34, 2), n_time_bins=T, t0="zero"))
    frames, labels = [], []
    for i in range(len(ds)):
        f, y = ds[i]
        frames.append(torch.from_numpy(np.asarray(f[:T], dtype=np.float32) > 0))
        labels.append(y)
    x = torch.stack(frames).float()
    if x.shape[1] != T:
        x = F.pad(x, (0, 0, 0, 0, 0, 0, 0, T - x.shape[1]))
    y = torch.tensor(labels)
    tasks = []
    g = torch.Generator().manual_seed(seed)
    for p in range(pairs):
        idx = torch.nonzero((y == 2 * p) | (y == 2 * p + 1)).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = int(round(len(idx) * test_fraction))
        yy = y - 2 * p
        tasks.append(Task(f"{2 * p}/{2 * p + 1}", x[idx[k:]], yy[idx[k:]], x[idx[:k]], yy[idx[:k]], head=p))
    return tasks, {"source": f"N-MNIST {len(ds)} recordings, first saccade, {T} frames"}


# ----------------------------------------------------------------------------- experiments
# Subspace neurons per task for the three PMNIST layers (input, hidden 1, hidden 2 -> classifier):
# the reference's schedule, 80/200/100 first, then 70 each, 20 fewer every third task.
PMNIST_NEURONS = [[80, 200, 100], [70, 70, 70], [70, 70, 70], [50, 50, 50], [50, 50, 50], [50, 50, 50],
                  [30, 30, 30], [30, 30, 30], [30, 30, 30], [10, 10, 10]]
# Hebbian learning rates (input, hidden, hidden) and Oja iterations per batch: twice the reference's
# (0.001 / 0.01, 5 iterations), because a task here has 8,000 images instead of 60,000 and so
# gives the subspace neurons far fewer updates to converge in.
HEBBIAN_LR = (0.002, 0.02, 0.02)
HEBBIAN_ITERATIONS = 10


def _row(name: str, r) -> dict:
    return {"method": name, **r.summary()}


def run_pmnist(quick: bool = False, root=None, methods: tuple[str, ...] = ("hlop", "finetune", "ewc", "gpm",
               "multitask"), tasks_n: int | None = None, epochs: int | None = None, T: int | None = None,
               hidden: int | None = None, training: str = "bptt", seed: int = 0, out: str | Path | None = None,
               progress: bool = False, ewc_lambda: float = 1000.0, n_train: int | None = None) -> dict:
    """Permuted MNIST: every strategy on the same tasks and network; returns the JSON summary."""
    n_tasks = tasks_n or (3 if quick else 10)
    T = T or (4 if quick else 6)
    hidden = hidden or 800
    epochs = epochs or (2 if quick else 3)
    tasks, info = pmnist_tasks(n_tasks, root, n_train=n_train or (4000 if quick else None),
                               n_test=1000 if quick else None, seed=seed)
    cfg = ContinualConfig(epochs=epochs, batch_size=64, lr=0.1, training=training, seed=seed, progress=progress)
    scale = hidden / 800
    neurons = [[k if j == 0 else max(1, int(round(k * scale))) for j, k in enumerate(row)] for row in PMNIST_NEURONS]

    def model():
        torch.manual_seed(seed)
        return SpikingMLP((784, hidden, hidden, 10), T=T)

    results = {}
    for m in methods:
        if m == "multitask":
            results[m] = run_multitask(model(), tasks, cfg)
            continue
        strat = {"hlop": lambda: HLOPStrategy(neurons, lr=HEBBIAN_LR, iterations=HEBBIAN_ITERATIONS),
                 "finetune": FineTune, "ewc": lambda: EWC(lam=ewc_lambda),
                 "gpm": lambda: GPM((0.95, 0.99, 0.99))}[m]()
        results[m] = run_continual(model(), tasks, strat, cfg)
    return _report("hlop-pmnist", results, info, {"tasks": n_tasks, "epochs_per_task": epochs, "T": T,
                   "network": f"784-{hidden}-{hidden}-10 LIF", "training": training, "batch_size": 64, "lr": 0.1,
                   "hebbian_lr": list(HEBBIAN_LR), "hebbian_iterations": HEBBIAN_ITERATIONS, "ewc_lambda": ewc_lambda,
                   "quick": quick, "seed": seed}, out)


def run_split_nmnist(quick: bool = False, root=None, methods: tuple[str, ...] = ("hlop", "finetune", "ewc", "gpm",
                     "multitask"), epochs: int | None = None, T: int = 8, seed: int = 0,
                     out: str | Path | None = None, progress: bool = False, ewc_lambda: float = 500.0) -> dict:
    """Split N-MNIST (digit pairs, task-incremental with one head per task) on real recordings."""
    tasks, info = split_nmnist_tasks(root, T=T, pairs=3 if quick else 5, seed=seed)
    epochs = epochs or (3 if quick else 6)
    cfg = ContinualConfig(epochs=epochs, batch_size=16, lr=0.05, seed=seed, progress=progress)
    neurons = [[12, 40, 40], [2, 10, 20]]

    def model():
        torch.manual_seed(seed)
        return SpikingConvNet(heads=len(tasks))

    results = {}
    for m in methods:
        if m == "multitask":
            results[m] = run_multitask_heads(model(), tasks, cfg)
            continue
        strat = {"hlop": lambda: HLOPStrategy(neurons, lr=[0.01, 0.01, 0.01], iterations=5),
                 "finetune": FineTune, "ewc": lambda: EWC(lam=ewc_lambda),
                 "gpm": lambda: GPM((0.97, 0.97, 0.97))}[m]()
        results[m] = run_continual(model(), tasks, strat, cfg)
    return _report("hlop-split-nmnist", results, info, {"tasks": len(tasks), "epochs_per_task": epochs, "T": T,
                   "network": "conv16-conv32-fc128 LIF, 2-way head per task", "batch_size": 16, "lr": 0.05,
                   "quick": quick, "seed": seed}, out)


def _report(name: str, results: dict, info: dict, config: dict, out) -> dict:
    main = results.get("hlop") or next(iter(results.values()))
    summary: dict[str, Any] = {"experiment": name, "ACC": round(main.acc, 2),
                               "BWT": None if main.bwt is None else round(main.bwt, 2),
                               "baselines": {k: {"ACC": round(r.acc, 2),
                                                 "BWT": None if r.bwt is None else round(r.bwt, 2)}
                                             for k, r in results.items() if k != "hlop"},
                               "data": info, "config": config,
                               "methods": {k: r.summary() for k, r in results.items()}}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        summary["plot"] = str(plot_accuracy_matrix({k: r.matrix for k, r in results.items()},
                                                   out / f"{name}-accuracy.png", name))
        (out / f"{name}.json").write_text(json.dumps(summary, indent=1))
    summary["date"] = time.strftime("%Y-%m-%d")
    return summary
