"""Learnable delays: parity with the dcls package, the event-driven integer path, the SHD model, commands."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import neuro.layers.delay as delay_mod
from neuro.datasets.collate import pad_time_major
from neuro.errors import ConfigError, DTypeError, HardwareLimitError, NeuroError, ShapeError
from neuro.kernels import delay_cpu
from neuro.layers.delay import DelayedLinear, delayed_matmul, sigma_schedule
from neuro.models.delay_snn import DelaySNN, softmax_sum_readout


def _dcls_like(m: DelayedLinear):
    from DCLS.construct.modules import Dcls1d

    K = m.max_delay + 1
    ref = Dcls1d(m.in_features, m.out_features, kernel_count=1, dilated_kernel_size=K, bias=False, version="gauss")
    with torch.no_grad():
        ref.weight.copy_(m.weight.unsqueeze(-1))
        ref.P.copy_(((K - 1) // 2 - m.delay).reshape(ref.P.shape))
        ref.SIG.fill_(m.sigma - 0.27)
    return ref


@pytest.mark.parametrize("path", ["event", "dense"])
@pytest.mark.parametrize("sigma", [0.5, 2.0, 12.0])
def test_gauss_kernel_equals_dcls_forward_and_backward(sigma, path, monkeypatch):
    # the event-driven CPU kernels (sparse input) and the dense convolution must both equal dcls
    monkeypatch.setattr(delay_mod, "EVENT_DENSITY_MAX", 1.0 if path == "event" else -1.0)
    torch.manual_seed(0)
    m = DelayedLinear(12, 9, max_delay=24, sigma=sigma)
    ref = _dcls_like(m)
    x = (torch.rand(40, 3, 12) < 0.3).float() * torch.randint(1, 4, (40, 3, 12))  # binned counts
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya = m(xa)
    yb = ref(F.pad(xb.permute(1, 2, 0), (24, 0))).permute(2, 0, 1)
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ya)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(m.weight.grad, ref.weight.grad.squeeze(-1), rtol=1e-4, atol=1e-5)
    # d/dD = -d/dP (P = c - D)
    torch.testing.assert_close(m.delay.grad, -ref.P.grad.reshape(m.delay.shape), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
def test_training_kernels_have_no_subnormal_taps(sigma):
    # subnormal taps cost an order of magnitude per multiply on x86; the far tail must be exactly zero
    torch.manual_seed(1)
    m = DelayedLinear(16, 12, max_delay=24, sigma=sigma)
    with torch.no_grad():
        m.delay.copy_(torch.rand_like(m.delay) * 24)
    tiny = torch.finfo(torch.float32).tiny
    kt = torch.empty(16, 25, 12)
    delay_cpu.gauss_kernel(m.weight.detach().numpy(), m.delay.detach().numpy(), np.float32(sigma), kt.numpy())
    for k in (m.kernel().detach(), kt.permute(2, 0, 1)):
        assert not ((k != 0) & (k.abs() < tiny)).any()
        assert (k != 0).sum(-1).min() >= 1  # every synapse keeps its main tap
    torch.testing.assert_close(kt.permute(2, 0, 1), m.kernel().detach(), rtol=1e-5, atol=1e-7)


def test_integer_delays_are_exact_shifts_and_causal():
    torch.manual_seed(1)
    m = DelayedLinear(5, 4, max_delay=6).eval()
    x = torch.zeros(20, 1, 5)
    x[3, 0, 2] = 1.0  # one spike on input 2 at t = 3
    y = m(x)
    d = m.integer_delays()
    for o in range(4):
        t_arrive = 3 + int(d[o, 2])
        expected = torch.zeros(20)
        expected[t_arrive] = m.weight[o, 2]
        torch.testing.assert_close(y[:, 0, o], expected)


def test_event_driven_matmul_gradients_match_dense():
    torch.manual_seed(2)
    T, B, I, O = 30, 3, 7, 6
    x = (torch.rand(T, B, I) < 0.3).float() * torch.rand(T, B, I)
    w = torch.randn(O, I)
    D = torch.randint(0, 8, (O, I))
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    ya = delayed_matmul(xa, wa, D)
    # dense reference: a one-hot kernel convolution
    k = torch.zeros(O, I, 8)
    k.scatter_(2, D.unsqueeze(-1), 1.0)
    xb, wb = x.clone().requires_grad_(), w.clone().requires_grad_()
    yb = F.conv1d(F.pad(xb.permute(1, 2, 0), (7, 0)), (wb.unsqueeze(-1) * k).flip(-1)).permute(2, 0, 1)
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(ya)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(wa.grad, wb.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("train", [True, False])
def test_delayed_layer_on_cuda_matches_cpu(train, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # TF32 convolutions round to 10 bits
    torch.manual_seed(3)
    m = DelayedLinear(20, 16, max_delay=12, sigma=0.7).train(train)
    x = (torch.rand(30, 4, 20) < 0.2).float()
    outs = []
    for dev in ("cpu", "cuda"):
        mm = DelayedLinear(20, 16, max_delay=12, sigma=0.7).train(train).to(dev)
        mm.load_state_dict(m.state_dict())
        xx = x.detach().to(dev).requires_grad_()
        y = mm(xx)
        (y * torch.linspace(-1, 1, y.numel(), device=dev).reshape(y.shape)).sum().backward()
        outs.append([t.detach().cpu() for t in (y, xx.grad, mm.weight.grad)])
    assert outs[1][0].abs().sum() > 0
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


_GATHER_CHECK = """
import torch
from torch.nn import functional as F
from neuro.kernels.delay_gpu import gather_delayed_matmul
dev = DEVICE
torch.manual_seed(4)
T, B, I, O = 23, 3, 37, 41  # sizes that are not multiples of the block sizes
x = ((torch.rand(T, B, I) < 0.3).float() * torch.rand(T, B, I)).to(dev)
w, D = torch.randn(O, I).to(dev), torch.randint(0, 9, (O, I)).to(dev)
k = torch.zeros(O, I, 9, device=dev).scatter_(2, D.unsqueeze(-1), 1.0)
xa, wa, xb, wb = (t.clone().requires_grad_() for t in (x, w, x, w))
ya = gather_delayed_matmul(xa, wa, D)
yb = F.conv1d(F.pad(xb.permute(1, 2, 0), (8, 0)), (wb.unsqueeze(-1) * k).flip(-1)).permute(2, 0, 1)
g = torch.randn_like(ya)
(ya * g).sum().backward(); (yb * g).sum().backward()
for a, b in ((ya, yb), (xa.grad, xb.grad), (wa.grad, wb.grad)):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
print("gather ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_triton_gather_delays_match_dense_in_the_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    code = _GATHER_CHECK.replace("DEVICE", "'cpu'")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "gather ok" in r.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_triton_gather_delays_match_dense_on_cuda():
    torch.backends.cudnn.allow_tf32 = False
    exec(_GATHER_CHECK.replace("DEVICE", "'cuda'"), {})


def test_modes_and_sigma_schedule():
    assert DelayedLinear(3, 2, mode="fixed").delay.requires_grad is False
    fixed = DelayedLinear(3, 2, mode="fixed")
    assert torch.equal(fixed.delay, fixed.delay.round())
    none = DelayedLinear(3, 2, mode="none")
    x = torch.rand(4, 2, 3)
    torch.testing.assert_close(none(x), x @ none.weight.t())
    assert sigma_schedule(0, 100, 12.0) == 12.0
    assert sigma_schedule(25, 100, 12.0) == 0.5 and sigma_schedule(99, 100, 12.0) == 0.5
    assert 0.5 < sigma_schedule(10, 100, 12.0) < 12.0


def test_bad_input_and_hardware_limits():
    m = DelayedLinear(4, 3, max_delay=80)
    with pytest.raises(ShapeError, match="expects 4 input channels"):
        m(torch.rand(5, 2, 6))
    with pytest.raises(ConfigError, match="mode must be"):
        DelayedLinear(4, 3, mode="random")
    with torch.no_grad():
        m.delay.fill_(70.0)
    with pytest.raises(HardwareLimitError, match="exceed the hardware limit 62"):
        m.constrain_to_hardware(62)
    with torch.no_grad():
        m.delay.fill_(10.4)
    m.constrain_to_hardware(62)
    assert torch.equal(m.delay, torch.full_like(m.delay, 10.0))
    with pytest.raises(ShapeError, match="empty sequence"):
        m(torch.rand(0, 2, 4))
    for bad in (-0.5, 80.5, float("nan")):
        with torch.no_grad():
            m.delay[1, 2] = bad
        for train in (True, False):
            m.train(train)
            with pytest.raises(NeuroError, match=r"delay positions must lie in \[0, max_delay=80\]"):
                m(torch.rand(5, 2, 4))
    m.delay.data[1, 2] = 3.0  # back in range: runs again
    assert m(torch.rand(5, 2, 4)).shape == (5, 2, 3)
    x, w = torch.rand(5, 2, 4), torch.rand(3, 4)
    with pytest.raises(ConfigError, match="must be >= 0"):
        delayed_matmul(x, w, torch.full((3, 4), -1))
    with pytest.raises(DTypeError, match="must be integers"):
        delayed_matmul(x, w, torch.full((3, 4), 1.5))
    with pytest.raises(ShapeError, match="must have the weight's shape"):
        delayed_matmul(x, w, torch.zeros(4, 3, dtype=torch.int64))


def test_shd_model_shapes_params_and_eval_path():
    m = DelaySNN()
    w, p = m.param_groups()
    assert sum(t.numel() for t in p) == 140 * 256 + 256 * 256 + 256 * 20
    assert sum(t.numel() for t in w) + sum(t.numel() for t in p) == 214_016  # the paper's 0.2 M
    x = torch.poisson(torch.full((30, 2, 140), 0.2))
    assert m(x).shape == (30 + 3 * 12, 2, 20)
    m.eval()
    assert m(x).shape == (66, 2, 20)
    syn = m.synapse_layers()
    assert [s[0].shape for s in syn] == [(256, 140), (256, 256), (20, 256)]
    assert all(s[1].dtype == torch.int64 and int(s[1].max()) <= 24 for s in syn)


def test_fixed_input_length_makes_the_readout_independent_of_the_batch():
    torch.manual_seed(0)
    xs = [torch.poisson(torch.full((T, 1, 140), 0.3)) for T in (12, 25, 40)]
    batch = pad_time_major([(x[:, 0], 0) for x in xs])[0]
    for length, same in ((40, True), (0, False)):
        m = DelaySNN(hidden=32, input_length=length).eval()
        with torch.no_grad():
            together = softmax_sum_readout(m(batch))
            alone = torch.cat([softmax_sum_readout(m(x)) for x in xs])
        # without a fixed length the short samples are read out over fewer steps when alone
        assert torch.allclose(together, alone, atol=1e-5) == same
    assert m.pad_input(torch.ones(50, 1, 140)).shape[0] == 50  # longer inputs pass unchanged
    with pytest.raises(ConfigError, match="input_length must be >= 0"):
        DelaySNN(input_length=-1)


def test_adaptive_hidden_neurons():
    """``neuron="alif"``: with no threshold increase it computes exactly what the LIF model computes; with
    one, the neurons fire less under the same input; Loihi refuses the adaptive threshold."""
    from neuro.hardware.loihi.quantize import quantize
    from neuro.neurons import ALIF

    torch.manual_seed(0)
    lif = DelaySNN(n_in=20, hidden=16, n_out=4, max_delay=4, mode="fixed").eval()
    off = DelaySNN(n_in=20, hidden=16, n_out=4, max_delay=4, mode="fixed", neuron="alif", beta_a=0.0).eval()
    on = DelaySNN(n_in=20, hidden=16, n_out=4, max_delay=4, mode="fixed", neuron="alif", tau_a=10.0,
                  beta_a=0.5).eval()
    off.load_state_dict(lif.state_dict())
    on.load_state_dict(lif.state_dict())
    cells = [m for m in on.net if isinstance(m, ALIF)]
    assert len(cells) == 2 and cells[0].beta_a == 0.5 and cells[0].rho == pytest.approx(0.9)
    x = torch.poisson(torch.full((40, 3, 20), 1.0))
    spikes = {}
    for name, m in (("lif", lif), ("off", off), ("on", on)):
        rec = []
        hook = m.net[2].register_forward_hook(lambda mod, inp, out: rec.append(out))  # noqa: B023
        with torch.no_grad():
            m(x)
        hook.remove()
        spikes[name] = rec[0]
    assert torch.equal(spikes["off"], spikes["lif"]) and spikes["lif"].sum() > 50
    assert spikes["on"].sum() < spikes["lif"].sum()
    with pytest.raises(ConfigError, match="ALIF has no Loihi"):
        quantize(on)
    with pytest.raises(ConfigError, match="unknown hidden neuron"):
        DelaySNN(neuron="izhikevich")


def test_bench_delays_outputs_agree_with_reference():
    r = subprocess.run([sys.executable, "-m", "neuro", "bench", "delays", "--B", "4", "--T", "20", "--repeat", "1",
                        "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["max_abs_diff"] < 1e-4
    assert d["train_speedup"] > 0 and d["eval_speedup"] > 0


def test_train_and_eval_commands_on_spiking_fsdd(shared_data, tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "neuro", "train", "fsdd", "--root", str(shared_data), "--epochs", "1",
                        "--hidden", "16", "--out", str(out), "--json"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["samples"]["test"] == 500 and 0 <= s["test_accuracy"] <= 1
    assert s["config"]["input_length"] >= 50  # the longest training recording, in 10 ms steps
    for f in ("best.ckpt", "summary.json", "curves.png", "delays.png", "history.json"):
        assert (out / f).exists(), f
    r = subprocess.run([sys.executable, "-m", "neuro", "eval", str(out / "best.ckpt"), "--dataset", "fsdd", "--root",
                        str(shared_data), "--speakers", "yweweler", "--json"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["samples"] == 500
    assert e["accuracy"] == pytest.approx(s["test_accuracy"])  # the same model, data and integer delays
    r = subprocess.run([sys.executable, "-m", "neuro", "eval", str(out / "best.ckpt"), "--dataset", "fsdd", "--root",
                        str(shared_data), "--speakers", "yweweler", "--backend", "loihi", "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    q = json.loads(r.stdout)
    assert q["float_accuracy"] == pytest.approx(e["accuracy"]) and 0 <= q["accuracy"] <= 1
    assert 0 <= q["agreement_with_float"] <= 1
    assert len(q["quantization"]["layers"]) == 3  # the per-layer report as data, not its text
    r = subprocess.run([sys.executable, "-m", "neuro", "eval", str(out / "best.ckpt"), "--dataset", "nmnist",
                        "--root", str(shared_data / "nmnist-small")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "does not take nmnist input" in r.stderr
