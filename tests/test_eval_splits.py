"""Checkpoints record their data split and time step; ``neuro eval`` scores the held-out split they record.

A tiny Free Spoken Digits folder (three speakers, written here as WAV files) keeps training to a second.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from neuro.cli import main
from neuro.errors import ConfigError
from neuro.models import build_model, read_checkpoint, save_checkpoint

SPEAKERS = ("alice", "bob", "carol")


def _write_fsdd(root: Path) -> list[str]:
    rec = root / "recordings"
    rec.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = []
    for spk_k, spk in enumerate(SPEAKERS):
        for digit in range(4):
            for take in range(2):
                t = np.arange(1200) / 8000
                wave = np.sin(2 * np.pi * (300 + 250 * digit + 20 * spk_k) * t) + 0.05 * rng.normal(size=t.size)
                name = f"{digit}_{spk}_{take}.wav"
                wavfile.write(rec / name, 8000, (wave * 12000).astype(np.int16))
                names.append(name)
    return names


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def fsdd_run(tmp_path_factory):
    """(data root, all file names, checkpoint, training summary) of a one-epoch run: test speaker carol,
    validation bob, training alice."""
    tmp = tmp_path_factory.mktemp("fsdd")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEURO_CACHE_DIR", str(tmp / "cache"))
        names = _write_fsdd(tmp / "data")
        rc, out, err = _run(["train", "fsdd", "--root", str(tmp / "data"), "--epochs", "1", "--hidden", "4",
                             "--max-delay", "2", "--batch-size", "8", "--test-speakers", "carol",
                             "--val-speakers", "bob", "--out", str(tmp / "run"), "--json"])
        assert rc == 0, err
        yield tmp / "data", names, tmp / "run" / "best.ckpt", json.loads(out)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_CACHE_DIR", str(tmp_path / "cache"))


def test_training_records_the_split_binning_and_dt(fsdd_run):
    root, names, best, summary = fsdd_run
    ckpt = read_checkpoint(best)
    assert ckpt["dt"] == 0.01 and summary["dt"] == 0.01  # 10 ms bins
    d = ckpt["data"]
    assert d["dataset"] == "fsdd" and d["root"] == str(root.resolve()) and d["seed"] == 0
    assert d["encoding"]["bin_us"] == 10_000 and d["encoding"]["channel_factor"] == 5
    assert d["encoding"]["encoder"]["n_channels"] == 700
    s = d["splits"]
    assert s["test"]["speakers"] == ["carol"] and sorted(s["test"]["files"]) == sorted(n for n in names if "carol" in n)
    train, val, test = (set(s[k]["files"]) for k in ("train", "validation", "test"))
    assert not (train & test) and not (train & val) and not (val & test)
    assert train | val | test == set(names) and s["train"]["count"] == len(train) == 8  # one speaker validates
    assert summary["data"]["splits"]["test"] == {"count": 8, "speakers": ["carol"]}


def test_eval_scores_the_recorded_test_speaker_only(fsdd_run):
    root, _, best, summary = fsdd_run
    for extra in ([], ["--dataset", "fsdd"]):
        rc, out, err = _run(["eval", str(best), *extra, "--json"])
        assert rc == 0, err
        r = json.loads(out)
        assert r["samples"] == 8 and r["split"] == "test" and r["speakers"] == ["carol"]
        assert r["dataset"] == "fsdd" and r["root"] == str(root.resolve()) and r["overlaps_training"] == 0
        assert r["accuracy"] == pytest.approx(summary["test_accuracy"])
    rc, out, _ = _run(["eval", str(best)])
    assert rc == 0 and f"on 8 samples: fsdd test split (8 recordings; speakers carol) from {root.resolve()}" in out


def test_eval_refuses_a_missing_or_empty_root(fsdd_run, tmp_path):
    _, _, best, _ = fsdd_run
    (tmp_path / "empty").mkdir()
    for root, why in ((tmp_path / "nowhere", "no such folder"), (tmp_path / "empty", "is an empty folder")):
        for dataset in ("fsdd", "nmnist"):
            rc, out, err = _run(["eval", str(best), "--dataset", dataset, "--root", str(root)])
            assert rc == 2 and out == ""
            assert f"--root {root}" in err and why in err


def test_eval_refuses_training_data_unless_asked(fsdd_run, tmp_path):
    _, names, best, _ = fsdd_run
    ckpt = read_checkpoint(best)
    ckpt["data"]["splits"]["test"] = ckpt["data"]["splits"]["train"]  # a record whose test split is not held out
    save_checkpoint(ckpt, tmp_path / "leaky.ckpt")
    rc, _, err = _run(["eval", str(tmp_path / "leaky.ckpt")])
    assert rc == 2 and "shares 8 recordings with the training data" in err and "--split train" in err
    rc, out, err = _run(["eval", str(best), "--split", "train", "--json"])
    assert rc == 0, err
    r = json.loads(out)
    assert r["split"] == "train" and r["samples"] == 8 and r["overlaps_training"] == 8
    rc, out, err = _run(["eval", str(best), "--speakers", "alice"])
    assert rc == 0, err
    assert "fsdd speakers alice (8 recordings; speakers alice)" in out and "were used in training" in out
    rc, out, _ = _run(["eval", str(best), "--speakers", "alice", "--json"])
    r = json.loads(out)
    assert r["split"] == "speakers" and r["speakers"] == ["alice"] and 0 < r["overlaps_training"] <= 8


def test_eval_without_a_recorded_split_needs_explicit_speakers(fsdd_run, tmp_path):
    root, _, best, _ = fsdd_run
    ckpt = read_checkpoint(best)
    bare = {k: ckpt[k] for k in ("model_name", "model_config", "state_dict")}
    save_checkpoint(bare, tmp_path / "bare.ckpt")
    rc, _, err = _run(["eval", str(tmp_path / "bare.ckpt"), "--dataset", "fsdd", "--root", str(root)])
    assert rc == 2 and "records no fsdd data split" in err and "--speakers" in err
    rc, out, err = _run(["eval", str(tmp_path / "bare.ckpt"), "--dataset", "fsdd", "--root", str(root), "--speakers",
                         "carol", "--json"])
    assert rc == 0, err
    assert json.loads(out)["samples"] == 8 and json.loads(out)["overlaps_training"] is None


def test_resuming_with_another_split_is_refused(fsdd_run, tmp_path):
    import argparse

    from neuro.experiments.delays import train_delay_model

    root, _, best, _ = fsdd_run
    out = best.parent
    args = argparse.Namespace(root=str(root), test_speakers=["bob"], seed=0, hidden=4, max_delay=2, mode="learned",
                              epochs=2, batch_size=8, out=str(out), json=True)
    with pytest.raises(ConfigError, match="other data"):
        train_delay_model("fsdd", args)


def test_eval_of_a_generated_events_demo_needs_a_dataset(tmp_path):
    model = build_model("conv_snn", in_channels=2, size=34, n_classes=10)
    save_checkpoint({"model_name": "conv_snn", "model_config": {"in_channels": 2, "size": 34, "n_classes": 10},
                     "state_dict": model.state_dict(), "dt": 0.03, "data": {"dataset": "generated", "splits": {}}},
                    tmp_path / "demo.ckpt")
    rc, _, err = _run(["eval", str(tmp_path / "demo.ckpt")])
    assert rc == 2 and "pass --dataset" in err
    rc, _, err = _run(["eval", str(tmp_path / "demo.ckpt"), "--dataset", "nmnist"])
    assert rc == 2 and "records no N-MNIST data split" in err


def test_shd_checkpoint_records_file_indices_and_eval_scores_the_test_file(tmp_path):
    from neuro.datasets import make_events
    from neuro.datasets.shd import write_shd

    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    root.mkdir()
    for name, n in (("shd_train.h5", 20), ("shd_test.h5", 6)):
        samples = [make_events(np.sort(rng.integers(0, 200_000, 300)), rng.integers(0, 700, 300)) for _ in range(n)]
        write_shd(root / name, samples, rng.integers(0, 20, n), [str(k) for k in range(20)], rng.integers(0, 3, n))
    rc, out, err = _run(["train", "shd", "--root", str(root), "--epochs", "1", "--hidden", "4", "--max-delay", "2",
                         "--batch-size", "8", "--out", str(tmp_path / "run"), "--json"])
    assert rc == 0, err
    ckpt = read_checkpoint(tmp_path / "run" / "best.ckpt")
    s = ckpt["data"]["splits"]
    assert ckpt["dt"] == 0.01 and s["test"]["source"] == "shd_test.h5" and s["test"]["indices"] == list(range(6))
    assert s["train"]["source"] == s["validation"]["source"] == "shd_train.h5"
    assert sorted(s["train"]["indices"] + s["validation"]["indices"]) == list(range(20))
    assert len(s["validation"]["speakers"]) == 1 and not set(s["validation"]["speakers"]) & set(s["train"]["speakers"])
    summary = json.loads(out)
    assert {"test_accuracy", "last_epoch_test_accuracy", "params"} <= set(summary) and summary["params"] > 0
    rc, out, err = _run(["eval", str(tmp_path / "run" / "best.ckpt"), "--json"])
    assert rc == 0, err
    r = json.loads(out)
    assert (r["dataset"], r["split"], r["source"], r["samples"], r["overlaps_training"]) == ("shd", "test",
                                                                                          "shd_test.h5", 6, 0)
    assert r["accuracy"] == pytest.approx(json.loads((tmp_path / "run" / "summary.json").read_text())["test_accuracy"])
    rc, out, err = _run(["eval", str(tmp_path / "run" / "best.ckpt"), "--split", "validation", "--json"])
    assert rc == 0 and json.loads(out)["samples"] == s["validation"]["count"]


def _fsdd_as_shd(tmp_path) -> tuple[Path, list[str]]:
    """An SHD data folder whose train and test files are tiny FSDD recordings written by SpikingFSDD.to_hdf5."""
    from neuro.datasets import SpikingFSDD

    _write_fsdd(tmp_path / "fsdd")
    root = tmp_path / "shd"
    root.mkdir()
    full = SpikingFSDD(tmp_path / "fsdd")
    full.to_hdf5(root / "shd_train.h5")
    full.to_hdf5(root / "shd_test.h5")
    return root, full.speakers


def test_shd_validation_is_whole_held_out_speakers(tmp_path):
    from neuro.experiments.delays import load_splits

    root, speakers = _fsdd_as_shd(tmp_path)
    ids = {str(k) for k in range(len(SPEAKERS))}  # to_hdf5 numbers the speakers 0, 1, 2
    chosen = set()
    for seed in range(6):
        sp = load_splits("shd", root, seed=seed)
        tr, va = sp.record["splits"]["train"], sp.record["splits"]["validation"]
        assert len(va["speakers"]) == 1 and set(tr["speakers"]) == set(range(3)) - set(va["speakers"])
        assert va["count"] == speakers.count(SPEAKERS[va["speakers"][0]]) == 8
        assert sorted(tr["indices"] + va["indices"]) == list(range(len(speakers)))
        assert sp.record["validation"] == "held-out training speakers"
        chosen |= {str(v) for v in va["speakers"]}
    assert len(chosen) > 1 and chosen <= ids  # the seed picks the speaker
    sp = load_splits("shd", root, seed=0, val_speakers=["0", "2"])
    assert sp.record["splits"]["validation"]["speakers"] == [0, 2] and sp.record["splits"]["train"]["speakers"] == [1]
    with pytest.raises(ConfigError, match="--val-speakers 7: not among the speakers"):
        load_splits("shd", root, val_speakers=["7"])
    with pytest.raises(ConfigError, match="leave at least one for training"):
        load_splits("shd", root, val_speakers=["0", "1", "2"])


def test_fsdd_validation_speaker_is_neither_test_nor_training(fsdd_run):
    _, _, best, summary = fsdd_run
    s = read_checkpoint(best)["data"]["splits"]
    assert (s["test"]["speakers"], s["validation"]["speakers"], s["train"]["speakers"]) == (["carol"], ["bob"],
                                                                                          ["alice"])
    assert summary["last_epoch_test_accuracy"] >= 0 and summary["params"] > 0


def test_eval_reads_an_older_checkpoint_with_the_encoder_it_was_trained_with(fsdd_run, tmp_path, monkeypatch):
    """Checkpoints written before ``channel_norm`` and ``dynamic_range`` existed record no such settings:
    they were trained on the plain filterbank with a 20 dB window, and eval must encode with that
    (channel_norm=0, dynamic_range=100), not with today's defaults."""
    from neuro.datasets.audio import CochleaEncoder

    _, _, best, _ = fsdd_run
    ckpt = read_checkpoint(best)
    assert ckpt["data"]["encoding"]["encoder"]["channel_norm"] == 1.0  # recorded by new runs
    assert ckpt["data"]["encoding"]["encoder"]["dynamic_range"] == 10_000.0
    del ckpt["data"]["encoding"]["encoder"]["channel_norm"]
    del ckpt["data"]["encoding"]["encoder"]["dynamic_range"]
    save_checkpoint(ckpt, tmp_path / "old.ckpt")
    seen = []
    init = CochleaEncoder.__init__

    def spy(self, *a, **kw):
        init(self, *a, **kw)
        seen.append((self.channel_norm, self.dynamic_range))

    monkeypatch.setattr(CochleaEncoder, "__init__", spy)
    rc, _, err = _run(["eval", str(tmp_path / "old.ckpt"), "--json"])
    assert rc == 0, err
    assert seen == [(0.0, 100.0)]


