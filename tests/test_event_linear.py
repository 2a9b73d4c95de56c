"""The event-driven CPU path of SeqLinear: outputs and gradients equal the dense product, and the rule that picks it."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from neuro.kernels import event_linear_cpu as ev
from neuro.layers import SeqLinear


def _spikes(shape: tuple[int, ...], density: float, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < density).to(dtype)


def _path(y: torch.Tensor) -> str:
    """The autograd node that made ``y``, under the reshape back to ``[T, B, out]``."""
    fn = y.grad_fn
    while type(fn).__name__.startswith(("View", "Reshape", "Unsafe")):
        fn = fn.next_functions[0][0]
    return type(fn).__name__


def _grads(layer: SeqLinear, x: torch.Tensor, gy: torch.Tensor) -> tuple[torch.Tensor, ...]:
    layer.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_(x.requires_grad)
    y = layer(x)
    y.backward(gy)
    gx = x.grad if x.requires_grad else None
    return y, layer.weight.grad, layer.bias.grad, gx, _path(y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("input_grad", [False, True])
def test_forward_and_gradients_equal_dense_at_random_sparsity(dtype, input_grad):
    g = torch.Generator().manual_seed(1)
    tol = {"atol": 1e-4, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-10}
    for trial in range(4):
        n_in, n_out = (int(v) for v in torch.randint(1, 200, (2,), generator=g))  # partial column blocks too
        density = float(torch.rand((), generator=g)) * 0.5
        x = _spikes((7, 3, n_in), density, trial, dtype).requires_grad_(input_grad)
        ev_layer = SeqLinear(n_in, n_out, event_driven=True).to(dtype)
        dense = SeqLinear(n_in, n_out, event_driven=False).to(dtype)
        dense.load_state_dict(ev_layer.state_dict())
        gy = torch.randn(7, 3, n_out, generator=g, dtype=dtype)
        y, gw, gb, gx, fn = _grads(ev_layer, x, gy)
        y0, gw0, gb0, gx0, fn0 = _grads(dense, x, gy)
        assert fn == "EventLinearBackward" and fn0 != fn
        torch.testing.assert_close(y, y0, **tol)
        torch.testing.assert_close(gw, gw0, **tol)
        torch.testing.assert_close(gb, gb0, **tol)
        if input_grad:
            torch.testing.assert_close(gx, gx0, **tol)
        else:
            assert gx is None


def test_chunked_sources_equal_dense(monkeypatch):
    """Source rows beyond one L2 block are cut into chunks that add up (forward over inputs, backward over steps)."""
    monkeypatch.setattr(ev, "L2_BLOCK_BYTES", 64 * 4 * 64)  # 64 source rows per chunk
    assert ev.chunk_rows(4) == 64
    x = _spikes((50, 4, 300), 0.2, 3)  # 300 inputs: 5 chunks forward; 200 steps x batch: 4 chunks backward
    layer = SeqLinear(300, 130, event_driven=True)
    w = layer.weight.detach().clone().requires_grad_()
    b = layer.bias.detach().clone().requires_grad_()
    gy = torch.randn(50, 4, 130)
    y, gw, gb, _, fn = _grads(layer, x, gy)
    y0 = F.linear(x, w, b)
    y0.backward(gy)
    assert fn == "EventLinearBackward"
    torch.testing.assert_close(y, y0, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(gw, w.grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(gb, b.grad)


def test_all_zero_input_gives_the_bias_and_zero_weight_gradient():
    layer = SeqLinear(70, 65, event_driven=True)
    x = torch.zeros(4, 2, 70)
    y, gw, gb, _, fn = _grads(layer, x, torch.ones(4, 2, 65))
    assert fn == "EventLinearBackward"
    torch.testing.assert_close(y, layer.bias.detach().expand(4, 2, 65))
    assert torch.count_nonzero(gw) == 0 and torch.equal(gb, torch.full((65,), 8.0))


def test_spike_rows_reads_bits_of_every_float_dtype():
    x = torch.tensor([[0.0, 1.0, -0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    for dt in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        indptr, indices = ev.spike_rows(x.to(dt), 1.0)
        assert indptr.tolist() == [0, 2, 3] and indices.tolist() == [1, 3, 0]
    for bad in (0.5, 2.0, -1.0, float("nan"), float("inf")):
        y = x.clone()
        y[1, 2] = bad
        assert ev.spike_rows(y, 1.0) is None, bad
    assert ev.spike_rows(x, 0.3) is None  # 3 of 8 are ones: above the density limit


def test_non_binary_or_dense_input_runs_the_dense_product():
    forced = SeqLinear(128, 96, event_driven=True)
    analog = _spikes((5, 2, 128), 0.05, 0)
    analog[2, 1, 7] = 0.5  # one non-binary value anywhere
    y = forced(analog)
    assert _path(y) != "EventLinearBackward"
    assert torch.equal(y, F.linear(analog, forced.weight, forced.bias))
    auto = SeqLinear(128, 96)
    assert _path(auto(_spikes((700, 8, 128), 0.05, 0))) == "EventLinearBackward"
    assert _path(auto(_spikes((700, 8, 128), 0.2, 0))) != "EventLinearBackward"  # above max_event_density


def test_rule_picks_events_for_sparse_spikes_on_large_enough_float_layers():
    sparse = _spikes((700, 8, 128), 0.05, 0)  # 5600 x 128 x 96 multiply-adds: above min_event_macs
    assert _path(SeqLinear(128, 96)(sparse)) == "EventLinearBackward"
    assert _path(SeqLinear(128, 96)(sparse[:10])) != "EventLinearBackward"  # too little work: dense
    assert _path(SeqLinear(128, 96, event_driven=False)(sparse)) != "EventLinearBackward"
    assert _path(SeqLinear(128, 32)(sparse)) != "EventLinearBackward"  # small: dense
    half = SeqLinear(128, 96).to(torch.bfloat16)
    assert _path(half(sparse.bfloat16())) != "EventLinearBackward"  # bf16 GEMMs win by default
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert _path(SeqLinear(128, 96)(sparse)) != "EventLinearBackward"


def test_forced_half_precision_adds_in_float32():
    x = _spikes((6, 2, 100), 0.1, 4, torch.bfloat16)
    layer = SeqLinear(100, 80, event_driven=True).to(torch.bfloat16)
    y = layer(x)
    assert y.dtype == torch.bfloat16 and _path(y) == "EventLinearBackward"
    exact = F.linear(x.float(), layer.weight.float(), layer.bias.float())
    torch.testing.assert_close(y.float(), exact, atol=0.0, rtol=2**-8)  # one bf16 rounding of the fp32 sum
    y.float().sum().backward()
    assert layer.weight.grad.dtype == torch.bfloat16
    torch.testing.assert_close(layer.weight.grad.float(), x.float().reshape(-1, 100).sum(0).expand(80, 100))


def test_no_grad_and_inference_mode_work():
    layer = SeqLinear(96, 64, event_driven=True)
    x = _spikes((3, 2, 96), 0.1, 5)
    with torch.inference_mode():
        y = layer(x)
    torch.testing.assert_close(y, F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)
