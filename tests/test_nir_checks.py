"""NIR on the user's path: time steps, delays, the delay model's readout horizon, ``neuro export``
and ``neuro run`` output, and clear errors for malformed graphs, inputs and options."""

from __future__ import annotations

import json
import math
import os
import shutil

import h5py
import nir
import numpy as np
import pytest
import torch
from torch import nn

import neuro.models
from neuro.cli import main
from neuro.errors import ConfigError, DataError
from neuro.export import from_nir, to_nir
from neuro.export.nir_import import read_nir, validate_graph
from neuro.layers import SeqLinear
from neuro.models.delay_snn import DelaySNN, softmax_sum_readout
from neuro.neurons import LI, LIF


def _delay_model(input_length: int = 15) -> DelaySNN:
    torch.manual_seed(0)
    m = DelaySNN(n_in=6, hidden=8, n_layers=1, n_out=3, max_delay=4, input_length=input_length).eval()
    with torch.no_grad():  # strong enough that the hidden layer spikes
        for d in m.delay_layers():
            d.weight.mul_(3)
    return m


def _small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(SeqLinear(6, 8), LIF(tau=2.0), SeqLinear(8, 3), LI(tau=2.0)).eval()


@pytest.fixture
def nir_file(tmp_path):
    path = tmp_path / "d.nir"
    nir.write(path, to_nir(_delay_model(), dt=1e-2))
    return path


@pytest.fixture
def checkpoint(monkeypatch):
    """`neuro export` on an in-memory model: load_checkpoint returns it with the dict set in `ckpt`."""
    ckpt: dict = {}
    monkeypatch.setattr(neuro.models, "load_checkpoint", lambda path: (_delay_model(12), ckpt))
    return ckpt


# ----------------------------------------------------------------------------- dt


@pytest.mark.parametrize("dt", [0.0, -1e-3, math.nan, math.inf])
def test_from_nir_and_to_nir_refuse_a_zero_or_non_finite_dt(dt):
    g = to_nir(_small(), dt=1e-3)
    with pytest.raises(ConfigError, match="dt= must be a finite time step"):
        from_nir(g, dt=dt)
    with pytest.raises(ConfigError, match="dt= must be a finite time step"):
        to_nir(_small(), dt=dt)


def test_a_graph_recording_dt_zero_is_refused_naming_the_file(tmp_path):
    g = to_nir(_small(), dt=1e-3)
    g.metadata["dt"] = 0.0
    nir.write(tmp_path / "z.nir", g)
    with pytest.raises(DataError, match=r"z\.nir: the graph's metadata dt must be"):
        from_nir(tmp_path / "z.nir")


@pytest.mark.parametrize("dt", ["nan", "inf", "0"])
def test_export_refuses_a_bad_dt_and_writes_nothing(dt, tmp_path, checkpoint, capsys):
    out = tmp_path / "m.nir"
    with pytest.raises(SystemExit) as e:  # a usage error from the option's type
        main(["export", "x.ckpt", "--to", "nir", str(out), "--dt", dt])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --dt: must be a" in err and repr(dt) in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_export_defaults_to_the_checkpoint_dt_and_says_where_dt_came_from(tmp_path, checkpoint, capsys):
    checkpoint["dt"] = 0.01  # trained on 10 ms bins
    assert main(["export", "x.ckpt", "--to", "nir", str(tmp_path / "a.nir")]) == 0
    assert "dt = 0.01 s (recorded in the checkpoint)" in capsys.readouterr().out
    assert float(read_nir(tmp_path / "a.nir").metadata["dt"]) == 0.01
    del checkpoint["dt"]
    assert main(["export", "x.ckpt", "--to", "nir", str(tmp_path / "b.nir"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["dt"] == 1e-3 and info["dt_source"].startswith("default: the checkpoint records no dt")
    assert main(["export", "x.ckpt", "--to", "nir", str(tmp_path / "c.nir"), "--dt", "0.005"]) == 0
    assert float(read_nir(tmp_path / "c.nir").metadata["dt"]) == 0.005


# ----------------------------------------------------------------------------- delays and the readout horizon


def test_negative_delay_is_a_clear_error():
    g = nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([2])}),
                            "fan": nir.Linear(weight=np.eye(2, dtype=np.float32)),
                            "d": nir.Delay(delay=np.array([1e-3, -1e-3], np.float32)),
                            "output": nir.Output({"output": np.array([2])})},
                     edges=[("input", "fan"), ("fan", "d"), ("d", "output")], metadata={"dt": 1e-3})
    with pytest.raises(ConfigError, match=r"node d \(Delay\): delays must be >= 0"):
        from_nir(g)