def test_fsdd_encoder_choice_is_recorded(fsdd_run):
    from neuro.experiments.delays import load_splits

    root = fsdd_run[0]
    plain = load_splits("fsdd", root, ["carol"], encoder="plain").record["encoding"]["encoder"]
    default = load_splits("fsdd", root, ["carol"]).record["encoding"]["encoder"]
    assert (plain["channel_norm"], plain["floor"], plain["dynamic_range"]) == (0.0, 0.3, 100.0)
    assert (default["channel_norm"], default["floor"], default["dynamic_range"]) == (1.0, 0.1, 10_000.0)
    with pytest.raises(ConfigError, match="unknown --encoder 'lauscher'"):
        load_splits("fsdd", root, ["carol"], encoder="lauscher")


def test_a_model_trained_on_the_inner_ear_encoder_is_scored_on_it(fsdd_run, tmp_path):
    """``--encoder inner-ear`` is recorded with its settings, its spikes are cached apart from the
    filterbank's, and ``neuro eval`` re-encodes with it: the same test accuracy as in training."""
    root = fsdd_run[0]
    rc, out, err = _run(["train", "fsdd", "--root", str(root), "--epochs", "1", "--hidden", "4", "--max-delay", "2",
                         "--batch-size", "8", "--test-speakers", "carol", "--val-speakers", "bob",
                         "--encoder", "inner-ear", "--out", str(tmp_path / "run"), "--json"])
    assert rc == 0, err
    summary = json.loads(out)
    enc = read_checkpoint(tmp_path / "run" / "best.ckpt")["data"]["encoding"]["encoder"]
    assert enc["kind"] == "inner-ear" and enc["n_fibres"] == 40 and "channel_norm" not in enc
    caches = sorted(p.name for p in (tmp_path / "cache" / "spiking_fsdd").iterdir())
    assert len(caches) == 1 and len(list((tmp_path / "cache" / "spiking_fsdd" / caches[0]).glob("*.npy"))) == 24
    rc, out, err = _run(["eval", str(tmp_path / "run" / "best.ckpt"), "--json"])
    assert rc == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert sorted(p.name for p in (tmp_path / "cache" / "spiking_fsdd").iterdir()) == caches  # read, not re-encoded


