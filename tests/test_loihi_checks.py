"""The Loihi path on graded input and hostile files: evaluate_loihi detects spike counts,
malformed deployment files (.net) and bad inputs to ``neuro lava run`` fail with clear errors."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from neuro.cli import main
from neuro.errors import ConfigError, DataError
from neuro.hardware.loihi import (
    LoihiNetwork,
    evaluate_loihi,
    export_loihi,
    graded_message_bits,
    load_loihi,
    quantize,
)
from neuro.layers import SeqLinear
from neuro.neurons import LI, LIF


def _model() -> nn.Module:
    """Weights on the fixed-point grid, so that Loihi and float agree up to rare threshold ties."""
    torch.manual_seed(0)
    m = nn.Sequential(SeqLinear(6, 12, bias=False), LIF(beta=0.5, decay_input=False),
                      SeqLinear(12, 3, bias=False), LI(beta=0.5, decay_input=False)).eval()
    with torch.no_grad():
        m[0].weight.copy_(torch.randint(-4, 5, (12, 6)) / 4.0)
        m[2].weight.copy_(torch.randint(-4, 5, (3, 12)) / 4.0)
    return m


def _counts() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).poisson(1.5, (30, 8, 6)).astype(np.float32))


def test_evaluate_loihi_detects_graded_input():
    m, x = _model(), _counts()
    assert graded_message_bits(x) == 8 and graded_message_bits((x > 0).float()) == 0
    with torch.no_grad():
        want = m(x)
    r = evaluate_loihi(m, x)
    assert r["num_message_bits"] == 8
    err = (r["output"] - want).abs().mean() / want.abs().mean()
    assert err < 0.15, err  # binarized counts are off by about 0.7
    binarized = evaluate_loihi(m, (x > 0).float())["output"]
    assert (binarized - want).abs().mean() / want.abs().mean() > 0.3


def test_evaluate_loihi_refuses_to_binarize_counts_silently():
    m, x = _model(), _counts()
    with pytest.raises(ConfigError, match="num_message_bits=0 reads every non-zero value as one spike"):
        evaluate_loihi(m, x, num_message_bits=0)
    binary_net, _ = quantize(m)
    with pytest.raises(ConfigError, match="first layer reads binary spikes"):
        evaluate_loihi(binary_net, x)
    graded_net, _ = quantize(m, num_message_bits=8)
    assert evaluate_loihi(graded_net, x)["num_message_bits"] == 8
    with pytest.raises(Exception, match="whole-number counts"):
        evaluate_loihi(m, x + 0.5)


# ----------------------------------------------------------------------------- malformed .net files


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "m.net"
    export_loihi(_model(), path)
    return path


def _replace(group: str, name: str, data, dtype=None):
    def fn(f):
        del f[group][name]
        f[group].create_dataset(name, data=data, dtype=dtype)
    return fn


MALFORMED = {
    "no layer group": lambda f: f.__delitem__("layer"),
    "layers not numbered 0..n-1": lambda f: f["layer"].move("1", "7"),
    "not a dense layer": _replace("layer/0", "type", np.array([b"conv"], dtype="S10")),
    "type as a number": _replace("layer/0", "type", 3),
    "weight missing": lambda f: f["layer/0"].__delitem__("weight"),
    "weight as text": _replace("layer/0", "weight", "abc", h5py.string_dtype()),
    "weight with NaN": _replace("layer/0", "weight", np.full((12, 6), np.nan)),
    "weight of rank 1": _replace("layer/0", "weight", np.ones(12)),
    "fractional weight": _replace("layer/0", "weight", np.full((12, 6), 0.5)),
    "outFeatures mismatch": _replace("layer/0", "outFeatures", 13),
    "layers that do not chain": _replace("layer/1", "weight", np.ones((3, 11))),
    "negative delay": lambda f: f["layer/0"].create_dataset("delay", data=-np.ones((12, 6), np.int64)),
    "delay of the wrong shape": lambda f: f["layer/0"].create_dataset("delay", data=np.ones((2, 2), np.int64)),
    "threshold beyond 17 bits": _replace("layer/0/neuron", "vThMant", 1 << 20),
    "decay array": _replace("layer/0/neuron", "vDecay", np.arange(3)),
    "bias of the wrong size": _replace("layer/0", "bias", np.ones(5)),
    "huge declared size": lambda f: f["layer/0"].create_dataset("pad", shape=(1 << 40,), dtype="f8", chunks=(1024,)),
    "link to another file": lambda f: f["layer/0"].__setitem__("x", h5py.ExternalLink("other.h5", "/")),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_net_files_raise_data_error_naming_the_file(case, net_file, tmp_path):
    bad = tmp_path / "bad.net"
    shutil.copy(net_file, bad)
    with h5py.File(bad, "r+") as f:
        MALFORMED[case](f)
    with pytest.raises(DataError, match=r"bad\.net: "):
        load_loihi(bad)


def test_truncated_and_foreign_net_files(net_file, tmp_path):
    whole = net_file.read_bytes()
    for n in (0, 100, len(whole) // 2, len(whole) - 1):
        (tmp_path / "t.net").write_bytes(whole[:n])
        with pytest.raises(DataError, match=r"t\.net: "):
            load_loihi(tmp_path / "t.net")
    assert isinstance(load_loihi(net_file), LoihiNetwork)


def test_lava_run_checks_its_input(net_file, tmp_path, capsys):
    np.save(tmp_path / "counts.npy", np.full((5, 6), 3.0, np.float32))
    np.save(tmp_path / "frac.npy", np.full((5, 6), 0.5, np.float32))
    np.save(tmp_path / "wide.npy", np.ones((5, 7), np.float32))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    expect = {"counts": "reads binary spikes", "frac": "whole-number counts", "wide": "takes [T, B, 6]",
              "obj": "holds Python objects"}
    for name, msg in expect.items():
        assert main(["lava", "run", str(net_file), "--input", str(tmp_path / f"{name}.npy")]) == 2, name
        err = capsys.readouterr().err
        assert msg in err and "--input" in err, (name, err)
    with pytest.raises(SystemExit) as e:  # a usage error from the option's type
        main(["lava", "run", str(net_file), "--input", str(tmp_path / "frac.npy"), "--output",
              str(tmp_path / "no" / "y.npy")])
    assert e.value.code == 2
    assert "does not exist" in capsys.readouterr().err
    np.save(tmp_path / "spikes.npy", (np.random.default_rng(0).random((5, 2, 6)) < 0.5).astype(np.float32))
    assert main(["lava", "run", str(net_file), "--input", str(tmp_path / "spikes.npy")]) == 0
