"""The loihi fixed-point backend without Lava: Lava's own golden vectors, timing, engines, batching,
hardware limits, quantization of float models and the deployment files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from neuro.errors import ConfigError, DTypeError, HardwareLimitError, ShapeError
from neuro.hardware import FloatLayer, float_layers
from neuro.hardware.loihi import (
    EXCITATORY,
    MAX_VTH,
    MIXED,
    LoihiLayer,
    LoihiNetwork,
    cuba_run,
    effective_weights,
    evaluate_loihi,
    export_loihi,
    lif_update,
    load_loihi,
    quantize,
    run_loihi,
    simulate,
    synaptic_input,
)
from neuro.layers import SeqBatchNorm, SeqLinear
from neuro.layers.delay import DelayedLinear
from neuro.neurons import ALIF, IF, LI, LIF, CubaLIF


def _neuron(steps, du, dv, vth=MAX_VTH, bias_mant=0, bias_exp=0, impulse=0):
    """Drive one neuron's a_in directly (as Lava's LIF tests do, no Dense in between)."""
    a = torch.zeros((steps, 1, 1), dtype=torch.int64)
    a[0] = impulse
    layer = LoihiLayer(np.zeros((1, 1)), du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp)
    s, u, v, _, _ = cuba_run(layer, a, record=True)
    return s[:, 0, 0].tolist(), u[:, 0, 0].tolist(), v[:, 0, 0].tolist()


@pytest.mark.parametrize("engine", ["numba", "torch"])
def test_golden_lif_vectors_from_lava(engine, monkeypatch):
    if engine == "torch":
        import neuro.hardware.loihi.simulator as lo

        monkeypatch.setattr(lo, "_NUMBA", False)
    # test_bitacc_pm_no_decay: bias 2 << 6 = 128 per step, threshold 8 << 6 = 512 -> spikes at steps 5 and 10
    s, _, v = _neuron(10, du=0, dv=0, vth=8, bias_mant=2, bias_exp=6)
    assert v[:4] == [128, 256, 384, 512] and v[4] == 0
    assert [t + 1 for t, x in enumerate(s) if x] == [5, 10]
    # test_bitacc_pm_impulse_du: u halves each step
    _, u, _ = _neuron(8, du=2047, dv=0, impulse=128)
    assert u == [1 << (13 - j) for j in range(8)]
    # test_bitacc_pm_impulse_dv: the ds_offset makes u decay by 1/4096 per step even with du = 0
    _, _, v = _neuron(8, du=0, dv=2048, impulse=128)
    assert v == [8192, 12286, 14331, 15351, 15859, 16111, 16235, 16295]
    # test_bitacc_pm_scaling_of_bias
    _, _, v = _neuron(1, du=0, dv=0, bias_mant=4095, bias_exp=5)
    assert v == [4095 * 32]


def test_current_wraps_voltage_saturates():
    a_seq = [1 << 17, 1, -(1 << 17), -(1 << 16)]
    u = v = torch.zeros(1, dtype=torch.int64)
    trace = []
    for a in a_seq:
        u, v, s = lif_update(u, v, torch.tensor([a]), du=-1, dv=0, bias=0, vth=MAX_VTH)
        trace.append((int(u), int(v), bool(s)))
    assert trace == [
        (1 << 23, 0, True),  # u keeps +2^23; v saturates at 2^23 - 1 > MAX_VTH << 6: spike and reset
        ((1 << 23) + 64 - (1 << 24), (1 << 23) + 64 - (1 << 24), False),  # u wraps once
        (64, (1 << 23) + 128 - (1 << 24), False),  # wraps back up from below -2^23
        (64 - (1 << 22), -((1 << 23) - 1), False),  # v saturates at -(2^23 - 1)
    ]
    for engine in ("numba", "torch"):
        layer = LoihiLayer(np.zeros((1, 1)), du=-1, dv=0, vth=MAX_VTH)
        s, ur, vr, _, _ = cuba_run(layer, torch.tensor(a_seq).reshape(4, 1, 1), record=True, engine=engine)
        got = [(int(x), int(y), bool(z)) for x, y, z in zip(ur.flatten(), vr.flatten(), s.flatten(), strict=True)]
        assert got == trace


def test_golden_dense_weights_from_lava():
    w = np.array([300, -300, 39])
    assert effective_weights(w).tolist() == [254, -256, 38]
    assert effective_weights(w, num_weight_bits=7).tolist() == [252, -256, 36]
    assert effective_weights(np.array([300, -300, 39, -0.4])).sum() == 36  # -0.4 truncates to 0
    assert effective_weights(np.array([39, 5])).tolist() == [39, 5]  # excitatory keeps odd values
    assert effective_weights(np.array([-39, -300])).tolist() == [-39, -255]
    # through the synapse: one input spike reaches the neurons one step later, weight_exp shifts the sum
    for exp, expect in ((0, [254, -256, 38]), (1, [508, -512, 76])):
        layer = LoihiLayer(w[:, None], weight_exp=exp)
        a = synaptic_input(layer, torch.tensor([[[1]], [[0]], [[0]]]))
        assert a[1, 0].tolist() == expect and not a[0].any() and not a[2].any()


def test_negative_weight_exponent_floors_each_delay_slot():
    # two synapses 3 and 3 with weight_exp -1: same delay -> floor(6 / 2) = 3; different delays -> 1 + 1
    x = torch.tensor([[[1, 1]]] + [[[0, 0]]] * 4)
    same = LoihiLayer(np.array([[3, 3]]), weight_exp=-1, delays=np.array([[1, 1]]))
    apart = LoihiLayer(np.array([[3, 3]]), weight_exp=-1, delays=np.array([[1, 2]]))
    for engine in ("numba", "torch"):
        assert synaptic_input(same, x, engine)[:, 0, 0].tolist() == [0, 0, 3, 0, 0]
        assert synaptic_input(apart, x, engine)[:, 0, 0].tolist() == [0, 0, 1, 1, 0]


def test_dense_latency_and_delays():
    # a spike at step 4 is seen at step 5 without delay and at step 7 with delay 2 (Lava's DelayDense test)
    net = LoihiNetwork([LoihiLayer(np.array([[100], [100]]), du=4095, dv=4096, vth=0, delays=np.array([[0], [2]]))])
    x = torch.zeros((10, 1, 1), dtype=torch.int64)
    x[3] = 1
    s = simulate(net, x).spikes[0][:, 0]
    assert s[:, 0].nonzero().flatten().tolist() == [4] and s[:, 1].nonzero().flatten().tolist() == [6]


@pytest.mark.parametrize("extremes", [False, True])
def test_engines_agree_and_batch_is_independent(random_network, extremes):
    rng = np.random.default_rng(3)
    net = random_network([9, 13, 7, 4], rng, max_delay=6, extremes=extremes)
    x = torch.from_numpy((rng.random((40, 5, 9)) < 0.3).astype(np.int64))
    a = simulate(net, x, record=True)
    b = simulate(net, x, record=True, engine="torch")
    assert sum(int(s.sum()) for s in a.spikes) > 0
    for k in range(3):
        for p, q in ((a.spikes, b.spikes), (a.u, b.u), (a.v, b.v)):
            assert torch.equal(p[k], q[k])
        one = simulate(net, x[:, 2:3], record=True)
        assert torch.equal(one.v[k][:, 0], a.v[k][:, 2]) and torch.equal(one.spikes[k][:, 0], a.spikes[k][:, 2])
    assert torch.equal(run_loihi(net, x)["s"][1], a.spikes[1].long())


def test_graded_input_payloads():
    layer = LoihiLayer(np.array([[2, 3]]), num_message_bits=8, vth=MAX_VTH, du=4095, dv=4096)
    x = torch.tensor([[[5, 7]], [[0, 0]]])
    r = simulate(LoihiNetwork([layer]), x, record=True)
    assert r.u[0][1, 0, 0] == (2 * 5 + 3 * 7) << 6
    binary = LoihiLayer(np.array([[2, 3]]), vth=MAX_VTH, du=4095, dv=4096)
    assert simulate(LoihiNetwork([binary]), x, record=True).u[0][1, 0, 0] == 5 << 6  # payload ignored


def test_hardware_limits_raise():
    with pytest.raises(HardwareLimitError, match=r"delays must be in \[0, 62\]"):
        LoihiLayer(np.ones((2, 2)), delays=np.full((2, 2), 63))
    with pytest.raises(HardwareLimitError, match="vth"):
        LoihiLayer(np.ones((2, 2)), vth=200_000)
    with pytest.raises(HardwareLimitError, match="bias_mant"):
        LoihiLayer(np.ones((2, 2)), bias_mant=5000)
    with pytest.raises(HardwareLimitError, match="du"):
        LoihiLayer(np.ones((2, 2)), du=4096)
    with pytest.raises(DTypeError, match="integers"):
        LoihiLayer(np.full((2, 2), 0.5))
    with pytest.raises(ShapeError, match="must be"):
        simulate(LoihiNetwork([LoihiLayer(np.ones((2, 3)))]), np.zeros((4, 1, 5)))
    with pytest.raises(DTypeError, match="integer"):
        simulate(LoihiNetwork([LoihiLayer(np.ones((2, 3)))]), np.full((4, 1, 3), 0.5))
    with pytest.raises(ShapeError, match="layer 0 has 2"):
        simulate(LoihiNetwork([LoihiLayer(np.ones((2, 3))), LoihiLayer(np.ones((2, 4)))]), np.zeros((4, 1, 3)))


# ------------------------------------------------------------------------------- recurrent populations
def test_recurrent_spike_reaches_its_own_population_one_step_later_plus_delay():
    # neuron 0 fires from the input; neuron 1 hears only neuron 0, through the recurrent synapse
    x = torch.zeros((10, 1, 1), dtype=torch.int64)
    x[2] = 1  # input at step 2 -> neuron 0 fires at step 3
    for delay, expect in ((None, 4), (np.array([[0, 0], [2, 0]]), 6)):
        la = LoihiLayer(np.array([[100], [0]]), du=4095, dv=4096, vth=0, rec_weights=np.array([[0, 0], [100, 0]]),
                        rec_delays=delay)
        for engine in ("numba", "torch"):
            s = simulate(LoihiNetwork([la]), x, engine=engine).spikes[0][:, 0]
            assert s[:, 0].nonzero().flatten().tolist() == [3]
            assert s[:, 1].nonzero().flatten().tolist() == [expect]


def _lava_order_reference(la: LoihiLayer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sample of a recurrent layer, process by process in Lava's order: the LIF receives the sum of
    both Dense's buffered outputs and fires; then each Dense sends, receives this step's spikes and
    adds their (shifted) sums per delay slot into its buffer."""
    w, r = la.effective_weight(), la.effective_rec_weight()
    dw = np.zeros(w.shape, int) if la.delays is None else la.delays
    dr = np.zeros(r.shape, int) if la.rec_delays is None else la.rec_delays
    T, n = x.shape[0], la.n_out
    bufs = [np.zeros((n, MAX_DELAY_TEST + 1), np.int64) for _ in range(2)]
    u = v = torch.zeros(n, dtype=torch.int64)
    out = [np.zeros((T, n), np.int64) for _ in range(3)]
    for t in range(T):
        u, v, spk = lif_update(u, v, torch.from_numpy(bufs[0][:, 0] + bufs[1][:, 0]), la.du, la.dv,
                               torch.from_numpy(la.bias()), la.vth)
        out[0][t], out[1][t], out[2][t] = spk.numpy(), u.numpy(), v.numpy()
        for buf, wm, dm, e, s_in in ((bufs[0], w, dw, la.weight_exp, x[t] != 0),
                                     (bufs[1], r, dr, la.rec_weight_exp, spk.numpy())):
            buf[:, 0] = 0
            buf[:] = np.roll(buf, -1, axis=1)
            for d in range(MAX_DELAY_TEST + 1):
                y = np.where(dm == d, wm, 0)[:, s_in].sum(1)
                buf[:, d] += (y << e) if e > 0 else (y >> -e)
    return out[0], out[1], out[2]


