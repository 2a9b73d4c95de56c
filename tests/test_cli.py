"""The neuro command: info and the LIF benchmark (small sizes), run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

from neuro.cli import main


def _neuro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuro", *args], capture_output=True, text=True, timeout=600)


def test_info_json_lists_backends_with_reasons(capsys):
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backends"]["torch"]["available"] is True
    assert data["backends"]["cpu"]["available"] is True
    gpu = data["backends"]["gpu"]
    assert gpu["available"] or gpu["reason"], "an unavailable backend must say why"
    assert data["devices"][0] == "cpu"


def test_bench_lif_runs_peers_on_the_same_input():
    r = _neuro("bench", "lif", "--json", "--T", "30", "--B", "2", "--N", "64", "--quick")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    rows = {row["name"]: row for row in res["rows"]}
    assert rows["neuro cpu (fused)"]["lif_s"] > 0
    for peer in ("spikingjelly", "snntorch", "norse", "neuro torch (reference)"):
        assert rows[peer]["spikes_equal_to_neuro"] is True, peer
    assert res["summary"]["speedup_vs_spikingjelly"] > 0


def test_unknown_command_and_bad_option_fail_clearly():
    r = _neuro("bench", "nosuch")
    assert r.returncode != 0 and "invalid choice" in r.stderr
