"""``neuro experiment hlop-pmnist`` on real MNIST images, small: BPTT and online training."""

from __future__ import annotations

import json

from neuro.cli import main


def _run(capsys, *args: str) -> dict:
    assert main(["experiment", "hlop-pmnist", "--quick", "--tasks", "2", "--epochs", "2", "--T", "4",
                 "--train-per-task", "1500", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_hlop_pmnist_command_prints_acc_bwt_and_baselines(capsys, shared_data):
    s = _run(capsys, "--root", str(shared_data), "--methods", "hlop", "finetune")
    assert set(s) >= {"ACC", "BWT", "baselines"}
    assert set(s["baselines"]) == {"finetune"}
    m = s["methods"]["hlop"]["accuracy_matrix"]
    assert len(m) == 2 and m[0][0] > 60 and m[1][1] > 60  # real digits are learned (chance: 10 %)
    assert s["ACC"] == round((m[1][0] + m[1][1]) / 2, 2)
    assert s["methods"]["hlop"]["subspace_dims"] == [150, 270, 170]


def test_hlop_pmnist_online_training_from_traces(capsys, shared_data):
    s = _run(capsys, "--root", str(shared_data), "--methods", "hlop", "--training", "online")
    m = s["methods"]["hlop"]["accuracy_matrix"]
    assert s["config"]["training"] == "online"
    assert m[0][0] > 60 and m[1][1] > 60