def test_delay_model_graph_predicts_what_the_model_predicts(nir_file, tmp_path, capsys):
    """input_length and each delayed layer's right_pad travel in the graph; from_nir and `neuro run` honour them."""
    m = _delay_model()
    g = read_nir(nir_file)
    assert int(g.metadata["input_length"]) == 15 and str(g.metadata["readout"]) == "softmax_sum"
    net = from_nir(nir_file)
    rng = np.random.default_rng(0)
    for T in (4, 9, 15, 21):  # shorter than, equal to and longer than the horizon
        x = rng.poisson(0.6, (T, 4, 6)).astype(np.float32)
        with torch.no_grad():
            want, got = m(torch.from_numpy(x)), net(torch.from_numpy(x))
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        pred = softmax_sum_readout(want).argmax(-1).tolist()
        np.save(tmp_path / "x.npy", x)
        assert main(["run", str(nir_file), "--input", str(tmp_path / "x.npy"), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["predictions"] == pred


def test_run_prints_predictions_and_valid_json(nir_file, tmp_path, capsys):
    x = np.random.default_rng(1).poisson(0.6, (10, 3, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(nir_file), "--input", str(tmp_path / "x.npy")]) == 0
    text = capsys.readouterr().out
    assert "predictions (sample: class): 0: " in text and "output (19, 3, 3)" in text and "{" not in text
    assert main(["run", str(nir_file), "--input", str(tmp_path / "x.npy"), "--json", "--output",
                 str(tmp_path / "y.npy")]) == 0
    raw = capsys.readouterr().out
    info = json.loads(raw)
    assert raw.endswith("}\n") and "spikes" not in info
    assert info["output_shape"] == [19, 3, 3] and len(info["predictions"]) == 3
    y = np.load(tmp_path / "y.npy")
    assert info["predictions"] == softmax_sum_readout(torch.from_numpy(y)).argmax(-1).tolist()
    np.save(tmp_path / "one.npy", x[:, 0])  # one sample [T, F]
    assert main(["run", str(nir_file), "--input", str(tmp_path / "one.npy")]) == 0
    assert f"prediction: {info['predictions'][0]}" in capsys.readouterr().out


# ----------------------------------------------------------------------------- malformed .nir files


def _edit(src, dst, fn):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        fn(f)


def _replace(group: str, name: str, data, dtype=None):
    def fn(f):
        del f[group][name]
        f[group].create_dataset(name, data=data, dtype=dtype)
    return fn


MALFORMED = {
    "no node group": lambda f: f.__delitem__("node"),
    "no nodes": lambda f: f["node"].__delitem__("nodes"),
    "unknown node type": _replace("node/nodes/0_fanout", "type", "Evil", h5py.string_dtype()),
    "weight of the wrong width": _replace("node/nodes/2_affine", "weight", np.ones((8, 47), np.float32)),
    "weight of the wrong rank": _replace("node/nodes/2_affine", "weight", np.ones((8, 48, 2), np.float32)),
    "weight as text": _replace("node/nodes/2_affine", "weight", "abc", h5py.string_dtype()),
    "NaN time constant": lambda f: f["node/nodes/3_lif/tau"].__setitem__(..., np.nan),
    "negative delay": lambda f: f["node/nodes/1_delay/delay"].__setitem__(0, -0.01),
    "edge to a missing node": _replace("node", "edges", np.array([[b"input", b"zzz"]])),
    "input shape that does not fit": _replace("node/nodes/input", "shape", np.array([7])),
    "negative input_length": lambda f: f["node/metadata/input_length"].__setitem__((), -5),
    "huge right_pad": lambda f: f["node/nodes/0_fanout/metadata/right_pad"].__setitem__((), 10**12),
    "unknown readout": _replace("node/metadata", "readout", "evil", h5py.string_dtype()),
    "link to another file": lambda f: f["node/nodes"].__setitem__("x", h5py.ExternalLink("other.h5", "/")),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_nir_files_raise_data_error_naming_the_file(case, nir_file, tmp_path, capsys):
    bad = tmp_path / "bad.nir"
    _edit(nir_file, bad, MALFORMED[case])
    with pytest.raises(DataError, match=r"bad\.nir: "):
        from_nir(bad)
    np.save(tmp_path / "x.npy", np.zeros((5, 6), np.float32))
    assert main(["run", str(bad), "--input", str(tmp_path / "x.npy")]) == 2
    assert "bad.nir" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not a graph", b"\x89HDF\r\n\x1a\n" + bytes(200)])
def test_non_hdf5_and_truncated_nir_files(content, nir_file, tmp_path):
    (tmp_path / "x.nir").write_bytes(content)
    with pytest.raises(DataError, match=r"x\.nir: "):
        read_nir(tmp_path / "x.nir")
    whole = nir_file.read_bytes()
    for n in (100, len(whole) // 2, len(whole) - 1):
        (tmp_path / "t.nir").write_bytes(whole[:n])
        with pytest.raises(DataError, match=r"t\.nir: "):
            read_nir(tmp_path / "t.nir")


def test_in_memory_graph_with_nan_weights_is_a_config_error():
    g = to_nir(_small(), dt=1e-3)
    next(n for n in g.nodes.values() if isinstance(n, nir.Affine)).weight[0, 0] = np.nan
    with pytest.raises(ConfigError, match="weight must hold finite numbers"):
        validate_graph(g)


# ----------------------------------------------------------------------------- inputs and options of the CLI


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker,)  # would run when unpickled


def test_bad_npy_inputs_to_run(nir_file, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    np.save(tmp_path / "obj.npy", np.array([_Payload(str(marker))], dtype=object), allow_pickle=True)
    np.save(tmp_path / "nan.npy", np.full((5, 2, 6), np.nan, np.float32))
    np.save(tmp_path / "wide.npy", np.ones((5, 2, 7), np.float32))
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    np.save(tmp_path / "empty.npy", np.zeros((0, 2, 6), np.float32))
    np.save(tmp_path / "ok.npy", np.ones((5, 2, 6), np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "ok.npy").read_bytes()[:140])
    (tmp_path / "graph.npy").write_bytes(nir_file.read_bytes())
    expect = {"obj": "holds Python objects", "nan": "NaN or inf", "wide": "takes [T, B, 6]",
              "text": "expected spikes or numbers", "empty": "at least one time step", "cut": "truncated",
              "graph": "not a .npy array file", "missing": "no such file"}
    for name, msg in expect.items():
        assert main(["run", str(nir_file), "--input", str(tmp_path / f"{name}.npy")]) == 2, name
        err = capsys.readouterr().err
        assert f"--input {tmp_path / name}.npy" in err and msg in err, (name, err)
    assert not marker.exists()


def test_wrong_input_shape_and_output_folder_in_cli_terms(tmp_path, checkpoint, capsys):
    for shape in (["5"], ["6", "2"]):  # sizes that do not fit the model's first layer
        assert main(["export", "x.ckpt", "--to", "nir", str(tmp_path / "m.nir"), "--input-shape", *shape]) == 2
        err = capsys.readouterr().err
        assert f"--input-shape {' '.join(shape)}" in err and "input_shape=" not in err
    with pytest.raises(SystemExit) as e:  # not a size at all: a usage error from the option's type
        main(["export", "x.ckpt", "--to", "nir", str(tmp_path / "m.nir"), "--input-shape", "0"])
    assert e.value.code == 2
    assert "argument --input-shape: must be a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # a usage error from the output argument's type
        main(["export", "x.ckpt", "--to", "nir", str(tmp_path / "nowhere" / "m.nir")])
    assert e.value.code == 2
    assert "nowhere' does not exist" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_loihi_layers_fold_each_neurons_own_input_gain():
    """r differs per neuron: each weight row gets its neuron's r * dt / tau (not the first one's for all)."""
    from neuro.export import nir_float_layers

    g = nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([2])}),
                            "w": nir.Linear(weight=np.eye(2, dtype=np.float32)),
                            "n": nir.LIF(tau=np.full(2, 2e-3), r=np.array([1.0, 2.0]), v_leak=np.zeros(2),
                                         v_threshold=np.ones(2), v_reset=np.zeros(2)),
                            "output": nir.Output({"output": np.array([2])})},
                     edges=[("input", "w"), ("w", "n"), ("n", "output")], metadata={"dt": 1e-3})
    (layer,) = nir_float_layers(g)
    np.testing.assert_allclose(layer.weight, np.diag([0.5, 1.0]))


