"""The continual-learning loop: tasks in order, one strategy, every task evaluated after each.

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

The tasks, the accuracy matrix and ACC / BWT are in :mod:`~neuro.learning.continual.tasks`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neuro.errors import ConfigError
from neuro.learning.continual.strategies import FineTune, Strategy
from neuro.learning.continual.tasks import ContinualConfig, ContinualResult, Task, check_tasks


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
