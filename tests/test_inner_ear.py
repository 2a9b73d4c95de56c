"""The inner-ear encoder against the package SHD was made with (lauscher), stage by stage and spike by spike."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.datasets.audio import CochleaEncoder
from neuro.datasets.encoders import encoder_defaults, make_encoder
from neuro.datasets.inner_ear import InnerEarEncoder
from neuro.errors import ConfigError, DataError

RATE = 8000


def _speech_like(n: int = 1200, seed: int = 0) -> np.ndarray:
    """A vowel-like sound: a gliding pitch with three formant-like harmonics, and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    f0 = 140 + 60 * t / t[-1]
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    wave = sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (4, 0.6), (13, 0.3)))
    return (wave * np.hanning(n) + 0.02 * rng.normal(size=n)).astype(np.float32)


@pytest.fixture(scope="module")
def reference():
    """Each stage of lauscher 1.0.1 on the test sound (50 channels), seeded like the encoder."""
    lauscher = pytest.importorskip("lauscher", reason="lauscher is a test dependency (pip install -e '.[test]')")
    del lauscher
    from lauscher.audiowaves import MonoAudioWave
    from lauscher.helpers import CommandLineArguments
    from lauscher.transformations import BasilarMembrane, BushyCell, HairCell, HanningWindow, RmsNormalizer

    CommandLineArguments().num_concurrent_jobs = 1
    wave = _speech_like()
    prepared = MonoAudioWave(wave.astype(np.float64), RATE).transform(RmsNormalizer(0.3)).transform(HanningWindow())
    samples = prepared.samples.copy()
    velocity = BasilarMembrane(channels=50)(prepared)
    probability = HairCell()(velocity)
    np.random.seed(3)
    spikes = BushyCell()(probability)
    return {"wave": wave, "samples": samples, "velocity": np.array(velocity.channels), "fs": velocity.sample_rate,
            "probability": np.array(probability.channels), "spikes": spikes._data}


def test_each_stage_equals_lauscher(reference):
    enc = InnerEarEncoder(n_channels=50, seed=3)
    x, rate = enc.prepare(reference["wave"], RATE)
    np.testing.assert_array_equal(x, reference["samples"])
    velocity, fs = enc.membrane(x, rate)
    assert fs == reference["fs"] == RATE // 2
    scale = np.abs(reference["velocity"]).max()
    assert np.abs(velocity - reference["velocity"]).max() <= 1e-12 * scale
    probability = enc.hair_cells(velocity, fs)
    # the velocity agrees to rounding; the transmitter pools carry that rounding on, so compare to the peak
    assert np.abs(probability - reference["probability"]).max() <= 1e-9 * reference["probability"].max()
    spikes = enc.bushy_cells(reference["probability"], fs)
    times, channels = reference["spikes"]
    assert spikes.sum() == len(times) > 100
    step, chan = np.nonzero(spikes.T)
    np.testing.assert_array_equal(chan, channels.astype(int))
    np.testing.assert_allclose(step / fs, times)


def test_encode_gives_the_reference_spikes_as_events(reference):
    ev = InnerEarEncoder(n_channels=50, seed=3).encode(reference["wave"], RATE)
    times, channels = reference["spikes"]
    np.testing.assert_array_equal(ev["x"], channels.astype(int))
    np.testing.assert_array_equal(ev["t"], np.round(times * 1e6).astype(np.int64))
    assert np.all(np.diff(ev["t"]) >= 0)


def test_sound_drives_the_channels_tuned_to_it_and_the_seed_is_the_only_randomness():
    """A 500 Hz tone excites the places tuned to it most (twice their spontaneous rate, and well above
    the base, which only its low-frequency tail reaches);
    the same seed gives the same events, another seed others."""
    t = np.arange(2400) / RATE
    tone = np.sin(2 * np.pi * 500 * t).astype(np.float32)
    enc = InnerEarEncoder(n_channels=100, seed=0)
    ev = enc.encode(tone, RATE)
    counts = np.bincount(ev["x"], minlength=100)
    silence = enc.encode(np.zeros_like(tone), RATE)
    # the place tuned to 500 Hz: s(c) = m (2 pi 500)^2 -> c = ln(c0 / (m w^2 + a)) / alpha, of 0..3.5
    w = 2 * np.pi * 500
    place = np.log(1e9 / (0.05 * w * w + 3500)) / 3.0 / 3.5 * 99
    peak = int(np.argmax(np.convolve(counts, np.ones(5), "same")))
    assert abs(peak - place) <= 8, (peak, place)
    quiet = np.bincount(silence["x"], minlength=100)  # spontaneous release alone
    assert counts[peak - 5:peak + 5].sum() > 2 * quiet[peak - 5:peak + 5].sum()
    assert counts[:20].mean() < 0.6 * counts[peak - 5:peak + 5].mean()  # the base is tuned to 8-22 kHz
    again = enc.encode(tone, RATE)
    np.testing.assert_array_equal(again, ev)
    other = InnerEarEncoder(n_channels=100, seed=1).encode(tone, RATE)
    assert len(other) != len(ev) or not np.array_equal(other, ev)


def test_resampling_and_bad_input():
    enc = InnerEarEncoder(n_channels=20, sample_rate=16000)
    x, rate = enc.prepare(_speech_like(800), RATE)
    assert rate == 16000 and len(x) == 1600
    with pytest.raises(DataError, match="NaN"):
        InnerEarEncoder().encode(np.array([0.0, np.nan, 1.0, 0.5, 0.2]), RATE)
    with pytest.raises(DataError, match="too short"):
        InnerEarEncoder().encode(np.zeros(3), RATE)
    with pytest.raises(ValueError, match="positive"):
        InnerEarEncoder(n_fibres=0)


def test_encoder_settings_name_their_kind_and_rebuild_the_encoder():
    from neuro.experiments.delays import encoder_settings, recorded_encoder

    inner = encoder_settings(kind="inner-ear")
    assert inner["kind"] == "inner-ear" and inner["n_fibres"] == 40 and "channel_norm" not in inner
    assert isinstance(make_encoder(inner), InnerEarEncoder)
    plain = encoder_defaults()
    assert "kind" not in plain and isinstance(make_encoder(plain), CochleaEncoder)
    # an old filterbank record without channel_norm reads with the value it was made with
    old = {k: v for k, v in plain.items() if k != "channel_norm"}
    assert recorded_encoder(old).channel_norm == 0.0
    assert recorded_encoder(inner).n_fibres == 40
    with pytest.raises(ConfigError, match="cannot build"):
        recorded_encoder({"kind": "basilar"})
    with pytest.raises(ConfigError, match="cannot build"):
        recorded_encoder({"kind": "inner-ear", "channel_norm": 1.0})
    # the encoders' caches never collide: the kind is part of what SpikingFSDD hashes
    assert vars(make_encoder(inner))["kind"] == "inner-ear"


def test_bench_audio_compares_with_lauscher_on_generated_sounds_without_the_data(tmp_path):
    pytest.importorskip("lauscher", reason="lauscher is a test dependency (pip install -e '.[test]')")
    from neuro.bench.audio import run_audio_bench

    r = run_audio_bench(n=2, channels=16, root=tmp_path)
    assert r["source"].startswith("generated sounds")
    assert [x["recording"] for x in r["runs"]] == ["generated vowel 0", "generated vowel 1"]
    assert r["equal_spikes"] is True and all(x["spikes"] > 0 for x in r["runs"])
    assert r["speedup"] == min(x["lauscher_s"] / x["neuro_inner_ear_s"] for x in r["runs"])
