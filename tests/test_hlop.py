"""HLOP: Oja's subspace rule against SVD, projection of linear / conv updates, online traces, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro.errors import ConfigError, ShapeError
from neuro.layers import SeqConv2d, SeqLinear
from neuro.learning.hlop import (
    HLOP,
    Subspace,
    layer_trace,
    project_out,
    project_weight_grad,
    unfold_patches,
)


def _data(n: int = 4000, d: int = 24, spectrum=(9.0, 7.0, 5.0, 4.0, 3.0, 0.3), seed: int = 0):
    """Samples with a known covariance: a few strong directions plus weak isotropic noise."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(d, d, generator=g))[0]
    scales = torch.full((d,), 0.1)
    scales[: len(spectrum)] = torch.tensor(spectrum)
    z = torch.randn(n, d, generator=g) * scales
    return z @ basis.T


def _top_projector(x: torch.Tensor, k: int) -> torch.Tensor:
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return vh[:k].T @ vh[:k]


def _oja(sub: Subspace, x: torch.Tensor, epochs: int = 6, batch: int = 100) -> None:
    for _ in range(epochs):
        for s in range(0, len(x), batch):
            sub.hebbian_update(x[s : s + batch], iterations=1)


def test_oja_rule_converges_to_principal_subspace():
    x = _data()
    sub = Subspace(24, lr=0.005)
    sub.add_neurons(3, torch.Generator().manual_seed(1))
    _oja(sub, x)
    p = sub.weight.T @ sub.weight
    assert torch.linalg.matrix_norm(p - _top_projector(x, 3), 2) < 0.05
    assert sub.orthonormality_error() < 0.02
    # a random 3-d subspace is far from it: the test can tell
    q = torch.linalg.qr(torch.randn(24, 3))[0]
    assert torch.linalg.matrix_norm(q @ q.T - _top_projector(x, 3), 2) > 0.5


def test_new_neurons_learn_the_residual_subspace():
    x = _data()
    sub = Subspace(24, lr=0.005)
    sub.add_neurons(2)
    _oja(sub, x)
    sub.freeze()
    old = sub.weight.clone()
    sub.add_neurons(3)
    _oja(sub, x)
    assert torch.equal(sub.weight[:2], old), "frozen neurons must not learn"
    new = sub.weight[2:]
    assert (new @ old.T).abs().max() < 0.05, "new neurons must be orthogonal to the old ones"
    assert torch.linalg.matrix_norm(sub.weight.T @ sub.weight - _top_projector(x, 5), 2) < 0.06


def test_spiking_subspace_neurons_approximate_the_rule():
    x = _data()
    sub = Subspace(24, lr=0.005, spiking_steps=40, spike_scale=20.0)
    sub.add_neurons(3)
    _oja(sub, x)
    assert torch.linalg.matrix_norm(sub.weight.T @ sub.weight - _top_projector(x, 3), 2) < 0.15


def test_lateral_circuit_removes_the_frozen_subspace():
    sub = Subspace(10, lr=0.01)
    sub.add_neurons(4)
    sub.freeze()
    x = torch.randn(7, 10)
    out = sub.lateral_trace(x)
    # x + x^- with x^- = -H^T (H x) is orthogonal to every frozen row
    assert torch.allclose(out, x + sub.feedback(sub(x)), atol=1e-6)
    assert (out @ sub.weight.T).abs().max() < 1e-5


def test_projected_linear_update_leaves_old_outputs_unchanged():
    torch.manual_seed(0)
    lay = SeqLinear(12, 5, bias=False)
    basis = torch.linalg.qr(torch.randn(12, 4))[0].T
    old_inputs = torch.randn(3, 6, 4) @ basis  # [T, B, 12] inside the protected subspace
    before = lay(old_inputs).detach()
    new = torch.randn(3, 8, 12)
    loss = lay(new).pow(2).sum()
    loss.backward()
    g = project_weight_grad(lay.weight.grad, basis)
    with torch.no_grad():
        lay.weight -= 0.5 * g
    assert torch.allclose(lay(old_inputs), before, atol=1e-5)
    # without projection the same step moves them
    assert (lay.weight.grad @ basis.T).abs().max() > 1e-2