MAX_DELAY_TEST = 6


@pytest.mark.parametrize("max_delay", [0, MAX_DELAY_TEST])
@pytest.mark.parametrize("rec_exp", [-2, 0, 1])
def test_recurrent_layer_matches_lava_process_order(random_network, max_delay, rec_exp):
    rng = np.random.default_rng(20 + max_delay + rec_exp)
    net = random_network([10, 24], rng, max_delay=max_delay, recurrent=True)
    net.layers[0].rec_weight_exp = rec_exp
    x = torch.from_numpy((rng.random((30, 3, 10)) < 0.3).astype(np.int64))
    a = simulate(net, x, record=True)
    b = simulate(net, x, record=True, engine="torch")
    assert 0 < int(a.spikes[0].sum()) < a.spikes[0].numel()
    for p, q in ((a.spikes, b.spikes), (a.u, b.u), (a.v, b.v)):
        assert torch.equal(p[0], q[0])
    for k in range(3):
        s, u, v = _lava_order_reference(net.layers[0], x[:, k].numpy())
        assert np.array_equal(a.spikes[0][:, k].numpy(), s) and np.array_equal(a.u[0][:, k].numpy(), u)
        assert np.array_equal(a.v[0][:, k].numpy(), v)
    one = simulate(net, x[:, 1:2], record=True)  # batch 1 runs the serial kernel
    assert torch.equal(one.v[0][:, 0], a.v[0][:, 1])


