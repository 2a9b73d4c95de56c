"""The FSDD speaker-rotation protocol and its non-spiking references (``neuro experiment fsdd-baselines``)."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from scipy.io import wavfile

from neuro.cli import main
from neuro.datasets.audio import binned_counts, log_mel, mel_filterbank
from neuro.datasets.events import make_events
from neuro.errors import ConfigError
from neuro.experiments.fsdd import rotate_classifier, speaker_rotation

SPEAKERS = ["ann", "ben", "cat", "dan"]


def test_rotation_never_validates_or_trains_on_the_test_speaker():
    rows = list(speaker_rotation(SPEAKERS * 3, None, seeds=[0, 1, 2, 3, 4]))
    assert len(rows) == len(SPEAKERS) * 5
    for test, val, train, _ in rows:
        assert val != test and test not in train and val not in train
        assert sorted([test, val, *train]) == SPEAKERS
    vals = {val for test, val, _, _ in rows if test == "ann"}
    assert len(vals) > 1  # the seed picks the validation speaker
    again = list(speaker_rotation(SPEAKERS, ["ann"], seeds=[0, 1, 2, 3, 4]))
    assert again == [r for r in rows if r[0] == "ann"]  # and the choice is reproducible
    with pytest.raises(ConfigError, match="unknown FSDD speakers \\['eve'\\] in --test-speakers"):
        list(speaker_rotation(SPEAKERS, ["eve"], [0]))
    with pytest.raises(ConfigError, match="at least 3 speakers"):
        list(speaker_rotation(["ann", "ben"], None, [0]))


def test_rotated_classifier_reports_every_speaker_and_seed():
    """Digits carried by one feature, a speaker-specific offset on the others: every held-out speaker is
    classified from the digit feature; the summary holds one run per speaker and seed."""
    rng = np.random.default_rng(0)
    spk = np.repeat(SPEAKERS, 40)
    y = np.tile(np.arange(4), 40)
    X = np.column_stack([y + 0.1 * rng.normal(size=y.size), rng.normal(size=(y.size, 3))
                         + np.repeat(np.arange(4), 40)[:, None]])
    r = rotate_classifier(X, y, spk, seeds=[0, 1])
    assert set(r["per_speaker"]) == set(SPEAKERS) and len(r["runs"]) == 8
    assert all(p["runs"] == 2 for p in r["per_speaker"].values())
    assert r["mean"] > 0.95 and r["worst"] == min(p["mean"] for p in r["per_speaker"].values())
    assert {run["C"] for run in r["runs"]} <= {0.01, 0.1, 1.0}
    assert all(run["validation"] != run["test"] for run in r["runs"])


def test_log_mel_puts_a_tone_in_its_band_and_stretches_time():
    rate = 8000
    fb = mel_filterbank(40, 256, rate)
    centres = np.fft.rfftfreq(256, 1 / rate)[fb.argmax(1)]
    for seconds in (0.3, 0.9):
        t = np.arange(int(rate * seconds)) / rate
        m = log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32), rate)
        assert m.shape == (40, 10)  # ten equal parts whatever the length
        assert abs(centres[m.mean(1).argmax()] - 1000) < 100


def test_binned_counts_layout():
    ev = make_events(np.array([0, 50_000, 99_999, 120_000]), np.array([0, 4, 699, 350]))
    c = binned_counts(ev, duration_us=100_000, n_bands=140, n_bins=10)
    assert c.shape == (140, 10) and c.sum() == 4  # an event past the end lands in the last part
    assert c[0, 0] == 1 and c[0, 5] == 1 and c[139, 9] == 1 and c[70, 9] == 1


def test_fsdd_baselines_command_on_a_small_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_CACHE_DIR", str(tmp_path / "cache"))
    rec = tmp_path / "data" / "recordings"
    rec.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(1600) / 8000
    for k, spk in enumerate(SPEAKERS[:3]):
        for digit in range(3):
            for take in range(4):
                wave = np.sin(2 * np.pi * (400 + 600 * digit + 15 * k) * t) + 0.05 * rng.normal(size=t.size)
                wavfile.write(rec / f"{digit}_{spk}_{take}.wav", 8000, (wave * 10000).astype(np.int16))
    argv = ["experiment", "fsdd-baselines", "--root", str(tmp_path / "data"), "--seeds", "0", "1", "--json"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    r = json.loads(out.getvalue())
    assert set(r["results"]) == {"logmel", "logmel-cmn", "spike-counts", "spike-counts-plain"} and r["seeds"] == [0, 1]
    lm = r["results"]["logmel"]
    assert lm["dim"] == 400 and r["results"]["spike-counts"]["dim"] == 1400
    assert set(lm["per_speaker"]) == set(SPEAKERS[:3]) and lm["mean"] == 1.0  # pure tones, one per digit
    assert len(list((tmp_path / "cache" / "fsdd_features").glob("*.npz"))) == 3  # logmel-cmn derives from logmel
    from neuro.experiments.fsdd import fsdd_features

    X, _, _ = fsdd_features(tmp_path / "data", "logmel-cmn")
    assert X.shape[1] == 400 and np.abs(X.reshape(len(X), 40, 10).mean(2)).max() < 1e-4  # every band's mean removed
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv[:-1] + ["--features", "logmel"]) == 0  # from the cache, as a table
    assert "ann" in out.getvalue() and "all" in out.getvalue()


def test_gru_references_learn_tones_and_read_the_delay_models_input(tmp_path, monkeypatch):
    """The GRU references: sequences stacked with their lengths (the spike one is exactly the delay model's
    input, log(1 + count)), and a GRU that separates one pure tone per digit on an unseen speaker."""
    monkeypatch.setenv("NEURO_CACHE_DIR", str(tmp_path / "cache"))
    rec = tmp_path / "data" / "recordings"
    rec.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for k, spk in enumerate(SPEAKERS[:3]):
        for digit in range(3):
            for take in range(4):
                t = np.arange(1200 + 400 * take) / 8000
                wave = np.sin(2 * np.pi * (400 + 900 * digit + 15 * k) * t) + 0.05 * rng.normal(size=t.size)
                wavfile.write(rec / f"{digit}_{spk}_{take}.wav", 8000, (wave * 10000).astype(np.int16))
    from neuro.datasets import SpikingFSDD
    from neuro.datasets.audio import CochleaEncoder, audio_frames
    from neuro.experiments.fsdd import fsdd_sequences, rotate_gru

    frames, lengths, y, spk = fsdd_sequences(tmp_path / "data", "gru-spikes")
    assert frames.shape == (lengths.sum(), 140) and len(lengths) == len(y) == len(spk) == 36
    spiking = SpikingFSDD(tmp_path / "data", encoder=CochleaEncoder())
    k = 5
    start = lengths[:k].sum()
    assert np.allclose(frames[start:start + lengths[k]], np.log1p(audio_frames(t0="first")(spiking.events(k))))
    lm, lm_len, _, _ = fsdd_sequences(tmp_path / "data", "gru-logmel")
    assert lm.shape[1] == 40 and len(set(lm_len.tolist())) == 4  # 10 ms frames: four recording lengths
    small = {"epochs": 30, "batch_size": 8, "hidden": 32, "lr": 3e-3}
    r = rotate_gru(lm, lm_len, y, spk, [SPEAKERS[2]], seeds=[0], recipe=small)
    assert r["per_speaker"][SPEAKERS[2]]["mean"] >= 0.9 and r["runs"][0]["validation"] is None
    chance = rotate_gru(lm, lm_len, y, spk, [SPEAKERS[2]], seeds=[0], recipe=small | {"epochs": 0})
    assert chance["mean"] < 0.7  # untrained, it does not separate them: the accuracy above is learned


def test_voices_curve_fits_every_combination_of_training_speakers(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_CACHE_DIR", str(tmp_path / "cache"))
    rec = tmp_path / "data" / "recordings"
    rec.mkdir(parents=True)
    t = np.arange(1600) / 8000
    for k, spk in enumerate(SPEAKERS[:3]):
        for digit in range(3):
            for take in range(2):
                wave = np.sin(2 * np.pi * (400 + 600 * digit + 15 * k) * t)
                wavfile.write(rec / f"{digit}_{spk}_{take}.wav", 8000, (wave * 10000).astype(np.int16))
    argv = ["experiment", "fsdd-baselines", "--root", str(tmp_path / "data"), "--features", "logmel",
            "--voices-curve", "--json"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    curve = json.loads(out.getvalue())["results"]["logmel"]["curve"]
    # three speakers: each test speaker has two one-voice training sets and one two-voice set
    assert {k: c["fits"] for k, c in curve.items()} == {"1": 6, "2": 3}
    assert curve["2"]["mean"] == 1.0  # one pure tone per digit
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(argv[:-3] + ["gru-logmel", "--voices-curve"]) == 2
    assert "logistic references only" in err.getvalue()
