"""neuro events info/plot and neuro bench data, run as commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from neuro.cli import main


def _neuro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuro", *args], capture_output=True, text=True, timeout=600)


def test_events_info_json_on_real_files(shared_data):
    r = _neuro("events", "info", str(shared_data / "fixtures" / "sample_ncars.dat"), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["format"] == "prophesee_dat" and d["events"] == 2009 and d["duration_us"] == 99952
    assert d["fields"] == ["x", "y", "t", "p"] and len(d["sensor_size"]) == 3
    r = _neuro("events", "info", str(shared_data / "fixtures" / "sample_nmnist.bin"), "--json")
    assert json.loads(r.stdout)["events"] == 4325


def test_events_plot_writes_png(shared_data, tmp_path):
    out = tmp_path / "x.png"
    r = _neuro("events", "plot", str(shared_data / "fixtures" / "sample_nmnist.bin"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_events_info_bad_file_is_a_clear_error(tmp_path):
    (tmp_path / "junk.txt").write_text("not events")
    r = _neuro("events", "info", str(tmp_path / "junk.txt"))
    assert r.returncode == 2 and "unknown event format" in r.stderr and "Traceback" not in r.stderr


def test_bench_data_matches_tonic(shared_data):
    r = _neuro("bench", "data", "--root", str(shared_data / "nmnist-small"), "--repeat", "1", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["samples"] == 1000
    tonic_row = next(x for x in d["rows"] if x["name"] == "tonic")
    assert tonic_row["frames_equal"] is True
    # the filter / time-surface rows: neuro's outputs equal tonic's on the same recordings
    compared = [x for x in d["rows"] if x["name"].startswith("tonic ")]
    assert len(compared) == 4 and all(x["frames_equal"] is True for x in compared)


def test_events_plot_bins(shared_data, tmp_path, capsys):
    src = str(shared_data / "fixtures" / "sample_nmnist.bin")
    assert main(["events", "plot", src, "-o", str(tmp_path / "one.png"), "--bins", "1"]) == 0  # one panel failed
    assert (tmp_path / "one.png").read_bytes()[:4] == b"\x89PNG"
    for bins in ("0", "-3", "1000"):
        assert main(["events", "plot", src, "-o", str(tmp_path / "x.png"), "--bins", bins]) == 2
        assert "--bins must be between 1 and 64" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # a usage error from the option's type
        main(["events", "plot", src, "-o", str(tmp_path / "missing" / "x.png")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--output: folder" in err and "does not exist" in err
    assert not (tmp_path / "x.png").exists()


def test_events_info_on_absolute_timestamps_and_corrupt_files(shared_data, tmp_path, capsys):
    assert main(["events", "info", str(shared_data / "fixtures" / "sample.aedat4"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["t_first_us"] > 1.6e15 and 0 < d["duration_us"] < 1_000_000 and d["events"] == 111_954
    raw = bytearray((shared_data / "fixtures" / "sample.aedat4").read_bytes())
    raw[14:18] = (2**31).to_bytes(4, "little")  # a 2 GiB header in a 1 MB file (aborted under a memory limit)
    (tmp_path / "huge.aedat4").write_bytes(bytes(raw))
    assert main(["events", "info", str(tmp_path / "huge.aedat4")]) == 2
    err = capsys.readouterr().err
    assert "huge.aedat4" in err and "header declares 2147483648 bytes" in err