def test_loihi_layers_refuse_a_delay_after_a_mixing_linear():
    from neuro.export import nir_float_layers

    g = nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([2])}),
                            "mix": nir.Linear(weight=np.full((2, 2), 0.5, np.float32)),
                            "d": nir.Delay(delay=np.array([1e-3, 2e-3])),
                            "w": nir.Linear(weight=np.eye(2, dtype=np.float32)),
                            "n": nir.LIF(tau=np.full(2, 2e-3), r=np.full(2, 2.0), v_leak=np.zeros(2),
                                         v_threshold=np.ones(2), v_reset=np.zeros(2)),
                            "output": nir.Output({"output": np.array([2])})},
                     edges=[("input", "mix"), ("mix", "d"), ("d", "w"), ("w", "n"), ("n", "output")],
                     metadata={"dt": 1e-3})
    with pytest.raises(ConfigError, match="only a delay after a fan-out Linear"):
        nir_float_layers(g)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given on a machine without CUDA")
def test_run_on_the_gpu_backend_without_a_gpu(nir_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((5, 6), np.float32))
    assert main(["run", str(nir_file), "--input", str(tmp_path / "x.npy"), "--backend", "gpu"]) == 2
    assert "--backend gpu needs a CUDA GPU" in capsys.readouterr().err
