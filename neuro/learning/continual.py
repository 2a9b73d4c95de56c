"""Continual learning: a sequence of tasks, the accuracy matrix, ACC / BWT, and the strategies.

Strategies share one training loop so that their numbers are comparable:

* :class:`FineTune`: plain sequential training (the forgetting baseline),
* :class:`EWC`: elastic weight consolidation (online form: summed diagonal Fisher, latest anchor),
* :class:`GPM`: gradient projection memory (SVD of layer inputs after each task, energy threshold),
* :class:`HLOPStrategy`: Hebbian subspace neurons learned during each task, projection afterwards,
* :func:`run_multitask`: joint training on all tasks at once (the upper bound).

A model is an ``nn.Module`` called as ``model(x, head)`` returning logits ``[B, classes]``
(``head`` is the task's output head, ``None`` for a shared head) and exposing
``protected_layers()`` (the layers whose updates are projected).  Models that also provide
``online_backward(x, y, head, project=..., observe=...)`` can be trained online
(``ContinualConfig(training="online")``): they compute weight gradients from presynaptic traces.

``A[i, j]`` is the test accuracy on task ``j`` after training task ``i``;
``ACC = mean_j A[-1, j]`` and ``BWT = mean_{j < n-1} (A[-1, j] - A[j, j])`` (GEM / GPM / HLOP).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neuro.errors import ConfigError, ShapeError
from neuro.learning.hlop import HLOP, GradientProjection, input_dim, layer_trace, project_out


# ----------------------------------------------------------------------------- tasks and metrics
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


# ----------------------------------------------------------------------------- strategies
class Strategy:
    """Hooks into the training loop; the base class is plain fine-tuning."""

    name = "finetune"

    def setup(self, model: nn.Module, tasks: Sequence[Task], config: ContinualConfig) -> None:
        self.model, self.config = model, config

    def before_task(self, t: int, task: Task) -> None: ...

    def penalty(self) -> torch.Tensor | None:
        return None

    def after_batch(self) -> None: ...

    def after_task(self, t: int, task: Task) -> None: ...

    # online training: how the presynaptic traces are projected and observed
    project_trace = None
    observe = None

    def close(self) -> None: ...


class FineTune(Strategy):
    """Sequential training with nothing to protect old tasks."""


class EWC(Strategy):
    """Elastic weight consolidation: ``lam/2 * sum F (theta - theta*)^2`` with the summed Fisher.

    ``lam * F`` is capped at ``1 / lr`` per weight so that SGD on the penalty stays stable.

    The diagonal Fisher is the mean squared per-sample gradient of the log-likelihood of the
    predicted class over ``samples`` training examples of each finished task.
    """

    name = "ewc"

    def __init__(self, lam: float = 1000.0, samples: int = 200) -> None:
        if lam < 0 or samples < 1:
            raise ConfigError("EWC needs lam >= 0 and samples >= 1")
        self.lam, self.samples = float(lam), int(samples)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def penalty(self) -> torch.Tensor | None:
        if not self.fisher:
            return None
        total = 0.0
        cap = 1.0 / self.config.lr
        for n, p in self.model.named_parameters():
            if n in self.fisher:
                # lam * F is capped at 1 / lr: one SGD step then pulls a weight at most back to its
                # anchor; beyond lr * lam * F = 2 plain gradient descent on the penalty diverges
                coef = (self.lam * self.fisher[n]).clamp(max=cap)
                total = total + (coef * (p - self.anchor[n]) ** 2).sum()
        return 0.5 * total

    def after_task(self, t: int, task: Task) -> None:
        model = self.model
        params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        fisher = {n: torch.zeros_like(p) for n, p in params.items()}
        g = torch.Generator().manual_seed(self.config.seed + 7919 * t)
        idx = torch.randperm(len(task.x_train), generator=g)[: self.samples]
        was = model.training
        model.eval()
        for i in idx.tolist():
            model.zero_grad()
            logits = model(task.x_train[i : i + 1], task.head)
            logp = F.log_softmax(logits, -1)
            logp[0, logp[0].argmax()].backward()
            for n, p in params.items():
                if p.grad is not None:
                    fisher[n] += p.grad.detach() ** 2 / len(idx)
        model.zero_grad()
        model.train(was)
        for n, f in fisher.items():
            self.fisher[n] = self.fisher.get(n, torch.zeros_like(f)) + f
            self.anchor[n] = params[n].detach().clone()


class GPM(Strategy):
    """Gradient projection memory (Saha et al., ICLR 2021) on the same layers HLOP protects.

    After each task, the inputs of every protected layer on ``samples`` training examples
    (time-averaged traces; conv patches) form ``R``; the top left singular vectors of what the
    memory does not yet explain are added until a fraction ``threshold`` of ``R``'s energy is
    covered.  Later gradients are projected off the memory.
    """

    name = "gpm"

    def __init__(self, threshold: float | Sequence[float] = (0.95, 0.99, 0.99), samples: int = 300,
                 increment: float = 0.0, max_rows: int = 4096) -> None:
        self.threshold, self.samples, self.increment, self.max_rows = threshold, int(samples), increment, max_rows

    def setup(self, model: nn.Module, tasks: Sequence[Task], config: ContinualConfig) -> None:
        super().setup(model, tasks, config)
        self.layers = list(model.protected_layers())
        th = self.threshold
        self.thresholds = [float(th)] * len(self.layers) if isinstance(th, int | float) else list(th)
        if len(self.thresholds) != len(self.layers):
            raise ConfigError(f"GPM got {len(self.thresholds)} thresholds for {len(self.layers)} layers")
        self.memory = [torch.zeros(0, input_dim(lay)) for lay in self.layers]
        self.projection = GradientProjection(self.layers, lambda: self.memory)

    def _representations(self, t: int, task: Task) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(self.config.seed + 104729 * (t + 1))
        idx = torch.randperm(len(task.x_train), generator=g)[: self.samples]
        reps: list[list[torch.Tensor]] = [[] for _ in self.layers]

        def capture(i):
            def hook(module, inputs):
                reps[i].append(layer_trace(module, inputs[0].detach()))
            return hook

        handles = [lay.register_forward_pre_hook(capture(i)) for i, lay in enumerate(self.layers)]
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for s in range(0, len(idx), 100):
                    self.model(task.x_train[idx[s : s + 100]], task.head)
        finally:
            for h in handles:
                h.remove()
            self.model.train(was)
        out = []
        for r in reps:
            rows = torch.cat(r)
            if rows.shape[0] > self.max_rows:
                rows = rows[torch.randperm(rows.shape[0], generator=g)[: self.max_rows]]
            out.append(rows.double())
        return out

    def after_task(self, t: int, task: Task) -> None:
        for i, rows in enumerate(self._representations(t, task)):
            th = min(self.thresholds[i] + self.increment * t, 1.0)
            mem = self.memory[i].double()
            total = float((rows**2).sum())
            resid = project_out(rows, mem)
            _, s, vh = torch.linalg.svd(resid, full_matrices=False)
            explained = total - float((resid**2).sum())
            energy = explained + torch.cumsum(s**2, 0)
            r = int((energy / max(total, 1e-30) < th).sum()) + 1 if explained / max(total, 1e-30) < th else 0
            r = min(r, vh.shape[0], input_dim(self.layers[i]) - mem.shape[0])
            self.memory[i] = torch.cat([mem, vh[:r]]).to(self.layers[i].weight.dtype)

    def close(self) -> None:
        self.projection.remove()

    def sizes(self) -> list[int]:
        return [m.shape[0] for m in self.memory]


class HLOPStrategy(Strategy):
    """HLOP: subspace neurons learn (Oja) during each task; later tasks train orthogonally to them.

    ``neurons`` is the number of new subspace neurons per layer for each task: a list of per-layer
    lists (one per task; the last is reused for further tasks) or a single per-layer list.
    """

    name = "hlop"

    def __init__(self, neurons: Sequence[Sequence[int]] | Sequence[int], lr: float | Sequence[float] = 0.01,
                 iterations: int = 5, max_rows: int | None = 2048, spiking_steps: int | None = None) -> None:
        sched = list(neurons)
        self.schedule = [list(s) for s in sched] if sched and isinstance(sched[0], Sequence) else [list(sched)]
        self.lr, self.iterations, self.max_rows, self.spiking_steps = lr, iterations, max_rows, spiking_steps

    def setup(self, model: nn.Module, tasks: Sequence[Task], config: ContinualConfig) -> None:
        super().setup(model, tasks, config)
        self.hlop = HLOP(model.protected_layers(), lr=self.lr, iterations=self.iterations, max_rows=self.max_rows,
                         project="trace" if config.training == "online" else "grad",
                         spiking_steps=self.spiking_steps, seed=config.seed)
        if config.training == "online":
            self.project_trace = self.hlop.project_trace
            self.observe = self.hlop.observe

    def before_task(self, t: int, task: Task) -> None:
        self.hlop.begin_task(self.schedule[min(t, len(self.schedule) - 1)])

    def after_batch(self) -> None:
        self.hlop.hebbian_step()

    def after_task(self, t: int, task: Task) -> None:
        self.hlop.end_task()

    def close(self) -> None:
        self.hlop.remove()

    def sizes(self) -> list[int]:
        return [s.n_neurons for s in self.hlop.subspaces]


# ----------------------------------------------------------------------------- the loop
@torch.no_grad()
def evaluate(model: nn.Module, task: Task, batch_size: int = 1000) -> float:
    """Test accuracy (percent) of ``model`` on ``task``."""
    was = model.training
    model.eval()
    correct = 0
    for s in range(0, len(task.x_test), batch_size):
        logits = model(task.x_test[s : s + batch_size], task.head)
        correct += int((logits.argmax(-1) == task.y_test[s : s + batch_size]).sum())
    model.train(was)
    return 100.0 * correct / len(task.x_test)


def _train_epochs(model, batches, strategy: Strategy, config: ContinualConfig, opt) -> float:
    """Train over ``batches`` (an iterable of (x, y, head)); returns the mean loss."""
    total, n = 0.0, 0
    for x, y, head in batches:
        opt.zero_grad(set_to_none=True)
        if config.training == "online":
            loss = model.online_backward(x, y, head, project=strategy.project_trace, observe=strategy.observe)
            pen = strategy.penalty()
            if pen is not None:
                pen.backward()
        else:
            loss = F.cross_entropy(model(x, head), y)
            pen = strategy.penalty()
            (loss if pen is None else loss + pen).backward()
            loss = float(loss.detach())
        opt.step()
        strategy.after_batch()
        total, n = total + loss, n + 1
    return total / max(n, 1)


def _task_batches(task: Task, config: ContinualConfig, g: torch.Generator):
    perm = torch.randperm(len(task.x_train), generator=g)
    for s in range(0, len(perm), config.batch_size):
        i = perm[s : s + config.batch_size]
        yield task.x_train[i], task.y_train[i], task.head


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def run_continual(model: nn.Module, tasks: Sequence[Task], strategy: Strategy,
                  config: ContinualConfig) -> ContinualResult:
    """Train ``model`` on ``tasks`` in order with ``strategy``; evaluate every task after each."""
    check_tasks(tasks)
    if config.training == "online" and not hasattr(model, "online_backward"):
        raise ConfigError(f"{type(model).__name__} has no online_backward(); use training='bptt'")
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    strategy.setup(model, tasks, config)
    n = len(tasks)
    matrix = np.zeros((n, n))
    losses = []
    t0 = time.perf_counter()
    bar = _progress(n * config.epochs, strategy.name, config.progress)
    try:
        for t, task in enumerate(tasks):
            strategy.before_task(t, task)
            opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
            model.train()
            for _ in range(config.epochs):
                losses.append(_train_epochs(model, _task_batches(task, config, g), strategy, config, opt))
                bar.update(1)
            strategy.after_task(t, task)
            matrix[t] = [evaluate(model, k, config.eval_batch_size) for k in tasks]
            bar.set_postfix(task=t, acc=f"{matrix[t, t]:.1f}")
    finally:
        bar.close()
        strategy.close()
    extra: dict = {"final_loss": round(losses[-1], 4)}
    if hasattr(strategy, "sizes"):
        extra["subspace_dims"] = strategy.sizes()
    return ContinualResult(strategy.name, matrix, time.perf_counter() - t0, extra)


def run_multitask(model: nn.Module, tasks: Sequence[Task], config: ContinualConfig) -> ContinualResult:
    """Joint training on the union of all tasks (mixed batches), the same number of epochs."""
    check_tasks(tasks)
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    heads = [t.head for t in tasks]
    if any(h is not None for h in heads) and len(set(heads)) > 1:
        raise ConfigError("run_multitask trains a shared head; multi-head tasks need a per-task loop")
    x = torch.cat([t.x_train for t in tasks])
    y = torch.cat([t.y_train for t in tasks])
    joint = Task("all", x, y, tasks[0].x_test, tasks[0].y_test, tasks[0].head)
    strategy = FineTune()
    strategy.setup(model, tasks, config)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    t0 = time.perf_counter()
    model.train()
    bar = _progress(config.epochs, "multitask", config.progress)
    for _ in range(config.epochs):
        _train_epochs(model, _task_batches(joint, config, g), strategy, config, opt)
        bar.update(1)
    bar.close()
    final = np.array([evaluate(model, k, config.eval_batch_size) for k in tasks])
    return ContinualResult("multitask", final, time.perf_counter() - t0)


def run_multitask_heads(model: nn.Module, tasks: Sequence[Task], config: ContinualConfig) -> ContinualResult:
    """Joint training for multi-head tasks: each step sums the losses of one batch per task."""
    check_tasks(tasks)
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    t0 = time.perf_counter()
    model.train()
    for _ in range(config.epochs):
        iters = [list(_task_batches(t, config, g)) for t in tasks]
        for step in range(max(len(b) for b in iters)):
            opt.zero_grad(set_to_none=True)
            loss = 0.0
            for b in iters:
                if step < len(b):
                    xb, yb, h = b[step]
                    loss = loss + F.cross_entropy(model(xb, h), yb)
            loss.backward()
            opt.step()
    final = np.array([evaluate(model, k, config.eval_batch_size) for k in tasks])
    return ContinualResult("multitask", final, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- plot
def plot_accuracy_matrix(results: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """Save one heat map per method of ``A[i, j]`` (rows: after task i; columns: task j) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mats = {k: np.asarray(v) for k, v in results.items() if np.asarray(v).ndim == 2}
    if not mats:
        raise ConfigError("plot_accuracy_matrix needs at least one square accuracy matrix")
    fig, axes = plt.subplots(1, len(mats), figsize=(3.6 * len(mats), 3.6), squeeze=False)
    for ax, (name, a) in zip(axes[0], mats.items(), strict=True):
        n = a.shape[0]
        im = ax.imshow(np.where(np.tril(np.ones_like(a)) > 0, a, np.nan), vmin=0, vmax=100, cmap="viridis")
        acc, bwt = acc_bwt(a)
        ax.set_title(f"{name}\nACC {acc:.1f}  BWT {bwt:+.1f}", fontsize=9)
        ax.set_xlabel("evaluated task")
        ax.set_ylabel("after training task")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        if n <= 10:
            for i in range(n):
                for j in range(i + 1):
                    ax.text(j, i, f"{a[i, j]:.0f}", ha="center", va="center", fontsize=6, color="k")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="test accuracy (%)")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


STRATEGIES = {"finetune": FineTune, "ewc": EWC, "gpm": GPM, "hlop": HLOPStrategy}
