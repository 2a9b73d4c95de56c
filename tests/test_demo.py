"""The README demo trains for real: on N-MNIST recordings when present, on generated events otherwise."""

from __future__ import annotations

import json

from neuro.experiments.demo import run_demo


def test_demo_on_real_nmnist(shared_data, tmp_path):
    s = run_demo(shared_data, epochs=2, out_dir=str(tmp_path), progress=False)
    assert "N-MNIST" in s["data"] and s["samples"]["train"] == 800
    assert s["best"]["val_accuracy"] > 0.5  # chance is 0.1
    assert json.loads((tmp_path / "summary.json").read_text())["epochs"] == 2
    assert (tmp_path / "best.ckpt").exists() and (tmp_path / "curves.png").exists()


def test_demo_on_generated_events(tmp_path):
    s = run_demo(tmp_path / "nothing-here", epochs=5, out_dir=str(tmp_path / "run"), progress=False,
                 n_synthetic=500, search_default=False)
    assert s["data"].startswith("generated")
    assert s["best"]["val_accuracy"] > 0.5  # 10 orientations, chance is 0.1
