"""What the commands tell the user: help texts with defaults, where training wrote its files, readable
run summaries, JSON that parses and ends with a newline, and the backend names neuro info lists."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from neuro.cli import build_parser, main


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))
        else:
            yield path, parser, action


def test_every_option_has_help_and_shows_its_default():
    missing_help, missing_default = [], []
    for path, parser, action in _walk(build_parser()):
        if action.dest in ("help", "version"):
            continue
        where = f"neuro {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
        if not action.help:
            missing_help.append(where)
            continue
        d = action.default
        if action.option_strings and d not in (None, False, argparse.SUPPRESS):
            text = parser.formatter_class(prog="x")._get_help_string(action)
            if "default" not in text:
                missing_default.append(where)
    assert not missing_help, "options without help: " + ", ".join(missing_help)
    assert not missing_default, "options whose help does not show the default: " + ", ".join(missing_default)


def test_training_commands_take_device_and_fsdd_defaults_to_the_examples_width(capsys):
    with pytest.raises(SystemExit):
        main(["train", "fsdd", "--help"])
    text = capsys.readouterr().out
    assert "--hidden HIDDEN       neurons per hidden layer (default: 128)" in text
    assert "--device {auto,cpu,cuda}" in text
    for cmd in (["train", "shd"], ["train", "nmnist"], ["demo"]):
        with pytest.raises(SystemExit):
            main([*cmd, "--help"])
        assert "--device {auto,cpu,cuda}" in capsys.readouterr().out, cmd


def test_json_outputs_parse_and_end_with_a_newline(capsys, shared_data):
    for argv in (["info", "--json"], ["events", "info", str(shared_data / "fixtures" / "sample_nmnist.bin"), "--json"]):
        assert main(argv) == 0
        raw = capsys.readouterr().out
        assert raw.endswith("}\n"), argv
        json.loads(raw)


def test_info_lists_hardware_targets_apart_and_set_backend_explains_them(capsys):
    import neuro
    from neuro.errors import ConfigError

    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["backends"]) == {"torch", "cpu", "gpu"} and set(data["hardware"]) == {"loihi", "lava"}
    for name in data["backends"]:
        if data["backends"][name]["available"]:
            neuro.set_backend(name)  # every neuron backend neuro info lists is a valid set_backend name
    neuro.set_backend("auto")
    with pytest.raises(ConfigError, match="not a neuron backend but a hardware target.*neuro run --backend loihi"):
        neuro.set_backend("loihi")


# ------------------------------------------------------------------------------------------------- training
def _tiny_nmnist(monkeypatch):
    """Generated 34x34 two-polarity recordings standing in for the N-MNIST folder (the code path is the same)."""
    from pathlib import Path

    import neuro.experiments.demo as demo

    def fake(root, n_bins, search_default):
        x, y = demo.synthetic_events(30, n_bins)
        return x, y, Path("/data/nmnist/Train"), [f"{int(c)}/{k:05d}.bin" for k, c in enumerate(y)]

    monkeypatch.setattr(demo, "_real_frames", fake)


def test_first_batch_on_the_cpu_kernels_says_it_compiles(monkeypatch, capsys):
    import neuro.training as tr
    from neuro.layers import SeqLinear
    from neuro.neurons import LIF

    data = torch.utils.data.TensorDataset(torch.rand(2, 3, 4), torch.tensor([0, 1]))
    for backend, expected in (("torch", False), (None, True)):
        monkeypatch.setattr(tr, "_COMPILE_ANNOUNCED", False)
        model = nn.Sequential(SeqLinear(4, 2), LIF(tau=2.0, backend=backend))
        tr.Trainer(model, data, config=tr.TrainConfig(device="cpu"))._announce_compile()
        assert ("first batch: compiling the fused CPU kernels" in capsys.readouterr().out) == expected, backend


def test_train_nmnist_prints_where_it_wrote_its_files(monkeypatch, tmp_path, capsys):
    import neuro

    _tiny_nmnist(monkeypatch)
    monkeypatch.setattr(neuro.backends, "_default", "torch")  # no kernel compilation: this test is about outputs
    out = tmp_path / "run"
    assert main(["train", "nmnist", "--epochs", "1", "--bins", "3", "--batch-size", "8", "--out", str(out),
                 "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    for name in ("best.ckpt", "last.ckpt", "summary.json", "history.json", "curves.png"):
        assert (out / name).exists(), name
        assert str(out / name) in text, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"]["best_checkpoint"] == str(out / "best.ckpt")


def test_train_nmnist_needs_recordings(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert main(["train", "nmnist", "--root", str(tmp_path), "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no N-MNIST recordings" in err and "--root" in err
    assert not (tmp_path / "r").exists()


def test_train_shd_reports_files_and_eval_loihi_reports_quantization_per_layer(tmp_path, capsys, monkeypatch):
    import neuro

    monkeypatch.setattr(neuro.backends, "_default", "torch")  # no kernel compilation: this test is about outputs
    from neuro.datasets import make_events
    from neuro.datasets.shd import write_shd

    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    root.mkdir()
    for name, n in (("shd_train.h5", 12), ("shd_test.h5", 4)):
        samples = [make_events(np.sort(rng.integers(0, 100_000, 200)), rng.integers(0, 700, 200)) for _ in range(n)]
        write_shd(root / name, samples, rng.integers(0, 20, n), [str(k) for k in range(20)], rng.integers(0, 3, n))
    out = tmp_path / "run"
    assert main(["train", "shd", "--root", str(root), "--epochs", "1", "--hidden", "4", "--max-delay", "2",
                 "--batch-size", "8", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"checkpoint: {out / 'best.ckpt'}" in text and f"{out / 'delays.png'}" in text
    assert (out / "delays.png").exists() and (out / "summary.json").read_text().endswith("}\n")
    assert main(["eval", str(out / "best.ckpt"), "--backend", "loihi", "--json"]) == 0
    raw = capsys.readouterr().out
    q = json.loads(raw)["quantization"]["layers"]  # the same record as neuro export --json
    assert isinstance(q, list) and len(q) == 3 and {"name", "weight_exp", "vth", "n_in", "n_out"} <= set(q[0])
    assert "\\n" not in raw
    assert main(["eval", str(out / "best.ckpt"), "--backend", "loihi"]) == 0
    assert "Loihi quantization per layer" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------- running
def _small() -> nn.Module:
    from neuro.layers import SeqLinear
    from neuro.neurons import LI, LIF

    torch.manual_seed(0)
    m = nn.Sequential(SeqLinear(6, 8), LIF(tau=2.0), SeqLinear(8, 3), LI(tau=2.0)).eval()
    with torch.no_grad():
        m[0].weight.mul_(4)
    return m


def test_run_reports_real_spike_counts_per_layer(tmp_path, capsys):
    from neuro.export import write_nir

    m = _small()
    write_nir(m, tmp_path / "m.nir", dt=1e-3)
    x = (np.random.default_rng(0).random((12, 3, 6)) < 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    with torch.no_grad():
        hidden = m[1](m[0](torch.from_numpy(x)))
    run = ["run", str(tmp_path / "m.nir"), "--input", str(tmp_path / "x.npy"), "--backend", "torch"]
    assert main([*run, "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)["per_layer"]
    assert [r["spikes"] for r in layers] == [int((hidden > 0).sum()), None]  # the readout has a membrane, no spikes
    assert int((hidden > 0).sum()) > 0
    assert main(run) == 0
    text = capsys.readouterr().out
    assert f"spikes per layer (all samples and steps): {layers[0]['layer']} {layers[0]['spikes']}" in text


def test_lava_run_prints_a_table_and_predictions(tmp_path, capsys):
    from neuro.hardware.loihi import export_loihi, load_loihi, simulate

    export_loihi(_small(), tmp_path / "m.net")
    x = (np.random.default_rng(0).random((10, 2, 6)) < 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["lava", "run", str(tmp_path / "m.net"), "--input", str(tmp_path / "x.npy")]) == 0
    text = capsys.readouterr().out
    assert "{" not in text and "membrane readout" in text and "predictions (argmax of the readout membrane" in text
    assert main(["lava", "run", str(tmp_path / "m.net"), "--input", str(tmp_path / "x.npy"), "--json"]) == 0
    raw = capsys.readouterr().out
    out = json.loads(raw)
    assert raw.endswith("}\n")
    r = simulate(load_loihi(tmp_path / "m.net"), x.astype(np.int64), record=True)
    assert out["predictions"] == r.v[-1].double().sum(0).argmax(-1).tolist()
    assert [p["readout"] for p in out["per_layer"]] == [False, True]
    assert out["loihi_spikes"][0] == int(r.spikes[0].sum())


def test_events_plot_does_not_import_torch(shared_data, tmp_path):
    code = ("import sys; from neuro.cli import main; "
            f"rc = main(['events', 'plot', {str(shared_data / 'fixtures' / 'sample_nmnist.bin')!r}, '-o', "
            f"{str(tmp_path / 'p.png')!r}]); print(rc, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["0", "False"]
    assert (tmp_path / "p.png").stat().st_size > 1000