def test_recurrent_layer_limits_and_file_round_trip(random_network, tmp_path):
    with pytest.raises(ShapeError, match=r"recurrent weights must be \[out, out\]"):
        LoihiLayer(np.ones((3, 2)), rec_weights=np.ones((3, 2)))
    with pytest.raises(DTypeError, match="recurrent weights must be integers"):
        LoihiLayer(np.ones((3, 2)), rec_weights=np.full((3, 3), 0.5))
    with pytest.raises(HardwareLimitError, match="recurrent synaptic delays"):
        LoihiLayer(np.ones((3, 2)), rec_weights=np.ones((3, 3)), rec_delays=np.full((3, 3), 63))
    with pytest.raises(ConfigError, match="without rec_weights"):
        LoihiLayer(np.ones((3, 2)), rec_delays=np.ones((3, 3)))
    rng = np.random.default_rng(2)
    net = random_network([5, 9, 4], rng, max_delay=3, recurrent=True)
    net.layers[1].rec_delays = None
    export_loihi(net, tmp_path / "r.net", quantization="fine")
    back = load_loihi(tmp_path / "r.net")
    for p, q in zip(net.layers, back.layers, strict=True):
        assert np.array_equal(p.rec_weights, q.rec_weights) and p.rec_weight_exp == q.rec_weight_exp
        assert (p.rec_delays is None) == (q.rec_delays is None) and p.rec_num_weight_bits == q.rec_num_weight_bits
    x = (rng.random((25, 2, 5)) < 0.4).astype(np.int64)
    assert all(torch.equal(p, q) for p, q in zip(simulate(net, x).spikes, simulate(back, x).spikes, strict=True))


