"""Continual-learning loop: ACC / BWT arithmetic, task checks, GPM memory, and HLOP forgetting less than fine-tuning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuro.errors import ConfigError, ShapeError
from neuro.learning.continual import (
    GPM,
    ContinualConfig,
    FineTune,
    HLOPStrategy,
    Task,
    acc_bwt,
    check_tasks,
    plot_accuracy_matrix,
    run_continual,
)
from neuro.models import SpikingMLP


def test_acc_bwt_on_a_known_matrix():
    a = [[90.0, 10.0, 12.0],
         [80.0, 95.0, 11.0],
         [70.0, 85.0, 97.0]]
    acc, bwt = acc_bwt(a)
    assert acc == pytest.approx((70 + 85 + 97) / 3)
    assert bwt == pytest.approx(((70 - 90) + (85 - 95)) / 2)  # the last task does not count
    assert acc_bwt([[55.0]]) == (55.0, 0.0)
    with pytest.raises(ShapeError):
        acc_bwt([[1.0, 2.0]])


def _task(name, n=10, shape=(5,), seed=0):
    g = torch.Generator().manual_seed(seed)
    return Task(name, torch.randn(n, *shape, generator=g), torch.zeros(n, dtype=torch.long),
                torch.randn(n, *shape, generator=g), torch.zeros(n, dtype=torch.long))


def test_mismatched_tasks_are_rejected():
    with pytest.raises(ShapeError, match="share one input shape"):
        check_tasks([_task("a"), _task("b", shape=(6,))])
    bad = _task("c")
    bad.y_test = bad.y_test[:3]
    with pytest.raises(ShapeError, match="labels"):
        check_tasks([bad])
    with pytest.raises(ConfigError):
        check_tasks([])
    with pytest.raises(ConfigError):
        ContinualConfig(training="magic")


def _permuted_tasks(n_tasks=2, d=64, n=1200, classes=10, seed=0):
    """PMNIST in miniature: noisy class prototypes, each task a fixed permutation of the features."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(classes, d, generator=g) * 0.8
    tasks = []
    for t in range(n_tasks):
        perm = torch.randperm(d, generator=g) if t else torch.arange(d)
        y = torch.randint(0, classes, (n,), generator=g)
        x = (protos[y] + torch.randn(n, d, generator=g))[:, perm]
        k = n * 3 // 4
        tasks.append(Task(f"t{t}", x[:k], y[:k], x[k:], y[k:]))
    return tasks


def _mlp():
    torch.manual_seed(0)
    return SpikingMLP((64, 64, 64, 10), T=3)


def test_hlop_forgets_less_than_finetuning(tmp_path):
    tasks = _permuted_tasks()
    cfg = ContinualConfig(epochs=4, batch_size=32, lr=0.2)
    ft = run_continual(_mlp(), tasks, FineTune(), cfg)
    hl = run_continual(_mlp(), tasks, HLOPStrategy([[20, 24, 24], [20, 24, 24]], lr=0.01), cfg)
    # both learn each task when it is trained
    assert ft.matrix[0, 0] > 75 and hl.matrix[0, 0] > 75 and hl.matrix[1, 1] > 75
    # fine-tuning forgets task 0; HLOP keeps most of it
    assert ft.bwt < -12
    assert hl.bwt > ft.bwt + 8
    assert hl.extra["subspace_dims"] == [40, 48, 48]
    png = plot_accuracy_matrix({"finetune": ft.matrix, "hlop": hl.matrix}, tmp_path / "acc.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gpm_memory_is_orthonormal_and_covers_the_threshold():
    tasks = _permuted_tasks(n_tasks=1, n=400)
    gpm = GPM(threshold=0.9, samples=300)  # all 300 training inputs
    run_continual(_mlp(), tasks, gpm, ContinualConfig(epochs=1, batch_size=32, lr=0.1))
    for m in gpm.memory:
        assert 0 < m.shape[0] < m.shape[1]
        assert torch.allclose(m @ m.T, torch.eye(m.shape[0]), atol=1e-4)
    # the input layer's memory explains >= 90 % of the task's input energy, one row fewer does not
    x = tasks[0].x_train.double()
    mem = gpm.memory[0].double()
    energy = lambda b: float(((x @ b.T) ** 2).sum() / (x**2).sum())  # noqa: E731
    assert energy(mem) >= 0.9 - 1e-9
    assert energy(mem[:-1]) < energy(mem)


def test_tasks_with_mismatched_shapes_fail_before_training():
    with pytest.raises(ShapeError):
        run_continual(_mlp(), [_task("a", shape=(64,)), _task("b", shape=(63,))], FineTune(), ContinualConfig())


def test_pmnist_tasks_from_real_mnist(shared_data):
    from neuro.experiments.hlop import pmnist_tasks

    tasks, info = pmnist_tasks(3, shared_data, seed=0)
    if "test set" in info["source"]:
        assert info["n_train_per_task"] == 8000 and info["n_test_per_task"] == 2000
    for t in tasks:
        assert t.x_train.shape[1:] == (784,) and t.y_train.dtype == torch.long
    # the same image content under different permutations: sorted pixel values agree
    a, b = tasks[0], tasks[1]
    assert not torch.equal(a.x_train[0], b.x_train[0])
    assert np.isclose(float(a.x_test.mean()), float(b.x_test.mean()), atol=0.05)