def test_neuron_alif_is_recorded_scored_in_float_and_refused_on_loihi(fsdd_run, tmp_path):
    root = fsdd_run[0]
    base = ["train", "fsdd", "--root", str(root), "--epochs", "1", "--hidden", "4", "--max-delay", "2",
            "--batch-size", "8", "--test-speakers", "carol", "--val-speakers", "bob"]
    rc, out, err = _run([*base, "--neuron", "alif", "--tau-a", "8", "--out", str(tmp_path / "run"), "--json"])
    assert rc == 0, err
    summary = json.loads(out)
    config = read_checkpoint(tmp_path / "run" / "best.ckpt")["model_config"]
    assert (config["neuron"], config["tau_a"], config["beta_a"]) == ("alif", 8.0, 0.2)
    rc, out, err = _run(["eval", str(tmp_path / "run" / "best.ckpt"), "--json"])
    assert rc == 0 and json.loads(out)["accuracy"] == pytest.approx(summary["test_accuracy"])
    rc, out, err = _run(["eval", str(tmp_path / "run" / "best.ckpt"), "--backend", "loihi", "--json"])
    assert rc == 2 and "ALIF has no Loihi" in err
    rc, _, err = _run([*base, "--model", "xylo_snn", "--neuron", "alif", "--out", str(tmp_path / "x")])
    assert rc == 2 and "--neuron alif applies to the delay model" in err
    assert "neuron" not in read_checkpoint(fsdd_run[2])["model_config"]  # the default is not recorded