# ------------------------------------------------------------------------------- quantization
def _exact_if_model(rng, delays: bool) -> nn.Module:
    """IF neurons and weights on a grid of 1/128 (max 254/128, min -256/128): exactly representable."""
    def grid(o, i):
        k = rng.integers(-128, 128, (o, i)) * 2
        k.flat[0], k.flat[1] = 254, -256
        return torch.tensor(k / 128, dtype=torch.float32)

    if delays:
        l1, l2 = DelayedLinear(10, 12, max_delay=5, mode="fixed"), DelayedLinear(12, 4, max_delay=5, mode="fixed")
    else:
        l1, l2 = SeqLinear(10, 12, bias=False), SeqLinear(12, 4, bias=False)
    with torch.no_grad():
        l1.weight.copy_(grid(12, 10))
        l2.weight.copy_(grid(4, 12))
    return nn.Sequential(l1, IF(v_threshold=1.0), l2, IF(v_threshold=1.0)).eval()


@pytest.mark.parametrize("delays", [False, True])
def test_exactly_representable_model_spikes_identically(delays):
    rng = np.random.default_rng(1)
    model = _exact_if_model(rng, delays)
    net, report = quantize(model)
    assert [la.weight_rel_error for la in report.layers] == [0.0, 0.0]
    assert [la.vth for la in report.layers] == [128 << 5, 128 << 5] and net.layers[0].weight_exp == 5
    x = torch.from_numpy((rng.random((30, 3, 10)) < 0.4).astype(np.float32))
    with torch.no_grad():
        ref = model(x)
    # weight_exp 0 leaves headroom: these IF neurons drift far below 0, where a finer scale saturates v
    got = evaluate_loihi(model, x, weight_exp=0)["output"]
    assert ref.sum() > 10
    assert torch.equal(got, ref)  # same spikes at the same (realigned) steps


