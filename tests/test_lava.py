"""The loihi backend against Lava's own bit-accurate models (lava-nc 0.10 in its Python 3.10
environment, through the lava bridge): every spike, and u and v at every step, must agree."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neuro.hardware.loihi import (
    LoihiLayer,
    LoihiNetwork,
    export_loihi,
    lava_status,
    quantize,
    run_lava,
    run_lava_many,
    simulate,
)
from neuro.hardware.loihi import lava as lava_bridge

LAVA_OK, LAVA_WHY = lava_status()
needs_lava = pytest.mark.skipif(not LAVA_OK, reason=f"Lava environment missing ({LAVA_WHY})")


def _trained_delay_model():
    """A small SHD-style delay model (delays, batch norm, LIF, LI readout) after a few training steps."""
    from neuro.models import build_model

    torch.manual_seed(0)
    model = build_model("delay_snn", n_in=12, hidden=16, n_layers=2, n_out=4, max_delay=8, right_pad=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.poisson(torch.full((30, 8, 12), 0.2)).clamp(max=1)
    y = torch.randint(0, 4, (8,))
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(torch.softmax(model(x), -1).sum(0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.after_step()
    return model.eval()


def _cases(random_network) -> list[tuple[str, LoihiNetwork, np.ndarray]]:
    rng = np.random.default_rng(11)
    cases = []
    spikes = lambda T, B, n, p=0.3: (rng.random((T, B, n)) < p).astype(np.int64)  # noqa: E731
    cases.append(("dense 5-8-3", random_network([5, 8, 3], rng), spikes(50, 1, 5)))
    cases.append(("delays 12-20-16-4", random_network([12, 20, 16, 4], rng, max_delay=9), spikes(60, 2, 12)))
    cases.append(("extremes 10-24-6", random_network([10, 24, 6], rng, max_delay=62, extremes=True),
                  spikes(80, 1, 10, 0.5)))
    neg = random_network([30, 40, 10], rng, max_delay=12)
    for la in neg.layers:
        la.weight_exp = -2  # the floor shift per delay slot
    cases.append(("negative weight_exp 30-40-10", neg, spikes(50, 1, 30)))
    cases.append(("graded input 8-12-5", random_network([8, 12, 5], rng, max_delay=3, graded_bits=8),
                  rng.integers(0, 200, (40, 1, 8)) * (rng.random((40, 1, 8)) < 0.4)))
    big = LoihiLayer(rng.integers(-256, 256, (16, 64)), du=-1, dv=0, vth=1, weight_exp=7, name="wrap")
    cases.append(("24-bit wrap and saturation 64-16", LoihiNetwork([big]), spikes(30, 1, 64, 0.9)))
    net, _ = quantize(_trained_delay_model())
    cases.append(("trained delay model 12-16-16-4", net, spikes(60, 2, 12, 0.2)))
    # recurrent populations: a Dense from the LIF's s_out back to its a_in (E/I signs by presynaptic neuron)
    cases.append(("recurrent E/I 20-60", random_network([20, 60], rng, recurrent=True), spikes(30, 2, 20)))
    deep = random_network([12, 30, 20, 5], rng, max_delay=4, recurrent=True)
    deep.layers[1].rec_weight_exp = -2  # floor shift per step and delay slot on the recurrent DelayDense
    cases.append(("recurrent DelayDense 12-30-20-5", deep, spikes(30, 2, 12)))
    return cases


N_CASES = 9


@pytest.fixture(scope="module")
def lava_runs(random_network):
    if not LAVA_OK:
        pytest.skip(f"Lava environment missing ({LAVA_WHY})")
    cases = _cases(random_network)
    return cases, run_lava_many([(net, x) for _, net, x in cases], record=True)


@needs_lava
@pytest.mark.lava
@pytest.mark.parametrize("case", range(N_CASES))
def test_spikes_and_states_match_lava_every_step(lava_runs, case):
    cases, results = lava_runs
    name, net, x = cases[case]
    ours, theirs = simulate(net, x, record=True), results[case]
    assert sum(int(s.sum()) for s in ours.spikes) > 0, name
    for k in range(len(net.layers)):
        np.testing.assert_array_equal(ours.spikes[k].numpy(), theirs.spikes[k], err_msg=f"{name}: layer {k} spikes")
        np.testing.assert_array_equal(ours.u[k].numpy(), theirs.u[k], err_msg=f"{name}: layer {k} u")
        np.testing.assert_array_equal(ours.v[k].numpy(), theirs.v[k], err_msg=f"{name}: layer {k} v")


@needs_lava
@pytest.mark.lava
def test_recurrent_cases_depend_on_the_recurrence(lava_runs):
    cases, results = lava_runs
    assert len(cases) == N_CASES
    for case in (7, 8):
        name, net, x = cases[case]
        assert all(la.recurrent for la in net.layers)
        for la in net.layers:
            assert (la.rec_weights > 0).any() and (la.rec_weights < 0).any()  # excitatory and inhibitory neurons
        cut = LoihiNetwork([dataclasses.replace(la, rec_weights=None, rec_delays=None) for la in net.layers])
        ff = simulate(cut, x).spikes
        # Lava's spikes differ from the same layers without their recurrent synapses: the loop is really built
        assert any(not np.array_equal(ff[k].numpy(), results[case].spikes[k]) for k in range(len(net.layers))), name


@needs_lava
@pytest.mark.lava
def test_the_wrap_case_really_wraps(lava_runs):
    cases, results = lava_runs
    u = results[5].u[0]
    assert u.max() > (1 << 22) and u.min() < -(1 << 22)  # the current crossed the 24-bit boundary


@needs_lava
@pytest.mark.lava
def test_lava_run_command_loads_deployment_file(random_network, tmp_path):
    rng = np.random.default_rng(4)
    net = random_network([7, 11, 3], rng, max_delay=5)
    export_loihi(net, tmp_path / "n.net", quantization="fine")
    np.save(tmp_path / "x.npy", (rng.random((30, 7)) < 0.4).astype(np.int64))
    r = subprocess.run([sys.executable, "-m", "neuro", "lava", "run", str(tmp_path / "n.net"), "--input",
                        str(tmp_path / "x.npy"), "--backend", "both", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["bit_exact"] is True and out["loihi_spikes"] == out["lava_spikes"] and sum(out["lava_spikes"]) > 0
    one = run_lava(tmp_path / "n.net", np.load(tmp_path / "x.npy"))  # a single sample [T, n_in]
    assert one["v"][1].shape == (30, 3)


@needs_lava
@pytest.mark.lava
def test_bench_reports_bit_exact_and_speedup():
    from neuro.bench.loihi import run_loihi_bench

    r = run_loihi_bench(steps=20, repeat=1, batch=4)
    assert r["bit_exact"] is True
    assert r["speedup"] > 0 and set(r["runs"]) == {"neuro loihi, batch 1", "neuro loihi, batch 4",
                                                   "Lava 0.10 CPU fixed_pt, batch 1"}


def test_setup_without_python310_explains_and_if_possible_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEURO_LAVA_ENV", str(tmp_path / "env"))
    monkeypatch.setattr(lava_bridge, "python310_candidates", lambda: [])
    assert lava_bridge.setup_lava(if_possible=True) == 0
    assert "needs a Python 3.10 interpreter" in capsys.readouterr().err
    assert lava_bridge.setup_lava(if_possible=False) == 1
    assert not lava_bridge.lava_status(refresh=True)[0]
    monkeypatch.delenv("NEURO_LAVA_ENV")
    lava_bridge.lava_status(refresh=True)  # re-read the real environment for the other tests


def test_broken_python310_shim_is_skipped(tmp_path, monkeypatch):
    real = sorted(Path.home().glob(".pyenv/versions/3.10*/bin/python3.10"))
    shim = tmp_path / "python3.10"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.10: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "none"))
    monkeypatch.delenv("NEURO_LAVA_PYTHON", raising=False)
    assert str(shim) in lava_bridge.python310_candidates()
    assert lava_bridge.find_python310() is None
    if real:
        monkeypatch.setenv("NEURO_LAVA_PYTHON", str(real[0]))
        assert lava_bridge.find_python310() == str(real[0])
