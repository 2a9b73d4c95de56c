"""``neuro bench audio``: audio to spikes, neuro's inner-ear encoder vs lauscher (the package SHD was made with).

Both run the same recordings with the same random draws; the spikes are compared one by one.  neuro's
cochlea filterbank is timed on the same recordings as a third row.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import time
from typing import Any

import numpy as np

from neuro.bench.timing import time_it


def lauscher_available() -> tuple[bool, str]:
    try:
        import lauscher.transformations  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "not measured"
        return False, f"lauscher is not importable ({type(e).__name__}: {e}); pip install lauscher==1.0.1"
    return True, ""


def run_lauscher(wave: np.ndarray, rate: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (s) and channels of lauscher's whole chain (one worker process, like neuro's one core)."""
    from lauscher.audiowaves import MonoAudioWave
    from lauscher.helpers import CommandLineArguments
    from lauscher.transformations.wave2spike import Wave2Spike

    CommandLineArguments().num_concurrent_jobs = 1
    np.random.seed(seed)
    train = MonoAudioWave(np.asarray(wave, np.float64).copy(), rate).transform(Wave2Spike(num_channels=channels))
    return np.asarray(train.spike_times), np.asarray(train.spike_labels).astype(np.int64)


def bench_recordings(root=None, n: int = 3) -> tuple[list[tuple[str, np.ndarray, int]], str]:
    """``n`` FSDD recordings, one per speaker in turn (the first take of digit k for the k-th), or, without
    the data, generated vowel-like sounds; and where they came from."""
    from neuro.datasets.public import FSDD, read_wav
    from neuro.errors import DatasetNotFoundError

    try:
        audio = FSDD(root)
    except DatasetNotFoundError as e:
        rng = np.random.default_rng(0)
        out = []
        for k in range(n):
            t = np.arange(int(8000 * (0.3 + 0.1 * k))) / 8000
            phase = 2 * np.pi * np.cumsum(120 + 40 * k + 50 * t / t[-1]) / 8000
            wave = sum(a * np.sin(h * phase) for h, a in ((1, 1.0), (5, 0.5), (11, 0.25))) * np.hanning(len(t))
            out.append((f"generated vowel {k}", wave + 0.01 * rng.normal(size=len(t)), 8000))
        return out, f"generated sounds (no FSDD: {e})"
    speakers = sorted({s for _, _, s in audio.items})
    out = []
    for k in range(n):
        spk = speakers[k % len(speakers)]
        f = next(f for f, _, s in audio.items if s == spk and f.name.startswith(f"{k % 10}_"))
        wave, rate = read_wav(f)
        out.append((f.name, wave, rate))
    return out, f"FSDD recordings under {audio.root}"


def run_audio_bench(n: int = 3, channels: int = 700, repeat: int = 1, seed: int = 0, root=None) -> dict[str, Any]:
    """Time neuro's inner-ear encoder and lauscher on the same recordings, and check the spikes are equal."""
    from neuro.datasets.audio import CochleaEncoder
    from neuro.datasets.inner_ear import InnerEarEncoder

    inner, cochlea = InnerEarEncoder(n_channels=channels, seed=seed), CochleaEncoder(n_channels=channels)
    for enc in (inner, cochlea):  # compile the kernels and load the resampler outside the timing
        enc.encode(np.sin(np.arange(400) / 3.0), 8000)
    ok, why = lauscher_available()
    recordings, source = bench_recordings(root, n)
    rows = []
    for name, wave, rate in recordings:
        out: list[np.ndarray] = []  # the timed runs' events (the encoding is deterministic: any one will do)
        t_inner = min(time_it(lambda: out.append(inner.encode(wave, rate)), repeat, warmup=0))  # noqa: B023
        t_cochlea = min(time_it(lambda: cochlea.encode(wave, rate), repeat, warmup=0))  # noqa: B023
        ev = out[-1]
        row: dict[str, Any] = {"recording": name, "seconds_of_audio": len(wave) / rate, "spikes": len(ev),
                               "neuro_inner_ear_s": t_inner, "neuro_cochlea_s": t_cochlea}
        if ok:
            t0 = time.perf_counter()
            times, chans = run_lauscher(wave, rate, channels, seed)
            row["lauscher_s"] = time.perf_counter() - t0
            row["speedup"] = row["lauscher_s"] / t_inner
            row["equal_spikes"] = bool(len(times) == len(ev) and np.array_equal(chans, ev["x"])
                                       and np.array_equal(np.round(times * 1e6).astype(np.int64), ev["t"]))
        rows.append(row)
    equal = [r["equal_spikes"] for r in rows] if ok else []
    versions = {}
    for pkg in ("numpy", "scipy", "numba", "lauscher"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), **versions},
            "channels": channels, "source": source, "runs": rows, "lauscher": None if ok else why,
            "equal_spikes": all(equal) if ok else None,
            "speedup": min(r["speedup"] for r in rows) if ok else None}