def test_quantized_lif_model_tracks_the_float_model():
    torch.manual_seed(0)
    model = nn.Sequential(DelayedLinear(16, 32, max_delay=6, mode="fixed", bias=True), SeqBatchNorm(32),
                          LIF(beta=0.9, decay_input=False), nn.Dropout(0.1),
                          DelayedLinear(32, 5, max_delay=6, mode="fixed"), LI(beta=0.8, decay_input=False))
    model.train()
    with torch.no_grad():  # give the batch norm running statistics
        model(torch.poisson(torch.full((20, 8, 16), 0.3)))
        model[0].weight.mul_(2)
    model.eval()
    x = torch.poisson(torch.full((40, 4, 16), 0.3)).clamp(max=1)
    with torch.no_grad():
        ref = model(x)
    net, report = quantize(model)
    assert net.layers[1].readout and not net.layers[0].readout
    assert all(la.weight_rel_error < 0.01 for la in report.layers)
    assert report.layers[0].dv == round(4096 * 0.1) and report.layers[0].du == 4095
    assert abs(report.layers[0].beta_mem_quantized - 0.9) < 1e-3
    got = evaluate_loihi(model, x)["output"]
    assert got.shape == ref.shape
    err = (got - ref).abs().mean() / ref.abs().mean()
    shifted = (got[1:] - ref[:-1]).abs().mean() / ref.abs().mean()
    assert err < 0.1 and err < shifted / 3  # close, and aligned in time


def test_recurrent_layer_in_a_sequential_model_quantizes():
    from neuro.layers import Recurrent

    torch.manual_seed(1)
    model = nn.Sequential(Recurrent(8, 24, LIF(beta=0.8, decay_input=False), bias=False),
                          SeqLinear(24, 3, bias=False), LI(beta=0.8, decay_input=False)).eval()
    with torch.no_grad():
        model[0].ff.weight.mul_(3)
        model[0].rec.weight.mul_(2)
    net, report = quantize(model)
    assert net.layers[0].recurrent and not net.layers[1].recurrent and net.layers[1].readout
    assert report.layers[0].rec_weight_rel_error < 0.02 and report.layers[1].rec_weight_exp is None
    x = torch.poisson(torch.full((40, 4, 8), 0.3)).clamp(max=1)
    with torch.no_grad():
        hidden, ref = model[0](x), model(x)
    ours = simulate(net, torch.cat([x.long(), torch.zeros((1, 4, 8), dtype=torch.long)])).spikes[0][1:]
    assert hidden.sum() > 50 and (ours.float() == hidden).float().mean() > 0.98
    got = evaluate_loihi(model, x)["output"]
    assert (got - ref).abs().mean() / ref.abs().mean() < 0.05
    with pytest.raises(ConfigError, match="two synapse layers in a row"):
        quantize(nn.Sequential(SeqLinear(3, 8), Recurrent(8, 4, LIF())))


def test_cuba_decays_map_to_du_and_dv():
    layers = float_layers(nn.Sequential(SeqLinear(3, 2, bias=False), CubaLIF(beta_syn=1.0, beta_mem=0.5)))
    net, rep = quantize(layers)
    assert (net.layers[0].du, net.layers[0].dv) == (-1, 2048)  # no current decay: du = -1 (netx iDecay 0)
    net, rep = quantize([FloatLayer(weight=np.ones((2, 3)), beta_mem=1.0, beta_syn=0.75, v_threshold=2.0)])
    assert (net.layers[0].du, net.layers[0].dv, net.layers[0].sign_mode) == (1023, 0, EXCITATORY)
    lif_in = float_layers(nn.Sequential(SeqLinear(3, 2), LIF(beta=0.75, decay_input=True)))[0]
    assert lif_in.beta_syn is None and lif_in.v_threshold == 1.0


