"""``neuro events info|plot`` and ``neuro bench data``."""

from __future__ import annotations

from neuro.commands.options import nonnegative_int, output_file, positive_int
from neuro.commands.registry import arg, command, print_json, print_table
from neuro.errors import ConfigError

MAX_PLOT_BINS = 64  # the plotting module's limit too (neuro.plot.MAX_BINS)


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
         args=[arg("file", help="event file (N-MNIST .bin, Prophesee .dat/.raw, AEDAT 1-4 .aedat/.aedat4, SHD .h5)"),
               arg("--json", action="store_true", help="print JSON instead of text")])
def events_info(args) -> int:
    d = _describe(args.file)
    if args.json:
        print_json(d)
        return 0
    for k, v in d.items():
        print(f"{k:16s} {v}")
    return 0


@command("events plot", help="save a view of an event file as PNG: frames for cameras (ON red, OFF blue), a raster "
                              "for audio channels",
         args=[arg("file", help="event file (N-MNIST .bin, Prophesee .dat/.raw, AEDAT 1-4 .aedat/.aedat4, SHD .h5)"),
               arg("-o", "--output", type=output_file, required=True, help="PNG file to write"),
               arg("--bins", type=int, default=6,
                   help=f"camera recordings: time slices shown side by side (1-{MAX_PLOT_BINS})"),
               arg("--split", action="store_true",
                   help="camera recordings: draw ON and OFF events in separate rows instead of one colour image"),
               arg("--sample", type=nonnegative_int, default=0,
                   help="SHD/SSC .h5 files: which recording of the file to plot (its label is shown)")])
def events_plot(args) -> int:
    from pathlib import Path

    if not 1 <= args.bins <= MAX_PLOT_BINS:
        raise ConfigError(f"--bins must be between 1 and {MAX_PLOT_BINS} (frames side by side), got {args.bins}")

    from neuro.datasets import detect_format, read_events
    from neuro.plot import plot_events, save

    fmt = detect_format(args.file)
    if fmt == "shd_hdf5":
        from neuro.datasets.shd import N_CHANNELS, ShdFile

        f = ShdFile(args.file)
        if args.sample >= len(f):
            raise ConfigError(f"--sample {args.sample}: {args.file} holds {len(f)} recordings (0-{len(f) - 1})")
        events, sensor = f.events(args.sample), (N_CHANNELS, 1, 1)
        label = int(f.labels[args.sample])
        name = f" ({f.keys[label]})" if label < len(f.keys) else ""
        title = (f"{Path(args.file).name}: recording {args.sample} of {len(f)}, label {label}{name}, "
                 f"{len(events)} events")
    else:
        if args.sample:
            raise ConfigError(f"--sample picks a recording of an SHD/SSC .h5 file; {args.file} holds one recording "
                              f"({fmt})")
        s = read_events(args.file)
        events, sensor = s.events, s.sensor_size
        title = f"{Path(args.file).name} ({s.format}): {len(events)} events, {s.duration_us / 1000:.0f} ms"
    fig = plot_events(events, sensor, args.bins, split=args.split, title=title)
    try:
        save(fig, args.output)
    except ConfigError as e:
        raise ConfigError(f"--output: {e}") from None
    print(f"saved {args.output}")
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
