"""The loihi fixed-point backend: Lava's golden vectors, and spike-for-spike, state-for-state agreement
with Lava's own bit-accurate models (run through the lava bridge)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuro.backends.lava import lava_status, run_lava
from neuro.backends.loihi import (
    EXCITATORY,
    MIXED,
    LoihiLayer,
    LoihiNetwork,
    effective_weights,
    lif_update,
    run_loihi,
)
from neuro.errors import HardwareLimitError, ShapeError

LAVA_OK, LAVA_WHY = lava_status()
needs_lava = pytest.mark.skipif(not LAVA_OK, reason=f"Lava environment missing: {LAVA_WHY}")


def _lif_trace(steps, du, dv, vth, bias=0, a_in=None):
    u = v = torch.zeros(1, dtype=torch.int64)
    us, vs, ss = [], [], []
    for t in range(steps):
        a = torch.tensor([a_in[t] if a_in is not None else 0])
        u, v, s = lif_update(u, v, a, du, dv, bias, vth)
        us.append(int(u))
        vs.append(int(v))
        ss.append(bool(s))
    return us, vs, ss


def test_golden_no_decay_bias_spikes():
    # du = dv = 0, bias 2 << 6 = 128 per step, vth 8 (512): spikes at steps 5 and 10
    _, v, s = _lif_trace(10, du=0, dv=0, vth=8, bias=2 << 6)
    assert v[:4] == [128, 256, 384, 512]
    assert [t + 1 for t, x in enumerate(s) if x] == [5, 10]


def test_golden_current_decay():
    u, _, _ = _lif_trace(8, du=2047, dv=0, vth=10**5, a_in=[128] + [0] * 7)
    assert u == [1 << (13 - j) for j in range(8)]


def test_golden_voltage_decay():
    _, v, _ = _lif_trace(8, du=0, dv=2048, vth=10**5, a_in=[128] + [0] * 7)
    assert v == [8192, 12286, 14331, 15351, 15859, 16111, 16235, 16295]


def test_golden_bias_scaling_and_weights():
    _, v, _ = _lif_trace(1, du=0, dv=0, vth=10**5, bias=4095 << 5)
    assert v == [4095 * 32]
    np.testing.assert_array_equal(effective_weights(np.array([300, -300, 39])), [254, -256, 38])
    np.testing.assert_array_equal(effective_weights(np.array([300, -300, 39]), num_weight_bits=7), [252, -256, 36])
    assert effective_weights(np.array([300, -300, 39, -0.4])).sum() == 36
    np.testing.assert_array_equal(effective_weights(np.array([5, 39]), EXCITATORY), [5, 39])
    np.testing.assert_array_equal(effective_weights(np.array([-5, 39]), MIXED), [-6, 38])


def test_current_wraps_and_voltage_saturates():
    u = torch.tensor([2**23 - 10], dtype=torch.int64)
    v = torch.tensor([2**23 - 5], dtype=torch.int64)
    u2, v2, s = lif_update(u, v, torch.tensor([1]), du=-1, dv=0, bias=0, vth=131071)
    assert int(u2) == 2**23 - 10 + 64 - 2**24  # one wrap into (-2^23, 2^23]
    assert int(v2) == (2**23 - 5) + (2**23 + 54 - 2**24)
    _, v3, _ = lif_update(torch.tensor([-(2**22)]), torch.tensor([-(2**23 - 5)]), torch.tensor([0]), du=-1, dv=0,
                          bias=0, vth=131071)
    assert int(v3) == -(2**23 - 1)  # saturated, not wrapped


def test_dense_latency_and_delays():
    # one input spike at step 4: arrives at step 5 without delay and at 7 with delay 2
    net = LoihiNetwork([LoihiLayer(np.array([[100], [100]]), du=4095, dv=4095, vth=0, delays=np.array([[0], [2]]))])
    x = torch.zeros(10, 1, 1, dtype=torch.int64)
    x[4] = 1
    s = run_loihi(net, x)["s"][0][:, 0]
    assert s[:, 0].nonzero().flatten().tolist() == [5]
    assert s[:, 1].nonzero().flatten().tolist() == [7]


def test_batched_equals_single_samples():
    rng = np.random.default_rng(3)
    net = LoihiNetwork([LoihiLayer(rng.integers(-256, 256, (7, 5)), du=1000, dv=300, vth=3,
                                   delays=rng.integers(0, 5, (7, 5)))])
    x = (rng.random((25, 4, 5)) < 0.4).astype(np.int64)
    batched = run_loihi(net, x)
    for b in range(4):
        single = run_loihi(net, x[:, b : b + 1])
        for k in "suv":
            assert torch.equal(batched[k][0][:, b], single[k][0][:, 0])


def test_hardware_limits_raise():
    with pytest.raises(HardwareLimitError, match=r"delays must be in \[0, 62\]"):
        LoihiLayer(np.ones((2, 2)), delays=np.full((2, 2), 63))
    with pytest.raises(HardwareLimitError, match="vth"):
        LoihiLayer(np.ones((2, 2)), vth=200_000)
    with pytest.raises(HardwareLimitError, match="bias_mant"):
        LoihiLayer(np.ones((2, 2)), bias_mant=5000)
    with pytest.raises(ShapeError, match="must be"):
        run_loihi(LoihiNetwork([LoihiLayer(np.ones((2, 3)))]), np.zeros((4, 1, 5)))


def _random_net(rng, sizes, delays: bool):
    layers = []
    extremes = [(-1, 0), (4095, 4096), (0, 0), (2047, 2048)]
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        du, dv = extremes[k % 4] if k < 2 else (int(rng.integers(-1, 4096)), int(rng.integers(0, 4097)))
        layers.append(LoihiLayer(
            rng.integers(-300, 300, (b, a)) if k % 2 == 0 else rng.integers(0, 300, (b, a)),
            du=du, dv=dv, vth=int(rng.integers(0, 40)), bias_mant=rng.integers(-200, 200, b), bias_exp=int(k % 3),
            weight_exp=int(rng.integers(-2, 3)), num_weight_bits=int(rng.integers(6, 9)),
            delays=rng.integers(0, 9 if k else 63, (b, a)) if delays else None))
    return LoihiNetwork(layers)


@needs_lava
@pytest.mark.parametrize("sizes,delays,seed", [([5, 8, 3], False, 0), ([12, 20, 16, 4], True, 1),
                                               ([30, 64, 10], True, 2)])
def test_agrees_with_lava_spike_for_spike(sizes, delays, seed):
    rng = np.random.default_rng(seed)
    net = _random_net(rng, sizes, delays)
    x = (rng.random((60, sizes[0])) < 0.3).astype(np.int64)
    ours = run_loihi(net, x[:, None, :])
    theirs = run_lava(net, x)
    assert sum(int(s.sum()) for s in ours["s"]) > 0
    for k in range(len(net.layers)):
        for key in ("s", "u", "v"):
            np.testing.assert_array_equal(ours[key][k][:, 0].numpy(), theirs[key][k], err_msg=f"layer {k} {key}")