def test_unsupported_and_out_of_range_are_refused_or_reported():
    with pytest.raises(ConfigError, match="soft"):
        quantize(nn.Sequential(SeqLinear(3, 2), LIF(v_reset=None)))
    with pytest.raises(ConfigError, match="ALIF"):
        quantize(nn.Sequential(SeqLinear(3, 2), ALIF()))
    with pytest.raises(ConfigError, match="not supported"):
        quantize(nn.Sequential(nn.Conv1d(3, 2, 1), LIF()))
    with pytest.raises(ConfigError, match="bias into a CubaLIF"):
        quantize(nn.Sequential(SeqLinear(3, 2, bias=True), CubaLIF(beta_syn=0.5)))
    with pytest.raises(ConfigError, match="per-neuron decays"):
        cuba = CubaLIF(learn_decays=True, shape=(2,), tau_syn=2.0, tau_mem=3.0)
        with torch.no_grad():
            cuba.beta_mem.logit[0] += 1
        quantize(nn.Sequential(SeqLinear(3, 2, bias=False), cuba))
    long = [FloatLayer(weight=np.ones((2, 3)), beta_mem=0.5, delay=np.array([[0, 70, 5], [63, 1, 2]]))]
    with pytest.raises(HardwareLimitError, match="2 delays exceed"):
        quantize(long)
    net, rep = quantize(long, clip=True)
    assert rep.layers[0].clipped_delays == 2 and net.layers[0].delays.max() == 62
    assert any("clipped" in n for n in rep.layers[0].notes) and "clipped" in str(rep)
    tiny = [FloatLayer(weight=np.array([[1.0, -1.0]]), beta_mem=0.5, v_threshold=1e6)]
    with pytest.raises(HardwareLimitError, match="threshold"):
        quantize(tiny)


# ------------------------------------------------------------------------------- deployment files
def test_deployment_file_round_trip_in_netx_layout(random_network, tmp_path):
    rng = np.random.default_rng(5)
    net = random_network([6, 9, 4], rng, max_delay=7)
    net.layers[1].delays = None
    export_loihi(net, tmp_path / "n.net", quantization="fine")
    with h5py.File(tmp_path / "n.net") as h:
        g = h["layer/0"]
        assert g["type"][0] == b"dense" and g["neuron/type"][0] == b"CUBA"
        assert int(g["neuron/iDecay"][()]) == net.layers[0].du + 1 and int(g["neuron/vDecay"][()]) == net.layers[0].dv
        assert int(g["neuron/vThMant"][()]) == net.layers[0].vth and tuple(g["weight"].shape) == (9, 6)
        assert "delay" in g and "delay" not in h["layer/1"]
    back = load_loihi(tmp_path / "n.net")
    for a, b in zip(net.layers, back.layers, strict=True):
        assert np.array_equal(a.weights, b.weights) and (a.du, a.dv, a.vth, a.weight_exp) == (b.du, b.dv, b.vth,
                                                                                                b.weight_exp)
    x = (rng.random((25, 2, 6)) < 0.4).astype(np.int64)
    r1, r2 = simulate(net, x, record=True), simulate(back, x, record=True)
    assert all(torch.equal(p, q) for p, q in zip(r1.v, r2.v, strict=True))
    (tmp_path / "bad.net").write_text("not hdf5")
    with pytest.raises(Exception, match="not an HDF5"):
        load_loihi(tmp_path / "bad.net")


def test_export_command_writes_a_loadable_file(tmp_path):
    import json
    import subprocess
    import sys

    from neuro.models import build_model
    from neuro.training import TrainConfig, Trainer

    cfg = dict(n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4, right_pad=0)
    model = build_model("delay_snn", **cfg)
    data = torch.utils.data.TensorDataset(torch.poisson(torch.full((8, 12, 6), 0.5)), torch.randint(0, 3, (8,)))
    Trainer(model, data, None, TrainConfig(epochs=1, batch_size=4, out_dir=str(tmp_path), progress=False),
            model_name="delay_snn", model_config=cfg).fit()
    r = subprocess.run([sys.executable, "-m", "neuro", "export", str(tmp_path / "last.ckpt"), "--to", "loihi",
                        str(tmp_path / "m.net"), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert len(info["quantization"]["layers"]) == 2
    net = load_loihi(tmp_path / "m.net")
    assert net.sizes == [6, 5, 3] and net.layers[1].readout and net.layers[0].delays.max() <= 4
    assert set(np.unique(net.layers[0].weights) % 2) == {0}  # mixed sign: even mantissas
    assert net.layers[0].sign_mode == MIXED


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("recurrent", [False, True])
def test_cuda_matches_cpu(random_network, recurrent):
    rng = np.random.default_rng(8)
    net = random_network([20, 30, 10], rng, max_delay=10, extremes=not recurrent, recurrent=recurrent)
    x = torch.from_numpy((rng.random((50, 4, 20)) < 0.3).astype(np.int64))
    a, b = simulate(net, x, record=True), simulate(net, x, record=True, device="cuda")
    for k in range(2):
        assert torch.equal(a.spikes[k], b.spikes[k].cpu()) and torch.equal(a.v[k], b.v[k].cpu())
        assert torch.equal(a.u[k], b.u[k].cpu())
