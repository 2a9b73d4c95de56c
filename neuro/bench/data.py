"""``neuro bench data``: N-MNIST decoding and frame binning, neuro vs tonic on the same files."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuro.bench.timing import median, time_it
from neuro.datasets import NMNIST, ToFrame, read_nmnist


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
    return {"samples": len(files), "bins": n_bins, "rows": rows, "speedup_vs_tonic": speedup}
