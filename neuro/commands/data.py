"""``neuro events info|plot`` and ``neuro bench data``."""

from __future__ import annotations

from neuro.commands.options import output_file, positive_int
from neuro.commands.registry import arg, command, print_json, print_table
from neuro.errors import ConfigError

MAX_PLOT_BINS = 64


def _describe(path: str) -> dict:
    import numpy as np

    from neuro.datasets import read_events

    s = read_events(path)
    e = s.events
    values, counts = np.unique(e["p"], return_counts=True)
    return {
        "file": path,
        "format": s.format,
        "events": int(len(e)),
        "duration_us": s.duration_us,
        "t_first_us": int(e["t"].min()) if len(e) else None,
        "t_last_us": int(e["t"].max()) if len(e) else None,
        "sensor_size": list(s.sensor_size),
        "fields": list(e.dtype.names),
        "polarity_counts": {int(k): int(v) for k, v in zip(values, counts, strict=True)},
    }


@command("events info", help="format, event count, duration, sensor size and fields of an event file",
         args=[arg("file", help="event file (N-MNIST .bin, Prophesee .dat/.raw, AEDAT4, SHD .h5)"),
               arg("--json", action="store_true", help="print JSON instead of text")])
def events_info(args) -> int:
    d = _describe(args.file)
    if args.json:
        print_json(d)
        return 0
    for k, v in d.items():
        print(f"{k:16s} {v}")
    return 0


@command("events plot", help="save a view of an event file as PNG (frames for cameras, a raster for audio)",
         args=[arg("file", help="event file (N-MNIST .bin, Prophesee .dat/.raw, AEDAT4, SHD .h5)"),
               arg("-o", "--output", type=output_file, required=True, help="PNG file to write"),
               arg("--bins", type=int, default=6,
                   help=f"time slices shown side by side, camera recordings (1-{MAX_PLOT_BINS})")])
def events_plot(args) -> int:
    if not 1 <= args.bins <= MAX_PLOT_BINS:
        raise ConfigError(f"--bins must be between 1 and {MAX_PLOT_BINS} (frames side by side), got {args.bins}")
    out = args.output
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro.datasets import read_events, to_dense

    s = read_events(args.file)
    e = s.events
    t0 = int(e["t"].min()) if len(e) else 0
    if "y" in e.dtype.names:
        frames = to_dense(e, s.sensor_size, args.bins)
        fig, axes = plt.subplots(1, args.bins, figsize=(2.2 * args.bins, 2.6), squeeze=False)
        span = (s.duration_us + 1) / args.bins / 1000
        for k, ax in enumerate(axes[0]):
            img = frames[k, 1] - frames[k, 0] if frames.shape[1] > 1 else frames[k, 0]
            lim = max(abs(img).max(), 1)
            ax.imshow(img, cmap="bwr", vmin=-lim, vmax=lim)
            ax.set_title(f"{k * span:.0f}-{(k + 1) * span:.0f} ms", fontsize=8)
            ax.axis("off")
    else:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.scatter((e["t"] - t0) / 1000, e["x"], s=0.5, c="k")
        ax.set_xlabel("time from the first event (ms)")
        ax.set_ylabel("channel")
    fig.suptitle(f"{s.format}: {len(e)} events")
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=100)
    except OSError as e:
        raise ConfigError(f"--output: cannot write {out} ({e.strerror or e})") from None
    finally:
        plt.close(fig)
    print(f"saved {out}")
    return 0


@command("bench data", help="decode the N-MNIST subset and bin it to frames, side by side with tonic",
         args=[arg("--root", default=None, help="folder holding nmnist-small/ or Train/ (default: data dir)"),
               arg("--bins", type=positive_int, default=10, help="frames per recording"),
               arg("--repeat", type=positive_int, default=3, help="timed runs (the median is reported)"),
               arg("--json", action="store_true", help="print JSON instead of the table")])
def bench_data(args) -> int:
    from neuro.bench.data import run_data_bench

    res = run_data_bench(args.root, args.bins, args.repeat)
    if args.json:
        print_json(res)
        return 0
    print_table(f"decode + bin {res['samples']} N-MNIST recordings to {args.bins} frames (median s)",
                ["implementation", "seconds", "samples/s", "identical frames (tonic's windows)"],
                [[r["name"], r["seconds"], r["samples_per_s"], str(r.get("frames_equal", ""))] for r in res["rows"]])
    print(f"neuro vs tonic: {res['speedup_vs_tonic']:.2f}x" if res["speedup_vs_tonic"] else "tonic not installed")
    return 0
