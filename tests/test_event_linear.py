"""The 0/1-input CPU paths of SeqLinear (event-driven gather-sum, exact int8 split): outputs and gradients
equal the dense product (the int8 split at least as close to exact), its accuracy guard, the rule that picks them."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from neuro.errors import ConfigError
from neuro.kernels import event_linear_cpu as ev
from neuro.kernels import int_split_cpu as isp
from neuro.layers import SeqLinear

EVENTS, INT8 = "EventLinearBackward", "IntSplitLinearBackward"


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


@pytest.mark.parametrize("kernel", ["gather", "int8"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("input_grad", [False, True])
def test_forward_and_gradients_equal_dense_at_random_sparsity(dtype, input_grad, kernel):
    g = torch.Generator().manual_seed(1)
    tol = {"atol": 1e-4, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-10}
    for trial in range(4):
        n_in, n_out = (int(v) for v in torch.randint(1, 200, (2,), generator=g))  # partial column blocks too
        density = float(torch.rand((), generator=g)) * 0.5
        x = _spikes((7, 3, n_in), density, trial, dtype).requires_grad_(input_grad)
        ev_layer = SeqLinear(n_in, n_out, event_driven=kernel).to(dtype)
        dense = SeqLinear(n_in, n_out, event_driven=False).to(dtype)
        dense.load_state_dict(ev_layer.state_dict())
        gy = torch.randn(7, 3, n_out, generator=g, dtype=dtype)
        y, gw, gb, gx, fn = _grads(ev_layer, x, gy)
        y0, gw0, gb0, gx0, fn0 = _grads(dense, x, gy)
        assert fn == (INT8 if kernel == "int8" and dtype == torch.float32 else EVENTS)  # never int8 for float64
        assert fn0 not in (EVENTS, INT8)
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
    layer = SeqLinear(300, 130, event_driven="gather")
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


@pytest.mark.parametrize("kernel", ["gather", "int8"])
def test_all_zero_input_gives_the_bias_and_zero_weight_gradient(kernel):
    layer = SeqLinear(70, 65, event_driven=kernel)
    x = torch.zeros(4, 2, 70)
    y, gw, gb, _, fn = _grads(layer, x, torch.ones(4, 2, 65))
    assert fn == {"gather": EVENTS, "int8": INT8}[kernel]
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
    assert _path(y) not in (EVENTS, INT8)
    assert torch.equal(y, F.linear(analog, forced.weight, forced.bias))
    auto = SeqLinear(128, 96)
    assert _path(auto(_spikes((700, 8, 128), 0.05, 0))) == "EventLinearBackward"
    assert _path(auto(_spikes((700, 8, 128), 0.2, 0))) == "AddmmBackward0"  # above max_event_density


def test_rule_picks_the_int8_split_for_large_float32_layers_from_its_density():
    big = SeqLinear(ev.INT8_MIN_FEATURES, ev.INT8_MIN_FEATURES)  # 16 x 2048 x 2048 = min_event_macs
    assert _path(big(_spikes((2, 8, ev.INT8_MIN_FEATURES), 0.3, 0))) == (INT8 if isp.fast_int8() else "AddmmBackward0")
    assert _path(big(_spikes((2, 8, ev.INT8_MIN_FEATURES), 0.05, 0))) == EVENTS  # sparse: the gather-sum
    half = SeqLinear(ev.INT8_MIN_FEATURES, ev.INT8_MIN_FEATURES).half()  # no AMX float16 GEMM on most CPUs
    assert _path(half(_spikes((2, 8, ev.INT8_MIN_FEATURES), 0.3, 0, torch.float16))) == (
        INT8 if isp.fast_int8() else "AddmmBackward0")
    narrow = SeqLinear(ev.INT8_MIN_FEATURES, 1024)
    assert _path(narrow(_spikes((4, 8, ev.INT8_MIN_FEATURES), 0.3, 0))) == "AddmmBackward0"  # int8 no faster there


def test_rule_picks_events_for_sparse_spikes_on_large_enough_float_layers():
    sparse = _spikes((700, 8, 128), 0.05, 0)  # 5600 x 128 x 96 multiply-adds: above min_event_macs
    assert _path(SeqLinear(128, 96)(sparse)) == "EventLinearBackward"
    assert _path(SeqLinear(128, 96)(sparse[:10])) not in (EVENTS, INT8)  # too little work: dense
    assert _path(SeqLinear(128, 96, event_driven=False)(sparse)) not in (EVENTS, INT8)
    assert _path(SeqLinear(128, 32)(sparse)) not in (EVENTS, INT8)  # small: dense
    half = SeqLinear(128, 96).to(torch.bfloat16)
    assert _path(half(sparse.bfloat16())) not in (EVENTS, INT8)  # bf16 GEMMs win by default
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert _path(SeqLinear(128, 96)(sparse)) not in (EVENTS, INT8)


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


@pytest.mark.parametrize("kernel", ["gather", "int8"])
def test_no_grad_and_inference_mode_work(kernel):
    layer = SeqLinear(96, 64, event_driven=kernel)
    x = _spikes((3, 2, 96), 0.1, 5)
    with torch.inference_mode():
        y = layer(x)
    torch.testing.assert_close(y, F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)


def _truth(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, gy: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """y, gW, gb, gx in float64 from the same (float32) values."""
    x, w, b, gy = (t.double() for t in (x, w, b, gy))
    return x @ w.T + b, gy.T @ x, gy.sum(0), gy @ w


def _int8_and_dense(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, gy: torch.Tensor):
    """(y, gW, gb, gx) of the forced int8 split and of the dense float32 product, and the int8 path's node."""
    out = []
    for mode in ("int8", False):
        layer = SeqLinear(w.shape[1], w.shape[0], event_driven=mode)
        with torch.no_grad():
            layer.weight.copy_(w)
            layer.bias.copy_(b)
        y, gw, gb, gx, fn = _grads(layer, x[:, None].requires_grad_(), gy[:, None])
        out.append(((y[:, 0], gw, gb, gx[:, 0]), fn))
    return out