def test_conv_projection_equals_projecting_unfolded_patches():
    torch.manual_seed(0)
    conv = SeqConv2d(3, 4, 3, stride=2, padding=1, bias=False)
    x = torch.rand(2, 5, 3, 9, 9)  # [T, B, C, H, W]
    d = 3 * 3 * 3
    basis = torch.linalg.qr(torch.randn(d, 6))[0].T
    hl = HLOP([conv], lr=0.01)
    hl.subspaces[0].weight = basis.clone()
    hl.subspaces[0].momentum_buffer = torch.zeros_like(basis)
    hl.subspaces[0].freeze()
    out = conv(x)
    delta = torch.randn_like(out)
    (out * delta).sum().backward()
    # the same gradient computed by hand from projected patches at every step
    patches = unfold_patches(x.reshape(10, 3, 9, 9), conv)  # [T*B*L, 27]
    dl = delta.reshape(10, 4, -1).transpose(1, 2).reshape(-1, 4)  # [T*B*L, out]
    manual = (dl.T @ project_out(patches, basis)).reshape(conv.weight.shape)
    assert torch.allclose(conv.weight.grad, manual, atol=1e-4)
    # and the update leaves the response to protected patches unchanged
    assert (conv.weight.grad.reshape(4, -1) @ basis.T).abs().max() < 1e-4
    hl.remove()


def test_hlop_captures_traces_and_learns_during_training():
    torch.manual_seed(0)
    lay = SeqLinear(16, 3, bias=False)
    x = _data(n=512, d=16, spectrum=(5.0, 4.0))
    hl = HLOP([lay], lr=0.01, iterations=5)
    hl.begin_task(2)
    for _ in range(10):
        for s in range(0, 512, 64):
            lay(x[s : s + 64].unsqueeze(0).expand(4, -1, -1)).sum().backward()
            hl.hebbian_step()
    w = hl.subspaces[0].weight
    assert torch.linalg.matrix_norm(w.T @ w - _top_projector(x, 2), 2) < 0.1
    # nothing frozen yet: gradients are not projected during the first task
    lay.weight.grad = None
    lay(x[:8].unsqueeze(0)).sum().backward()
    free = (lay.weight.grad @ w.T).abs().max()
    assert free > 1e-1
    hl.end_task()
    lay.weight.grad = None
    lay(x[:8].unsqueeze(0)).sum().backward()
    # the learned rows are orthonormal up to Oja's residual, so the projection is too
    assert (lay.weight.grad @ w.T).abs().max() < free / 50
    hl.remove()


def test_online_trace_projection_matches_gradient_projection():
    from neuro.models import SpikingMLP

    torch.manual_seed(0)
    model = SpikingMLP((20, 30, 30, 4), T=3)
    for lay in model.protected_layers():
        nn.init.normal_(lay.weight, 0, 2.0 / lay.in_features**0.5)
    x, y = torch.randn(8, 20), torch.randint(0, 4, (8,))
    hl = HLOP(model.protected_layers(), project="trace")
    hl.begin_task([5, 6, 7])
    hl.end_task()
    model.online_backward(x, y)
    plain = [lay.weight.grad.clone() for lay in model.protected_layers()]
    model.zero_grad()
    seen = {}
    model.online_backward(x, y, project=hl.project_trace, observe=lambda i, t: seen.setdefault(i, t))
    for lay, g, b in zip(model.protected_layers(), plain, hl.bases(), strict=True):
        assert g.abs().max() > 0
        assert torch.allclose(lay.weight.grad, project_weight_grad(g, b), atol=1e-5)
    assert sorted(seen) == [0, 1, 2] and seen[0].shape == (8, 20)
    hl.remove()


def test_bad_input_errors():
    sub = Subspace(10)
    sub.add_neurons(8)
    with pytest.raises(ConfigError, match="exceeds the layer's input dimension 10"):
        sub.add_neurons(3)
    with pytest.raises(ShapeError):
        sub(torch.randn(4, 11))
    with pytest.raises(ConfigError):
        HLOP([nn.ReLU()])
    with pytest.raises(ConfigError, match="subspace sizes"):
        HLOP([SeqLinear(5, 2)]).begin_task([1, 2])
    with pytest.raises(ShapeError):
        layer_trace(SeqLinear(5, 2), torch.randn(3, 4, 6))
    with pytest.raises(ShapeError):
        layer_trace(nn.Conv2d(2, 3, 3), torch.randn(4, 3, 8, 8))
