"""Two-point neurons: modulation functions, fused kernels against the torch reference, context sources."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import neuro
from neuro import LIF, TwoPointLIF, TwoPointRate
from neuro.core.twopoint import TwoPointState
from neuro.errors import ConfigError, DTypeError, NeuroError, ShapeError
from neuro.neurons.twopoint import MODULATIONS, TwoPointLayer, modulate

ROOT = Path(__file__).resolve().parents[1]


def test_modulation_functions_exact_values():
    r, c = torch.tensor([1.0, -1.0, 0.0, 2.0]), torch.tensor([1.0, 1.0, 5.0, -0.5])
    torch.testing.assert_close(modulate(r, c, "kay_phillips"), 0.5 * r * (1 + torch.exp(r * c)))
    torch.testing.assert_close(modulate(r, c, "generalized", k1=0.3, k2=1.5), r * (0.3 + 0.7 * torch.exp(1.5 * r * c)))
    torch.testing.assert_close(modulate(r, c, "cooperation"), r**2 + 2 * r + c * (1 + r.abs()))
    torch.testing.assert_close(modulate(r, c, "burst"), r * (1 + torch.sigmoid(c)))
    # context alone cannot drive a Kay-Phillips unit; agreeing context amplifies, disagreeing attenuates
    one = torch.tensor([1.0])
    assert modulate(torch.tensor([0.0]), torch.tensor([9.0]))[0] == 0
    assert modulate(one, one)[0] > 1 > modulate(one, -one)[0]
    assert math.isfinite(float(modulate(torch.tensor([50.0]), torch.tensor([50.0]))[0]))  # no overflow
    # the cooperation function lets context add a bounded term; the burst gain stays within 1x..2x
    assert modulate(torch.tensor([0.0]), one, "cooperation")[0] == 1
    g = modulate(torch.ones(3), torch.tensor([-30.0, 0.0, 30.0]), "burst")
    assert 1 <= g.min() and g.max() <= 2


def test_bad_input_gets_clear_errors():
    with pytest.raises(ConfigError, match="unknown modulation 'gate'.*kay_phillips"):
        TwoPointLIF("gate")
    with pytest.raises(ConfigError, match="unknown modulation"):
        TwoPointRate("gate")
    with pytest.raises(ConfigError, match="unknown modulation"):
        modulate(torch.zeros(2), torch.zeros(2), "gate")
    with pytest.raises(ShapeError, match=r"receptive field \(3, 2, 4\) and context \(3, 2, 5\)"):
        TwoPointLIF()(torch.zeros(3, 2, 4), torch.zeros(3, 2, 5))
    with pytest.raises(ShapeError, match="same shape"):
        TwoPointRate()(torch.zeros(4), torch.zeros(1))
    with pytest.raises(ShapeError, match=r"\[T, B, \.\.\.\]"):
        TwoPointLIF()(torch.zeros(4), torch.zeros(4))
    with pytest.raises(DTypeError, match="context must be floating"):
        TwoPointLIF()(torch.zeros(3, 2, 4), torch.zeros(3, 2, 4, dtype=torch.long))
    with pytest.raises(ShapeError, match="TwoPointState"):
        TwoPointLIF()(torch.zeros(3, 2, 4), torch.zeros(3, 2, 4), state=TwoPointState(torch.zeros(2), torch.zeros(2)))
    with pytest.raises(ShapeError, match="per-neuron decays"):
        TwoPointLIF(learn_beta=True, shape=(3,))(torch.zeros(3, 2, 4), torch.zeros(3, 2, 4))
    with pytest.raises(NeuroError, match="NaN or inf"):
        TwoPointLIF(backend="cpu")(torch.full((3, 2, 4), float("nan")), torch.zeros(3, 2, 4))
    with pytest.raises(NeuroError, match="NaN or inf"):
        TwoPointLIF(backend="torch")(torch.zeros(3, 2, 4), torch.full((3, 2, 4), float("inf")))


def test_exports():
    assert neuro.TwoPointLIF is TwoPointLIF and neuro.TwoPointRate is TwoPointRate
    assert set(MODULATIONS) == {"kay_phillips", "generalized", "cooperation", "burst"}


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_instant_apical_compartment_is_an_lif_of_the_modulated_drive(backend):
    r, c = torch.rand(20, 3, 6) * 2, torch.randn(20, 3, 6)
    tp = TwoPointLIF("kay_phillips", tau=2.0, backend=backend)
    ref = LIF(tau=2.0, backend="torch")
    assert torch.equal(tp(r, c), ref(modulate(r, c)))
    rg, cg = r.clone().requires_grad_(), c.clone().requires_grad_()
    tp(rg, cg).sum().backward()
    assert cg.grad.abs().sum() > 0  # context is learned through the modulation
    assert TwoPointRate()(r, c).max() <= 1


def test_apical_compartment_holds_context_over_time():
    # a context pulse at step 0 keeps modulating later steps when the apical compartment is slow
    r = torch.full((6, 1, 1), 0.8)
    c = torch.zeros(6, 1, 1)
    c[0] = 30.0  # the slow compartment takes in (1 - a_c) of it: about 3 at step 0
    fast = TwoPointLIF(tau=1.0, tau_apical=1.0)
    slow = TwoPointLIF(tau=1.0, tau_apical=10.0)
    assert fast(r, c)[1:].sum() == 0  # 0.8 alone never reaches the threshold
    assert slow(r, c)[1:].sum() > 0
    _, st = slow(r, c, return_state=True)
    assert 0 < float(st.p) < 3.0  # decayed, not gone


VARIANTS = [
    ("kay_phillips", {}),
    ("generalized", {"k1": 0.3, "k2": 1.5, "v_reset": None}),
    ("cooperation", {"decay_input": False, "detach_reset": True}),
    ("burst", {"surrogate": "sigmoid", "v_reset": 0.2}),
    ("kay_phillips", {"surrogate": "fast_sigmoid", "v_reset": None, "decay_input": False}),
]


def _run(make, backend, dtype, seed=0, device="cpu"):
    torch.manual_seed(seed)
    n = make(backend).to(dtype).to(device)
    r = (torch.rand(14, 3, 5, dtype=dtype) * 3 - 0.5).to(device).requires_grad_()
    c = torch.randn(14, 3, 5, dtype=dtype).to(device).requires_grad_()
    st = TwoPointState((torch.rand(3, 5, dtype=dtype) * 0.5).to(device).requires_grad_(),
                       torch.randn(3, 5, dtype=dtype).to(device).requires_grad_())
    out, new = n(r, c, st, return_state=True)
    w = torch.randn(out.shape, dtype=dtype).to(device)
    ((out * w).sum() + 0.3 * new.v.sum() + 0.2 * new.p.sum()).backward()
    grads = [r.grad, c.grad, st.v.grad, st.p.grad, n.beta.logit.grad, n.beta_apical.logit.grad]
    return out.detach(), new, grads


@pytest.mark.parametrize("mod,kw", VARIANTS)
def test_fused_cpu_kernel_matches_the_reference(mod, kw):
    def make(backend):
        return TwoPointLIF(mod, tau=3.0, tau_apical=4.0, learn_beta=True, learn_apical=True, shape=(5,),
                           backend=backend, **kw)

    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        y1, s1, g1 = _run(make, "torch", dtype)
        y2, s2, g2 = _run(make, "cpu", dtype)
        assert 0 < float(y1.mean()) < 1  # the comparison sees both spikes and silence
        assert torch.equal(y1, y2)
        torch.testing.assert_close(s1.v, s2.v, rtol=tol, atol=tol)
        torch.testing.assert_close(s1.p, s2.p, rtol=tol, atol=tol)
        for a, b in zip(g1, g2, strict=True):  # R, C, initial v and p, both decays
            assert a.abs().sum() > 0
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_streaming_in_chunks_equals_one_pass():
    torch.manual_seed(1)
    n = TwoPointLIF("generalized", tau=3.0, tau_apical=5.0)
    r, c = torch.rand(12, 2, 4) * 2, torch.randn(12, 2, 4)
    full = n(r, c)
    a, st = n(r[:5], c[:5], return_state=True)
    b, st = n(r[5:9], c[5:9], st, return_state=True)
    outs = [a, b]
    for t in range(9, 12):
        s, st = n.step(r[t], c[t], st)
        outs.append(s.unsqueeze(0))
    assert torch.equal(torch.cat(outs), full)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_triton_kernel_matches_the_reference_in_the_interpreter():
    code = (
        "import torch; from test_twopoint import VARIANTS, _run; from neuro import TwoPointLIF\n"
        "for mod, kw in VARIANTS:\n"
        "    make = lambda b, mod=mod, kw=kw: TwoPointLIF(mod, tau=3.0, tau_apical=4.0, learn_beta=True,"
        " learn_apical=True, shape=(5,), backend=b, **kw)\n"
        "    y1, s1, g1 = _run(make, 'torch', torch.float32); y2, s2, g2 = _run(make, 'gpu', torch.float32)\n"
        "    assert torch.equal(y1, y2), mod\n"
        "    for a, b in zip(g1 + [s1.v, s1.p], g2 + [s2.v, s2.p]): torch.testing.assert_close(a, b, rtol=1e-4,"
        " atol=1e-5)\n"
        "print('triton two-point ok')\n"
    )
    # the tests folder on the path, so the subprocess imports this module's helpers
    env = dict(os.environ, TRITON_INTERPRET="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if p))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "triton two-point ok" in r.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mod,kw", VARIANTS)
def test_triton_kernel_matches_the_reference_on_cuda(mod, kw):
    def make(backend):
        return TwoPointLIF(mod, tau=3.0, tau_apical=4.0, learn_beta=True, learn_apical=True, shape=(5,),
                           backend=backend, **kw)

    y1, s1, g1 = _run(make, "torch", torch.float32, device="cuda")
    y2, s2, g2 = _run(make, "gpu", torch.float32, device="cuda")
    assert y2.is_cuda and torch.equal(y1, y2)
    for a, b in zip(g1 + [s1.v, s1.p], g2 + [s2.v, s2.p], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_context_sources():
    torch.manual_seed(0)
    x, z = torch.rand(12, 2, 5) * 2, torch.rand(12, 2, 3)
    distal = TwoPointLayer(5, 4, "distal", n_context=3, tau=2.0)
    y = distal(x, z)
    assert torch.equal(y, distal.neuron(distal.ff(x), distal.distal(z)))
    with pytest.raises(ShapeError, match="other stream"):
        distal(x)
    with pytest.raises(ShapeError, match="same \\[T, B\\]"):
        distal(x, z[:5])
    prox = TwoPointLayer(5, 4, "proximal", tau=2.0)
    s = prox(x)
    # step 0 has no lateral context; step 1's context is the lateral input of step 0's spikes
    r = prox.ff(x)
    s0, st = prox.neuron.step(r[0], torch.zeros(2, 4))
    assert torch.equal(s[0], s0)
    w = prox.proximal.weight - torch.diag(torch.diag(prox.proximal.weight))
    s1, _ = prox.neuron.step(r[1], s0 @ w.t(), st)
    assert torch.equal(s[1], s1)
    # feedback: the higher layer's output at t-1 is the context at t
    top = nn.Linear(4, 3)
    fb = TwoPointLayer(5, 4, "feedback", top=top, n_top=3, tau=2.0)
    y = fb(x)
    r = fb.ff(x)
    s0, st = fb.neuron.step(r[0], torch.zeros(2, 4))
    s1, _ = fb.neuron.step(r[1], fb.feedback(top(s0)), st)
    assert torch.equal(y[0], s0) and torch.equal(y[1], s1)
    both = TwoPointLayer(5, 4, ("distal", "proximal"), n_context=3, tau=2.0)
    assert both(x, z).shape == (12, 2, 4)
    with pytest.raises(ConfigError, match="needs top"):
        TwoPointLayer(5, 4, "feedback")
    with pytest.raises(ConfigError, match="context must be"):
        TwoPointLayer(5, 4, "global")