def test_val_speakers_none_trains_on_every_training_speaker(tmp_path):
    """``--val-speakers none``: nothing validates, both training speakers train, and the model reported
    (and written as best.ckpt) is the last epoch's."""
    _write_fsdd(tmp_path / "data")
    rc, out, err = _run(["train", "fsdd", "--root", str(tmp_path / "data"), "--epochs", "2", "--hidden", "4",
                         "--max-delay", "2", "--batch-size", "8", "--test-speakers", "carol", "--val-speakers", "none",
                         "--out", str(tmp_path / "run"), "--json"])
    assert rc == 0, err
    summary = json.loads(out)
    s = read_checkpoint(tmp_path / "run" / "best.ckpt")["data"]
    assert s["splits"]["train"]["speakers"] == ["alice", "bob"] and s["splits"]["validation"]["count"] == 0
    assert s["validation"].startswith("none")
    assert summary["best"] == {"val_accuracy": None, "epoch": 2}
    assert summary["test_accuracy"] == summary["last_epoch_test_accuracy"]
    assert (tmp_path / "run" / "best.ckpt").read_bytes() == (tmp_path / "run" / "last.ckpt").read_bytes()
    rc, out, err = _run(["train", "fsdd", "--root", str(tmp_path / "data"), "--epochs", "1", "--test-speakers",
                         "carol", "--val-speakers", "none", "bob", "--out", str(tmp_path / "run2")])
    assert rc == 2 and "'none' stands alone" in err


def test_fsdd_bins_start_at_each_recordings_first_spike():
    """FSDD recordings start after 42 to 156 ms of silence depending on the speaker: new FSDD runs bin from the
    first spike (recorded as t0='first'); checkpoints that record t0='zero' keep binning from t = 0."""
    from neuro.datasets.events import make_events
    from neuro.experiments.delays import ENCODING, FSDD_ENCODING, _transform

    assert FSDD_ENCODING["t0"] == "first" and ENCODING["t0"] == "zero"
    ev = make_events(t=np.array([50_000, 51_000, 75_000]), x=np.array([0, 7, 12]))
    first, zero = _transform(FSDD_ENCODING)(ev), _transform(ENCODING)(ev)
    assert first.shape[0] == 3 and first[0].sum() == 2 and first[2].sum() == 1
    assert zero.shape[0] == 8 and zero[:5].sum() == 0 and np.array_equal(zero[5:], first)
    with pytest.raises(ConfigError, match="unsupported recorded binning t0='middle'"):
        _transform(ENCODING | {"t0": "middle"})
