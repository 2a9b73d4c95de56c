"""Continual-learning strategies: hooks into the one training loop (:mod:`neuro.learning.continual.loop`).

* :class:`FineTune`: plain sequential training (the forgetting baseline),
* :class:`EWC`: elastic weight consolidation (online form: summed diagonal Fisher, latest anchor),
* :class:`GPM`: gradient projection memory (SVD of layer inputs after each task, energy threshold),
* :class:`HLOPStrategy`: Hebbian subspace neurons learned during each task, projection afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neuro.errors import ConfigError
from neuro.learning.continual.tasks import ContinualConfig, Task
from neuro.learning.hlop import HLOP, GradientProjection, input_dim, layer_trace, project_out


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


STRATEGIES = {"finetune": FineTune, "ewc": EWC, "gpm": GPM, "hlop": HLOPStrategy}
