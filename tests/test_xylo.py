"""The Xylo target: the batched simulator against the vendor's xylosim (bit for bit), quantization, the
deployment file, evaluation and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from neuro.errors import ConfigError, DataError, HardwareLimitError
from neuro.hardware.xylo import (
    XyloNetwork,
    evaluate_xylo,
    quantize,
    run_xylosim,
    simulate,
    xylosim_available,
)
from neuro.layers import DelayedLinear, Recurrent, SeqLinear
from neuro.neurons import LIF, CubaLI, CubaLIF, MultiSpikeCubaLIF

HAVE_XYLOSIM, WHY = xylosim_available()
needs_xylosim = pytest.mark.skipif(not HAVE_XYLOSIM, reason=WHY or "xylosim missing")
FIELDS = ("spikes", "out_spikes", "v", "isyn", "v_out", "isyn_out")


def rand_net(g: np.random.Generator, *, n_in=6, n=18, n_out=4, syn=2, rec=0.3, shifts=(2, 1, 2), dash=(1, 5),
             thr=(500, 5000), bias=0) -> XyloNetwork:
    return XyloNetwork(
        w_in=g.integers(-128, 128, (n_in, n, syn)), w_rec=g.integers(-128, 128, (n, n, syn)) * (g.random((n, n, syn))
                                                                                               < rec),
        w_out=g.integers(-128, 128, (n, n_out)), dash_mem=g.integers(*dash, n), dash_syn=g.integers(max(1, dash[0]),
                                                                                                   dash[1], (n, syn)),
        threshold=g.integers(*thr, n), dash_mem_out=g.integers(*dash, n_out),
        dash_syn_out=g.integers(max(1, dash[0]), dash[1], n_out), threshold_out=g.integers(*thr, n_out),
        bias=g.integers(-bias, bias + 1, n), bias_out=g.integers(-bias, bias + 1, n_out), weight_shift_in=shifts[0],
        weight_shift_rec=shifts[1], weight_shift_out=shifts[2]).validate()


def counts(g: np.random.Generator, T: int, B: int, n_in: int, top: int = 4, rate: float = 0.3) -> torch.Tensor:
    return torch.from_numpy(g.integers(1, top + 1, (T, B, n_in)) * (g.random((T, B, n_in)) < rate))


def assert_bit_exact(net: XyloNetwork, x: torch.Tensor):
    ours, theirs = simulate(net, x, record=True), run_xylosim(net, x)
    for f in FIELDS:
        assert torch.equal(getattr(ours, f), getattr(theirs, f)), f
    return ours


@needs_xylosim
@pytest.mark.parametrize("kind", ["feedforward", "recurrent", "one_synapse", "extreme"])
def test_random_networks_match_xylosim_bit_for_bit(kind):
    g = np.random.default_rng(["feedforward", "recurrent", "one_synapse", "extreme"].index(kind))
    opts = {"feedforward": {"rec": 0.0}, "recurrent": {"bias": 300}, "one_synapse": {"syn": 1, "rec": 0.5},
            "extreme": {"shifts": (7, 7, 7), "dash": (0, 16), "thr": (1, 200), "bias": 30000}}[kind]
    net = rand_net(g, **opts)
    r = assert_bit_exact(net, counts(g, 40, 3, net.n_in, top=20 if kind == "extreme" else 4))
    assert r.spikes.sum() > 0 and r.v.abs().max() > 0
    if kind == "extreme":  # the saturating and multi-spike paths are exercised
        assert int(r.spikes.max()) == 31 and int(r.isyn.max()) > 32700 and int(r.isyn.min()) < -32700
        assert int(r.v.min()) == -32768


@needs_xylosim
def test_saturation_follows_xylosim_order_not_the_clamped_sum():
    # 15 spikes of 127 << 7 saturate the current at 32767, then one spike of -100 << 7 takes it to 19967;
    # clamping the total instead would leave 32767.  The decay (dash 15) then removes 1.
    net = XyloNetwork(w_in=np.array([[[127]], [[-100]]]), w_rec=np.zeros((1, 1, 1)), w_out=np.ones((1, 1)),
                      dash_mem=[0], dash_syn=[[15]], threshold=[32767], dash_mem_out=[1], dash_syn_out=[1],
                      threshold_out=[100], weight_shift_in=7).validate()
    r = assert_bit_exact(net, torch.tensor([[[15, 1]], [[0, 0]]]))
    assert int(r.isyn[0, 0, 0, 0]) == 19966


@needs_xylosim
def test_most_negative_membrane_with_no_decay_wraps_like_xylosim():
    # v = -32768 and dash_mem 0: -decay(v) = 32768 does not fit 16 bits and wraps to -32768 on the chip, so
    # with the currents at -16384 in total the membrane stays at -32768 (without the wrap it would rise to -16384)
    net = XyloNetwork(w_in=np.array([[[-128, -128]]]), w_rec=np.zeros((1, 1, 2)), w_out=np.zeros((1, 1)),
                      dash_mem=[0], dash_syn=[[1, 1]], threshold=[1000], dash_mem_out=[1], dash_syn_out=[1],
                      threshold_out=[1], weight_shift_in=7).validate()
    r = assert_bit_exact(net, torch.tensor([[[15]], [[0]], [[0]]]))
    assert int(r.v[0, 0, 0]) == -32768 and int(r.isyn[1, 0, 0].sum()) == -16384 and int(r.v[1, 0, 0]) == -32768


def fsdd_like_model(n_in=8, hidden=24, n_out=5, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    m = nn.Sequential(Recurrent(n_in, hidden, MultiSpikeCubaLIF(tau_syn=2.0, tau_mem=4.0), bias=False),
                      SeqLinear(hidden, n_out, bias=False), CubaLI(tau_syn=2.0, tau_mem=8.0, backend="torch"))
    with torch.no_grad():
        m[0].ff.weight.mul_(0.6)
        m[0].rec.weight.mul_(0.3)
    return m


@needs_xylosim
def test_quantized_model_is_bit_exact_and_follows_the_float_model():
    m = fsdd_like_model()
    g = np.random.default_rng(1)
    x = counts(g, 60, 8, 8, top=3, rate=0.2)
    r = evaluate_xylo(m, x)
    net = r["network"]
    assert net.meta["readout"] and net.n_in == 8 and net.n_hidden == 24 and net.n_out == 5
    assert_bit_exact(net, x[:, :3])
    with torch.no_grad():
        f = m(x.float())
    q = r["output"]
    assert q.shape == f.shape and r["spikes"] > 100
    corr = np.corrcoef(f.flatten().numpy(), q.flatten().numpy())[0, 1]
    assert corr > 0.97, corr
    assert (f.sum(0).argmax(-1) == q.sum(0).argmax(-1)).float().mean() >= 0.75


def test_quantize_maps_decays_thresholds_and_reports():
    net, rep = quantize(fsdd_like_model())
    hid, out = rep.populations
    assert (hid.dash_syn, hid.dash_mem, out.dash_syn, out.dash_mem) == (1, 2, 1, 3)  # tau 2, 4, 2, 8: exact
    assert hid.threshold == 4096 and int(net.threshold[0]) == 4096 and int(net.threshold_out[0]) == 32767
    assert hid.weight_rel_error < 0.01 and hid.rec_weight_rel_error < 0.02
    assert rep.resources["hidden"] == 24 and 500 < rep.resources["rec_synapses"] <= 24 * 24  # tiny ones round to 0
    assert str(rep).splitlines()[1].startswith("Recurrent#0  8->24")
    # a one-spike float neuron with a hard reset is noted as a difference, not refused
    m = nn.Sequential(SeqLinear(4, 6, bias=False), CubaLIF(2.0, 4.0), SeqLinear(6, 2, bias=False), CubaLI(2.0, 8.0))
    _, rep = quantize(m)
    notes = " ".join(rep.populations[0].notes)
    assert "resets to 0" in notes and "up to 1 spike" in notes


def test_what_does_not_fit_is_refused_or_clipped_and_reported():
    m3 = nn.Sequential(SeqLinear(4, 6), LIF(), SeqLinear(6, 6), LIF(), SeqLinear(6, 2), CubaLI())
    with pytest.raises(HardwareLimitError, match="one hidden population"):
        quantize(m3)
    with pytest.raises(HardwareLimitError, match="17 input channels"):
        quantize(nn.Sequential(SeqLinear(17, 6, bias=False), CubaLIF(), SeqLinear(6, 2, bias=False), CubaLI()))
    with pytest.raises(HardwareLimitError, match="only the first 128"):
        quantize(nn.Sequential(SeqLinear(4, 200, bias=False), CubaLIF(), SeqLinear(200, 2, bias=False), CubaLI()))
    delayed = nn.Sequential(DelayedLinear(4, 6, 3, "fixed", bias=False), CubaLIF(), SeqLinear(6, 2, bias=False),
                            CubaLI())
    with pytest.raises(HardwareLimitError, match="no synaptic delays"):
        quantize(delayed)
    _, rep = quantize(delayed, clip=True)
    assert rep.populations[0].dropped_delays > 0 and "clipped" in " ".join(rep.populations[0].notes)
    tiny = nn.Sequential(SeqLinear(4, 6, bias=False), CubaLIF(v_threshold=1e-6), SeqLinear(6, 2, bias=False), CubaLI())
    with pytest.raises(HardwareLimitError, match="threshold"):
        quantize(tiny, vth_target=4)
    with pytest.raises(ConfigError, match="bias into a CubaLIF"):
        quantize(nn.Sequential(SeqLinear(4, 6), CubaLIF(), SeqLinear(6, 2, bias=False), CubaLI()))


def test_network_checks_its_fields_and_the_core():
    g = np.random.default_rng(0)
    net = rand_net(g)
    with pytest.raises(HardwareLimitError, match="weight_shift_in"):
        XyloNetwork(**{**vars(net), "weight_shift_in": 8}).validate()
    with pytest.raises(HardwareLimitError, match="threshold"):
        XyloNetwork(**{**vars(net), "threshold": np.zeros(net.n_hidden)}).validate()
    with pytest.raises(HardwareLimitError, match="dash_mem"):
        XyloNetwork(**{**vars(net), "dash_mem": np.full(net.n_hidden, 16)}).validate()
    with pytest.raises(HardwareLimitError, match="w_in"):
        XyloNetwork(**{**vars(net), "w_in": net.w_in * 2}).validate()
    with pytest.raises(DataError, match="0, 255"):
        simulate(net, torch.full((2, 1, net.n_in), 300))


def test_deployment_file_round_trip_and_bad_files(tmp_path):
    g = np.random.default_rng(3)
    net = rand_net(g, bias=100)
    net.state_scale_out = 12.5
    p = tmp_path / "net.json"
    net.save(p, {"note": "x"})
    back = XyloNetwork.load(p)
    for k in ("w_in", "w_rec", "w_out", "dash_mem", "dash_syn", "threshold", "bias", "bias_out", "threshold_out"):
        assert np.array_equal(getattr(back, k), getattr(net, k)), k
    assert back.state_scale_out == 12.5 and back.weight_shift_rec == net.weight_shift_rec
    x = counts(g, 20, 2, net.n_in)
    assert torch.equal(simulate(back, x).spikes, simulate(net, x).spikes)
    spec = json.loads(p.read_text())["spec"]
    assert {"weights_in", "weights_rec", "weights_out", "dash_syn_2", "threshold_out", "bias"} <= set(spec)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not a readable"):
        XyloNetwork.load(bad)
    doc = json.loads(p.read_text())
    doc["spec"]["weights_in"][0][0][0] = 999
    bad.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="w_in"):
        XyloNetwork.load(bad)
    assert not list(tmp_path.glob("*.tmp"))


def test_multispike_neuron_counts_and_gradient():
    n = MultiSpikeCubaLIF(tau_syn=2.0, tau_mem=4.0, max_spikes=3)
    x = torch.tensor([[[2.5]], [[10.0]], [[0.0]]], requires_grad=True)
    y = n(x)
    # i: 2.5, 11.25, 5.625; h: 2.5 -> 2 spikes, v 0.5; 0.375 + 11.25 = 11.625 -> 3 (capped), v 8.625
    assert y.flatten().tolist() == [2.0, 3.0, 3.0]
    y.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with pytest.raises(ConfigError, match="v_reset"):
        MultiSpikeCubaLIF(v_reset=0.0)


def test_cli_export_and_bench(tmp_path):
    from neuro.models import build_model, save_checkpoint

    m = build_model("xylo_snn", n_in=8, hidden=16, n_out=4)
    ck = tmp_path / "m.ckpt"
    save_checkpoint({"model_name": "xylo_snn", "model_config": {"n_in": 8, "hidden": 16, "n_out": 4},
                     "state_dict": m.state_dict(), "dt": 0.02}, ck)
    out = tmp_path / "m.json"
    r = subprocess.run([sys.executable, "-m", "neuro", "export", str(ck), "--to", "xylo", str(out), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert len(info["quantization"]["populations"]) == 2
    net = XyloNetwork.load(out)
    assert net.n_hidden == 16 and net.dt == 0.02
    if not HAVE_XYLOSIM:
        return
    r = subprocess.run([sys.executable, "-m", "neuro", "bench", "xylo", "--steps", "20", "--batch", "4",
                        "--xylosim-samples", "2", "--repeat", "1", "--checkpoint", str(ck), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["bit_exact"] is True and len(b["runs"]) == 4 and all(x["bit_exact"] for x in b["runs"])
    assert b["runs"][2]["max_spikes_per_step"] == 31


def test_eval_checkpoint_on_the_xylo_backend(shared_data, tmp_path, capsys):
    from neuro.experiments.delays import XYLO_ENCODING, evaluate_checkpoint, load_splits
    from neuro.models import build_model, save_checkpoint

    record = load_splits("fsdd", shared_data, encoding=XYLO_ENCODING).record
    record["splits"]["test"]["files"] = record["splits"]["test"]["files"][:6]
    config = {"n_in": 14, "hidden": 16, "n_out": 10, "input_length": 40}
    m = build_model("xylo_snn", **config)
    ck = tmp_path / "x.ckpt"
    save_checkpoint({"model_name": "xylo_snn", "model_config": config, "state_dict": m.state_dict(), "dt": 0.02,
                     "data": record}, ck)
    f = evaluate_checkpoint(ck)
    q = evaluate_checkpoint(ck, backend="xylo")
    assert q["samples"] == 6 and q["float_accuracy"] == pytest.approx(f["accuracy"])
    assert 0 <= q["accuracy"] <= 1 and 0 <= q["agreement_with_float"] <= 1 and q["inputs_capped_at_15"] == 0
    assert [p["name"] for p in q["quantization"]["populations"]] == ["Recurrent#0", "SeqLinear#2"]
    from neuro.cli import main

    assert main(["eval", str(ck), "--backend", "xylo"]) == 0  # the text report: accuracies and a table
    text = capsys.readouterr().out
    assert "agreement with float" in text and "Xylo quantization per population" in text and "Recurrent#0" in text