@pytest.mark.parametrize("shape", [(1, 5, 3), (37, 13, 9), (300, 130, 67), (64, 200, 16)])
def test_int8_split_is_at_least_as_close_to_exact_as_dense_float32(shape):
    """Outputs and every gradient against float64 truth, including R = 1, empty input rows, zero weight rows."""
    R, n_in, n_out = shape
    g = torch.Generator().manual_seed(R)
    x = _spikes((R, n_in), 0.2, R)
    x[R // 2] = 0  # an empty row
    w = torch.randn(n_out, n_in, generator=g) * torch.rand(n_out, 1, generator=g) * 10  # rows of different scales
    w[n_out // 2] = 0  # a zero weight row
    b, gy = torch.randn(n_out, generator=g), torch.randn(R, n_out, generator=g)
    before = isp.counts.copy()
    ((got, fn), (dense, _)) = _int8_and_dense(x, w, b, gy)
    assert fn == INT8
    assert isp.counts["forward_rows"] - before["forward_rows"] == n_out  # no row fell back
    assert isp.counts["weight_grad_rows"] - before["weight_grad_rows"] == n_out
    for name, a, d, t in zip(("y", "gW", "gb", "gx"), got, dense, _truth(x, w, b, gy), strict=True):
        err, err_dense = (a.double() - t).abs().max(), (d.double() - t).abs().max()
        assert err <= 2 * err_dense + 2.0**-40 * t.abs().max(), (name, float(err), float(err_dense))


def test_int8_split_is_exact_for_values_on_its_grid():
    """Weights and gradients with at most 20 significant bits are represented exactly by four digits, so each
    output is float64 truth rounded once: any wrong digit or combination shows as a difference."""
    g = torch.Generator().manual_seed(7)
    R, n_in, n_out = 200, 300, 70
    x = _spikes((R, n_in), 0.5, 7)
    w = torch.randint(-(2**20), 2**20, (n_out, n_in), generator=g).float() * 2.0**-12
    w[3, 5] = -(2.0**8)  # a row's largest magnitude exactly a power of two
    b = torch.randint(-1000, 1000, (n_out,), generator=g).float() * 2.0**-3
    gy = torch.randint(-(2**20), 2**20, (R, n_out), generator=g).float() * 2.0**-20
    ((got, fn), _) = _int8_and_dense(x, w, b, gy)
    assert fn == INT8
    for a, t in zip(got[:2], _truth(x, w, b, gy)[:2], strict=True):
        assert torch.equal(a, t.float())
    digits, scale, ok, _ = isp._split(w, True, torch.float32)
    assert len(digits) == 4 and digits[0].shape == (n_out, n_in) and ok.all()
    q = sum(digits[k].long() * 256**k for k in range(4))
    assert torch.equal(q.double() * torch.from_numpy(scale)[:, None], w.double())


def test_guard_sends_rows_with_a_huge_dynamic_range_through_the_float_product():
    """One weight 1e20 among 1e-3's: four digits cannot hold the small ones, so that row (and that gradient
    column) runs dense and stays float32-accurate; without the guard the 1e-3's would vanish."""
    R, n_in, n_out = 40, 64, 8
    x = _spikes((R, n_in), 0.3, 11)
    x[:, 0] = torch.arange(R) % 2  # the huge weight's input: off on even rows
    w = torch.full((n_out, n_in), 1e-3)
    w[2, 0] = 1e20
    gy = torch.full((R, n_out), 1e-3)
    gy[1, 5] = 1e20
    b = torch.zeros(n_out)
    before = isp.counts.copy()
    ((got, fn), (dense, _)) = _int8_and_dense(x, w, b, gy)
    assert fn == INT8
    assert isp.counts["forward_fallback_rows"] - before["forward_fallback_rows"] == 1
    assert isp.counts["weight_grad_fallback_rows"] - before["weight_grad_fallback_rows"] == 1
    y, gw = got[0], got[1]
    t_y, t_gw = _truth(x, w, b, gy)[:2]
    off = x[:, 0] == 0
    torch.testing.assert_close(y[off, 2].double(), t_y[off, 2], rtol=1e-6, atol=0)  # the 1e-3's count
    torch.testing.assert_close(gw[5].double(), t_gw[5], rtol=1e-6, atol=0)
    torch.testing.assert_close(y, dense[0], rtol=1e-6, atol=0)


def test_non_finite_weights_and_gradients_propagate_like_the_dense_product():
    R, n_in, n_out = 30, 40, 6
    x = _spikes((R, n_in), 0.3, 12)
    w = torch.randn(n_out, n_in)
    w[1, 3], w[4, 0] = float("nan"), float("inf")
    gy = torch.randn(R, n_out)
    gy[2, 2], gy[5, 3] = float("inf"), float("nan")
    ((got, fn), (dense, _)) = _int8_and_dense(x, w, torch.zeros(n_out), gy)
    assert fn == INT8
    for a, d in zip(got, dense, strict=True):
        assert torch.equal(a.isnan(), d.isnan()) and torch.equal(a.isinf(), d.isinf())
        fin = a.isfinite()
        torch.testing.assert_close(a[fin], d[fin], rtol=1e-5, atol=1e-5)


def test_int8_rule_float64_never_and_bad_modes_rejected():
    x = _spikes((700, 8, 128), 0.3, 0)
    assert _path(SeqLinear(128, 96, event_driven="int8").double()(x.double())) == EVENTS  # 53-bit significands
    assert _path(SeqLinear(128, 96).double()(x.double())) not in (EVENTS, INT8)  # above the gather-sum's density
    assert _path(SeqLinear(128, 96, event_driven="gather")(x)) == EVENTS
    half = SeqLinear(128, 96, event_driven="int8").to(torch.bfloat16)
    y = half(x.bfloat16())
    assert _path(y) == INT8 and y.dtype == torch.bfloat16
    exact = F.linear(x.double(), half.weight.double(), half.bias.double())
    dense = F.linear(x.bfloat16(), half.weight, half.bias)  # float32 sums, one bfloat16 rounding
    assert (y.double() - exact).abs().max() <= (dense.double() - exact).abs().max()
    assert not isp.supported(torch.float32, 2**24) and not isp.supported(torch.float64, 10)  # int32 sums; fp64
    with pytest.raises(ConfigError, match="event_driven"):
        SeqLinear(4, 4, event_driven="fast")


def test_int8_split_without_bias_and_with_no_rows():
    layer = SeqLinear(70, 65, bias=False, event_driven="int8")
    x = _spikes((5, 3, 70), 0.2, 13)
    y = layer(x)
    assert _path(y) == INT8
    torch.testing.assert_close(y, F.linear(x, layer.weight), atol=1e-6, rtol=1e-6)
    y.sum().backward()
    torch.testing.assert_close(layer.weight.grad, x.reshape(-1, 70).sum(0).expand(65, 70))
    empty = SeqLinear(70, 65, event_driven="int8")
    y = empty(torch.zeros(3, 0, 70))  # batch of 0: no rows
    assert y.shape == (3, 0, 65) and _path(y) == INT8
    y.sum().backward()
    assert torch.count_nonzero(empty.weight.grad) == 0 and torch.count_nonzero(empty.bias.grad) == 0
