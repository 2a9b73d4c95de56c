"""Deployment files that lava-dl netx runs exactly as neuro's loihi backend does.

netx reads a file's integer weights at weight exponent 0 and its biases at exponent 6, and reads
recurrent layers only as ``dense_rec``; the ``netx`` quantization (the export default) keeps to
that, and ``neuro lava run --backend netx`` checks every spike, ``u`` and ``v`` against netx itself
(lava-dl 0.6.0 in the Lava environment; those tests skip where it is missing).
"""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from neuro.errors import ConfigError, HardwareLimitError
from neuro.hardware.float_layers import FloatLayer
from neuro.hardware.loihi import (
    export_loihi,
    load_loihi,
    netx_problems,
    netx_status,
    quantize,
    run_lava_many,
    simulate,
)

NETX_OK, NETX_WHY = netx_status()
needs_netx = pytest.mark.skipif(not NETX_OK, reason=f"lava-dl netx missing in the Lava environment ({NETX_WHY})")


def _layers(kind: str, seed: int = 0) -> list[FloatLayer]:
    """Float layers of a small network: feed-forward (bias, CubaLIF, readout), delayed or recurrent."""
    rng = np.random.default_rng(seed)

    def fl(n_in, n_out, delay=False, rec=False, bias=True, thr=1.0, beta_syn=None, name=""):
        return FloatLayer(weight=rng.normal(0, 1.2 / np.sqrt(n_in), (n_out, n_in)),
                          delay=rng.integers(0, 6, (n_out, n_in)) if delay else None,
                          bias=rng.normal(0, 0.05, n_out) if bias else None, beta_mem=0.9, beta_syn=beta_syn,
                          v_threshold=thr, name=name,
                          rec_weight=rng.normal(0, 0.4 / np.sqrt(n_out), (n_out, n_out)) if rec else None)

    if kind == "feed-forward":
        return [fl(10, 16), fl(16, 8, bias=False, beta_syn=0.8), fl(8, 4, thr=None)]
    if kind == "delayed":
        return [fl(10, 16, delay=True), fl(16, 6, delay=True, thr=None)]
    return [fl(10, 16, rec=True), fl(16, 5)]


KINDS = ["feed-forward", "delayed", "recurrent"]


@pytest.mark.parametrize("kind", KINDS)
def test_netx_quantization_has_exponent_0_and_bias_exponent_6(kind):
    net, report = quantize(_layers(kind), quantization="netx")
    assert netx_problems(net) == []
    for la, rep in zip(net.layers, report.layers, strict=True):
        assert la.weight_exp == 0 and rep.weight_exp == 0
        assert la.rec_weight_exp == 0
        assert np.all((np.asarray(la.bias_exp) == 6) | (la.bias_mant == 0))
        assert rep.weight_rel_error < 0.02  # 8-bit mantissas: the weights keep their precision
    fine, _ = quantize(_layers(kind), quantization="fine")
    assert any("weight exponent" in p for p in netx_problems(fine))  # fine shifts weights netx would not


@pytest.mark.parametrize("kind", KINDS)
def test_default_export_is_in_netx_layout_and_reads_back_the_same(kind, tmp_path):
    fls = _layers(kind)
    export_loihi(fls, tmp_path / "m.net")  # default: quantization="netx"
    net, _ = quantize(_layers(kind), quantization="netx")
    with h5py.File(tmp_path / "m.net") as h:
        for k, la in enumerate(net.layers):
            g = h[f"layer/{k}"]
            assert int(g["weightExp"][()]) == 0 and set(np.unique(g["biasExp"][()])) == {6}
            assert np.array_equal(g["weight"][()], la.effective_weight())
            assert "recurrent" not in g
            assert g["type"][0] == (b"dense_rec" if la.recurrent else b"dense")
            if la.recurrent:
                assert np.array_equal(g["weight_rec"][()], la.effective_rec_weight())
    back = load_loihi(tmp_path / "m.net")
    assert netx_problems(back) == [] and sum(la.recurrent for la in back.layers) == (kind == "recurrent")
    x = (np.random.default_rng(1).random((40, 2, 10)) < 0.3).astype(np.int64)
    a, b = simulate(net, x, record=True), simulate(back, x, record=True)
    for k in range(len(net.layers)):
        assert torch.equal(a.spikes[k], b.spikes[k]) and torch.equal(a.v[k], b.v[k])
    assert int(a.spikes[0].sum()) > 0


