"""The README demo trains for real: on N-MNIST recordings when present, on generated events otherwise."""

from __future__ import annotations

import contextlib
import io
import json

from neuro.cli import main
from neuro.experiments.demo import run_demo
from neuro.models import read_checkpoint


def test_demo_on_real_nmnist(shared_data, tmp_path):
    s = run_demo(shared_data, epochs=2, out_dir=str(tmp_path), progress=False)
    assert "N-MNIST" in s["data"] and s["samples"] == {"train": 800, "validation": 100, "test": 100}
    assert s["best"]["val_accuracy"] > 0.5  # chance is 0.1
    assert json.loads((tmp_path / "summary.json").read_text())["epochs"] == 2
    assert (tmp_path / "best.ckpt").exists() and (tmp_path / "curves.png").exists()
    ckpt = read_checkpoint(tmp_path / "best.ckpt")
    assert ckpt["dt"] == 0.03  # 300 ms in 10 bins
    d = ckpt["data"]
    assert d["dataset"] == "nmnist" and d["encoding"] == {"n_bins": 10, "duration_us": 300_000, "sensor": [34, 34],
                                                          "polarities": 2}
    train, val, test = (set(d["splits"][k]["files"]) for k in ("train", "validation", "test"))
    assert len(train | val | test) == 1000 and not (train & test) and not (val & test) and not (train & val)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["eval", str(tmp_path / "best.ckpt"), "--json"]) == 0
    r = json.loads(out.getvalue())
    assert r["dataset"] == "nmnist" and r["split"] == "test" and r["samples"] == 100 and r["overlaps_training"] == 0
    assert r["accuracy"] == s["test_accuracy"]  # eval scores the demo's held-out recordings, binned the same way


def test_demo_on_generated_events(tmp_path):
    s = run_demo(tmp_path / "nothing-here", epochs=5, out_dir=str(tmp_path / "run"), progress=False,
                 n_synthetic=500, search_default=False)
    assert s["data"].startswith("generated")
    assert s["samples"] == {"train": 400, "validation": 50, "test": 50}
    assert s["best"]["val_accuracy"] > 0.5 and 0 <= s["test_accuracy"] <= 1  # 10 orientations, chance is 0.1
    ckpt = read_checkpoint(tmp_path / "run" / "best.ckpt")
    assert ckpt["dt"] == 0.03 and ckpt["data"]["dataset"] == "generated" and ckpt["data"]["n"] == 500
    idx = [ckpt["data"]["splits"][k]["indices"] for k in ("train", "validation", "test")]
    assert sorted(sum(idx, [])) == list(range(500))  # disjoint and complete
