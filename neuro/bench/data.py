"""``neuro bench data``: N-MNIST decoding and frame binning, neuro vs tonic on the same files."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuro.bench.timing import median, time_it
from neuro.datasets import NMNIST, Decimation, HotPixelFilter, RefractoryPeriod, ToFrame, ToTimesurface, read_nmnist

TRANSFORM_FILES = 20
"""Recordings the per-transform rows use (tonic's filters loop over events in Python)."""


def run_data_bench(root: str | None = None, n_bins: int = 10, repeat: int = 3) -> dict[str, Any]:
    files = NMNIST(root).files  # Train/<digit>/*.bin under root (or NMNIST/, nmnist-small/)
    to_frame = ToFrame(NMNIST.sensor_size, n_time_bins=n_bins)

    def ours() -> list[np.ndarray]:
        return [to_frame(read_nmnist(f)) for f in files]

    rows = []
    ref = ours()
    t = median(time_it(ours, repeat=repeat))
    rows.append({"name": "neuro", "seconds": t, "samples_per_s": len(files) / t})
    speedup = None
    try:
        import tonic.io
        import tonic.transforms as tt

        dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
        tf = tt.ToFrame(sensor_size=NMNIST.sensor_size, n_time_bins=n_bins)

        def theirs() -> list[np.ndarray]:
            return [tf(tonic.io.read_mnist_file(str(f), dtype=dtype)) for f in files]

        out = theirs()
        tt_s = median(time_it(theirs, repeat=repeat))
        # Conventions differ: neuro's n_time_bins splits [t0, t_last] into equal parts and keeps every
        # event; tonic uses integer windows of (t_last - t0) // n µs and drops the remainder.  With
        # neuro's time_window set to tonic's window, the first n frames must be identical.
        same = True
        for f, b in zip(files, out, strict=True):
            ev = read_nmnist(f)
            w = int(ev["t"][-1] - ev["t"][0]) // n_bins
            same &= bool(np.array_equal(ToFrame(NMNIST.sensor_size, time_window=w)(ev)[:n_bins], b))
        kept = [float(b.sum() / a.sum()) for a, b in zip(ref, out, strict=True)]
        rows.append({"name": "tonic", "seconds": tt_s, "samples_per_s": len(files) / tt_s,
                     "frames_equal": same, "fraction_of_events_tonic_bins": float(np.mean(kept))})
        speedup = tt_s / t
    except ImportError:
        pass
    rows += transform_rows(files[:TRANSFORM_FILES], repeat)
    return {"samples": len(files), "bins": n_bins, "rows": rows, "speedup_vs_tonic": speedup}


def transform_rows(files, repeat: int = 3) -> list[dict[str, Any]]:
    """neuro's event filters and time surfaces vs tonic's on the same decoded recordings: time and equality.

    Times are shifted by 1 µs: tonic's RefractoryPeriod drops a pixel's first event when it lies at t = 0."""
    events = []
    for f in files:
        ev = read_nmnist(f)
        ev["t"] += 1
        events.append(ev)
    S = NMNIST.sensor_size
    ours = {"RefractoryPeriod(1 ms)": RefractoryPeriod(1000), "Decimation(4)": Decimation(4),
            "hot pixels (> 200 ev/s)": HotPixelFilter(max_rate=200),
            "ToTimesurface(10 ms)": ToTimesurface(S, 10_000, 5000.0)}
    try:
        import tonic.transforms as tt

        theirs = {"RefractoryPeriod(1 ms)": tt.RefractoryPeriod(1000), "Decimation(4)": tt.Decimation(4),
                  "hot pixels (> 200 ev/s)": tt.DropPixel(hot_pixel_frequency=200),
                  "ToTimesurface(10 ms)": tt.ToTimesurface(S, 10_000, 5000.0)}
    except ImportError:
        theirs = {}
    rows = []
    for name, fn in ours.items():
        out = [fn(e) for e in events]
        t = median(time_it(lambda fn=fn: [fn(e) for e in events], repeat=repeat))
        row: dict[str, Any] = {"name": f"neuro {name}", "seconds": t, "samples_per_s": len(events) / t}
        rows.append(row)
        if name in theirs:
            other = theirs[name]
            ref = [other(e) for e in events]
            tt_s = median(time_it(lambda other=other: [other(e) for e in events], repeat=repeat))
            same = all(_equal(a, b) for a, b in zip(out, ref, strict=True))
            row["frames_equal"] = same
            rows.append({"name": f"tonic {name}", "seconds": tt_s, "samples_per_s": len(events) / tt_s,
                         "frames_equal": same})
    return rows


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.names is None:
        return a.shape == b.shape and bool(np.allclose(a, b, atol=1e-6))
    return len(a) == len(b) and all(np.array_equal(a[k].astype(np.int64), b[k].astype(np.int64)) for k in "xytp")