def test_what_netx_cannot_run_is_refused_with_the_reason(tmp_path):
    fls = _layers("recurrent")
    fls[0].rec_delay = np.ones((16, 16))
    with pytest.raises(HardwareLimitError, match="dense_rec.*--quantization fine"):
        export_loihi(fls, tmp_path / "r.net")
    assert not (tmp_path / "r.net").exists()
    fls[0].rec_delay, fls[0].delay = None, np.zeros((16, 10))  # zero delays are no delays: netx's dense_rec
    export_loihi(fls, tmp_path / "r.net")
    with h5py.File(tmp_path / "r.net") as h:
        assert h["layer/0/type"][0] == b"dense_rec" and "delay" not in h["layer/0"]
    fls[0].rec_delay = np.ones((16, 16))
    export_loihi(fls, tmp_path / "r.net", quantization="fine")  # neuro's layout: a 'recurrent' subgroup
    problems = netx_problems(load_loihi(tmp_path / "r.net"))
    assert any("'recurrent' subgroup, which netx ignores" in p for p in problems)
    fine, _ = quantize(_layers("feed-forward"))
    with pytest.raises(ConfigError, match="cannot be written so that lava-dl netx runs it exactly"):
        export_loihi(fine, tmp_path / "f.net")
    with pytest.raises(ConfigError, match="weight exponent 0"):
        quantize(_layers("feed-forward"), quantization="netx", weight_exp=2)
    zero = _layers("feed-forward")
    zero[1].weight[:] = 0
    assert any("all weights are 0" in p for p in netx_problems(quantize(zero, quantization="netx")[0]))
    # the command refuses a file netx would compute differently before running anything
    export_loihi(fine, tmp_path / "f.net", quantization="fine")
    np.save(tmp_path / "x.npy", np.zeros((5, 10), np.int64))
    r = subprocess.run([sys.executable, "-m", "neuro", "lava", "run", str(tmp_path / "f.net"), "--input",
                        str(tmp_path / "x.npy"), "--backend", "netx"], capture_output=True, text=True)
    assert r.returncode == 2 and "netx would compute this file differently" in r.stderr
    assert "--quantization netx" in r.stderr


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small delay model (delays, batch norm folded into biases, LI readout) after one training epoch."""
    from neuro.models import build_model
    from neuro.training import TrainConfig, Trainer

    tmp_path = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    cfg = dict(n_in=6, hidden=12, n_layers=1, n_out=3, max_delay=5, right_pad=0)
    model = build_model("delay_snn", **cfg)
    data = torch.utils.data.TensorDataset(torch.poisson(torch.full((8, 20, 6), 0.6)), torch.randint(0, 3, (8,)))
    Trainer(model, data, None, TrainConfig(epochs=1, batch_size=4, out_dir=str(tmp_path), progress=False),
            model_name="delay_snn", model_config=cfg).fit()
    return tmp_path / "last.ckpt"


def test_export_command_quantization_option(checkpoint, tmp_path, capsys):
    from neuro.cli import main

    ckpt = checkpoint
    capsys.readouterr()
    for q in ("netx", "fine"):
        assert main(["export", str(ckpt), "--to", "loihi", str(tmp_path / f"{q}.net"), "--quantization", q,
                     "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["quantization_scheme"] == q
    assert netx_problems(load_loihi(tmp_path / "netx.net")) == []
    assert netx_problems(load_loihi(tmp_path / "fine.net"))  # finer exponents: not what netx reads


@needs_netx
@pytest.mark.lava
def test_netx_runs_feed_forward_delayed_recurrent_and_graded_files_bit_exactly(tmp_path):
    rng = np.random.default_rng(3)
    jobs, nets = [], []
    for kind in KINDS:
        net, _ = quantize(_layers(kind), quantization="netx")
        export_loihi(net, tmp_path / f"{kind}.net")
        nets.append(load_loihi(tmp_path / f"{kind}.net"))
        jobs.append((str(tmp_path / f"{kind}.net"), (rng.random((30, 1, 10)) < 0.3).astype(np.int64)))
    graded, _ = quantize(_layers("delayed", seed=1), quantization="netx", num_message_bits=8)
    nets.append(graded)
    jobs.append((graded, rng.integers(0, 6, (30, 1, 10)) * (rng.random((30, 1, 10)) < 0.4)))
    results = run_lava_many(jobs, engine="netx")
    for (_, x), net, theirs, name in zip(jobs, nets, results, [*KINDS, "graded"], strict=True):
        ours = simulate(net, x, record=True)
        assert int(ours.spikes[0].sum()) > 0, name
        for k in range(len(net.layers)):
            assert np.array_equal(ours.spikes[k].numpy(), theirs.spikes[k]), (name, k)
            assert np.array_equal(ours.u[k].numpy(), theirs.u[k]), (name, k)
            assert np.array_equal(ours.v[k].numpy(), theirs.v[k]), (name, k)
    # the Lava bridge reads netx's dense_rec layer too
    lava = run_lava_many([jobs[2]], engine="lava")[0]
    ours = simulate(nets[2], jobs[2][1], record=True)
    assert all(np.array_equal(ours.v[k].numpy(), lava.v[k]) for k in range(2))


@needs_netx
@pytest.mark.lava
def test_lava_run_netx_reports_bit_exact_for_an_exported_checkpoint(checkpoint, tmp_path):
    ckpt = checkpoint
    r = subprocess.run([sys.executable, "-m", "neuro", "export", str(ckpt), "--to", "loihi", str(tmp_path / "m.net"),
                        "--num-message-bits", "8"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    x = torch.poisson(torch.full((30, 2, 6), 0.6)).numpy().astype(np.int64)  # graded spike counts
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run([sys.executable, "-m", "neuro", "lava", "run", str(tmp_path / "m.net"), "--input",
                        str(tmp_path / "x.npy"), "--backend", "netx", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["bit_exact"] is True and out["sizes"] == [6, 12, 3] and (out["steps"], out["batch"]) == (30, 2)
    assert [la["mismatched_spikes"] + la["mismatched_u"] + la["mismatched_v"] for la in out["layers"]] == [0, 0]
    assert out["layers"][0]["loihi_spikes"] == out["layers"][0]["netx_spikes"] > 0
