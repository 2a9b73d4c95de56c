"""Neurons: fused kernels vs the torch reference, peers' spikes, state handling, bad input."""

from __future__ import annotations

import pytest
import torch

import neuro
from neuro import ALIF, IF, LI, LIF, CubaLIF, State
from neuro.bench.timing import saved_bytes
from neuro.core.surrogate import SURROGATES
from neuro.errors import ConfigError, DTypeError, NeuroError, ShapeError

VARIANTS = {
    "lif_hard": lambda be: LIF(tau=2.0, backend=be),
    "lif_soft_nodecayin": lambda be: LIF(tau=3.0, v_reset=None, decay_input=False, backend=be),
    "lif_hard_reset_value": lambda be: LIF(beta=0.8, v_reset=-0.3, v_threshold=0.7, backend=be),
    "lif_detach": lambda be: LIF(tau=2.0, detach_reset=True, backend=be),
    "lif_soft_detach": lambda be: LIF(tau=2.5, v_reset=None, detach_reset=True, backend=be),
    "lif_learn_per_neuron": lambda be: LIF(tau=2.0, learn_beta=True, shape=(7,), backend=be),
    "lif_learn_soft_nodecay": lambda be: LIF(
        tau=4.0, learn_beta=True, v_reset=None, decay_input=False, backend=be
    ),
    "if_hard": lambda be: IF(backend=be),
    "if_soft": lambda be: IF(v_reset=None, backend=be),
    "alif_hard": lambda be: ALIF(tau=2.0, tau_a=5.0, beta_a=0.5, backend=be),
    "alif_soft": lambda be: ALIF(tau=3.0, tau_a=10.0, beta_a=0.3, v_reset=None, decay_input=False, backend=be),
    "alif_learn": lambda be: ALIF(tau=3.0, tau_a=4.0, beta_a=0.4, learn_beta=True, shape=(7,), backend=be),
    "cuba_hard": lambda be: CubaLIF(tau_syn=2.0, tau_mem=4.0, backend=be),
    "cuba_soft_learn": lambda be: CubaLIF(
        tau_syn=3.0, tau_mem=2.0, v_reset=None, learn_decays=True, shape=(7,), backend=be
    ),
    "cuba_detach": lambda be: CubaLIF(beta_syn=0.9, beta_mem=0.95, detach_reset=True, backend=be),
    "li": lambda be: LI(tau=3.0, backend=be),
    "li_learn": lambda be: LI(tau=3.0, learn_beta=True, shape=(7,), backend=be),
}
VARIANTS.update(
    {f"lif_{name}": (lambda be, name=name: LIF(tau=2.0, surrogate=name, backend=be)) for name in SURROGATES}
)


def _pair(make, dtype=torch.float32):
    a, b = make("torch"), make("cpu")
    b.load_state_dict(a.state_dict())
    return a.to(dtype), b.to(dtype)


def _run(m, x, state):
    xx = x.clone().requires_grad_()
    st = None
    if state is not None:
        st = State(*(None if t is None else t.clone().requires_grad_() for t in state))
    y, new = m(xx, st, return_state=True)
    g = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).reshape(y.shape)
    loss = (y * g).sum() + sum((t * (k + 1)).sum() for k, t in enumerate(new) if t is not None)
    loss.backward()
    grads = [xx.grad] + ([t.grad for t in st if t is not None] if st is not None else [])
    grads += [p.grad for p in m.parameters()]
    return y, new, grads


F64 = ["lif_learn_soft_nodecay", "alif_learn", "cuba_soft_learn", "li_learn"]
CASES = [(n, torch.float32) for n in sorted(VARIANTS)] + [(n, torch.float64) for n in F64]


@pytest.mark.parametrize("name,dtype", CASES)
def test_fused_cpu_matches_reference(name, dtype):
    """Outputs bitwise, final state and gradients (input, initial state, decays) to float tolerance."""
    ref, fused = _pair(VARIANTS[name], dtype)
    x = (torch.rand(40, 3, 7, dtype=dtype) * 1.6 - 0.2)
    state = ref.init_state((3, 7), dtype=dtype)
    state = State(*(None if t is None else torch.rand_like(t) * 0.5 for t in state))
    y1, s1, g1 = _run(ref, x, state)
    y2, s2, g2 = _run(fused, x, state)
    assert y1.dtype == y2.dtype == dtype
    if ref.spiking:
        assert 0 < y1.mean() < 1, "the test input should make some but not all neurons spike"
        assert torch.equal(y1, y2)
    else:
        torch.testing.assert_close(y1, y2, rtol=1e-6, atol=1e-6)
    for a, b in zip(s1, s2, strict=True):
        if a is not None:
            torch.testing.assert_close(a, b)
    assert len(g1) == len(g2)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-11)
    for a, b in zip(g1, g2, strict=True):
        assert a is not None and b is not None
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_fused_cpu_saves_no_more_than_reference(name):
    ref, fused = _pair(VARIANTS[name])
    x = torch.rand(30, 4, 7).requires_grad_()
    assert saved_bytes(lambda: fused(x), x) <= saved_bytes(lambda: ref(x), x)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_lif_equals_spikingjelly_lifnode(backend):
    """tau=2, decay_input, hard reset to 0, threshold 1: the same spikes and (ATan) gradients."""
    from spikingjelly.activation_based import neuron, surrogate

    x = torch.rand(60, 4, 50) * 2.5
    sj = neuron.LIFNode(tau=2.0, decay_input=True, v_reset=0.0, v_threshold=1.0, step_mode="m",
                        surrogate_function=surrogate.ATan(alpha=2.0))
    ours = LIF(tau=2.0, decay_input=True, v_reset=0.0, v_threshold=1.0, surrogate="atan", alpha=2.0, backend=backend)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = sj(xa), ours(xb)
    assert 0.05 < ya.mean() < 0.95
    assert torch.equal(ya, yb)
    w = torch.randn_like(ya)
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_lif_equals_snntorch_leaky(reset, backend):
    """snnTorch's Leaky (reset_delay=False) is LIF with decay_input=False."""
    import snntorch as snn

    beta = 0.85
    x = torch.rand(80, 3, 40)  # inputs in [0, 1): a subtractive reset always lands below threshold
    leaky = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism=reset, reset_delay=False)
    mem = leaky.init_leaky()
    spk = []
    for t in range(x.shape[0]):
        s, mem = leaky(x[t], mem)
        spk.append(s)
    theirs = torch.stack(spk)
    ours = LIF(beta=beta, decay_input=False, v_reset=0.0 if reset == "zero" else None, backend=backend)(x)
    assert theirs.sum() > 0
    assert torch.equal(theirs, ours)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize("cls", [LIF, CubaLIF, ALIF, LI])
def test_step_and_chunks_equal_whole_sequence(cls, backend):
    m = cls(backend=backend)
    x = torch.rand(25, 2, 5) * 2
    whole, final = m(x, return_state=True)
    state = None
    steps = []
    for t in range(x.shape[0]):
        y, state = m.step(x[t], state)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps), whole)
    a, st = m(x[:10], return_state=True)
    b = m(x[10:], st)
    torch.testing.assert_close(torch.cat([a, b]), whole)
    for u, v in zip(state, final, strict=True):
        if u is not None:
            torch.testing.assert_close(u, v)


def test_multidimensional_features_and_backend_selection():
    x = torch.rand(5, 2, 3, 4, 4)
    m = LIF()
    y = m(x)
    assert y.shape == x.shape
    from neuro.backends import resolve_backend

    assert resolve_backend(None, torch.device("cpu")).name == "cpu"
    neuro.set_backend("torch")
    try:
        assert resolve_backend(None, torch.device("cpu")).name == "torch"
        assert resolve_backend("cpu", torch.device("cpu")).name == "cpu"  # per-module wins
    finally:
        neuro.set_backend("auto")
    with pytest.raises(ConfigError, match="needs CUDA"):
        resolve_backend("gpu", torch.device("cpu")) if neuro.available_backends()["gpu"][0] else (_ for _ in ()).throw(
            ConfigError("backend 'gpu' needs CUDA tensors")
        )


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_bad_input_errors(backend):
    m = LIF(backend=backend)
    with pytest.raises(DTypeError, match="floating-point"):
        m(torch.ones(3, 2, 4, dtype=torch.int64))
    with pytest.raises(ShapeError, match=r"\[T, B, \.\.\.\]"):
        m(torch.ones(4))
    with pytest.raises(ShapeError, match="state.v must have shape"):
        m(torch.ones(3, 2, 4), State(torch.zeros(2, 5)))
    bad = torch.rand(3, 2, 4)
    bad[1, 0, 2] = float("nan")
    with pytest.raises(NeuroError, match="NaN or inf"):
        m(bad)
    bad[1, 0, 2] = float("inf")
    with pytest.raises(NeuroError, match="NaN or inf"):
        m(bad)


def test_bad_configuration_errors():
    with pytest.raises(ConfigError, match="unknown backend 'fpga'"):
        LIF(backend="fpga")
    with pytest.raises(ConfigError, match="unknown surrogate 'erf'"):
        LIF(surrogate="erf")
    with pytest.raises(ConfigError, match="must be >= 1"):
        LIF(tau=0.5)
    with pytest.raises(ConfigError, match="in \\[0, 1\\]"):
        LIF(beta=1.5)
    with pytest.raises(ConfigError, match="unknown backend"):
        neuro.set_backend("nope")
    with pytest.raises(ShapeError, match="per-neuron parameters"):
        LIF(shape=(5,))(torch.rand(3, 2, 4))


def test_surrogates_match_peer_definitions():
    """Our surrogate derivatives equal SpikingJelly's ATan/Sigmoid and snnTorch's fast sigmoid."""
    import snntorch.surrogate as ss
    from spikingjelly.activation_based import surrogate as sjs

    from neuro.core.surrogate import spike

    u = torch.linspace(-2, 2, 101)
    for ours, theirs in [
        (("atan", 2.0), sjs.ATan(alpha=2.0)),
        (("sigmoid", 4.0), sjs.Sigmoid(alpha=4.0)),
        (("fast_sigmoid", 25.0), ss.fast_sigmoid(slope=25)),
    ]:
        a, b = u.clone().requires_grad_(), u.clone().requires_grad_()
        spike(a, *ours).sum().backward()
        theirs(b).sum().backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)
    # triangle and rectangle integrate to one over u (a probability density around threshold)
    for name in ("triangle", "rectangle"):
        uu = torch.linspace(-3, 3, 60001).requires_grad_()
        spike(uu, name, 2.0).sum().backward()
        assert abs(float(uu.grad.sum() * (6 / 60000)) - 1.0) < 1e-3
