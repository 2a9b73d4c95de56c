"""``neuro demo``: the README's first command."""

from __future__ import annotations

from neuro.commands.options import output_dir, positive_int
from neuro.commands.registry import arg, command, print_json


@command(
    "demo",
    help="train a small convolutional SNN on the N-MNIST recordings in the data directory (or generated events)",
    args=[
        arg("--root", default=None, help="data folder holding Train/<digit>/*.bin (default: $NEURO_DATA_DIR)"),
        arg("--epochs", type=positive_int, default=8, help="training epochs"),
        arg("--bins", type=positive_int, default=10, help="time bins per 300 ms recording"),
        arg("--out", type=output_dir, default="runs/demo", help="where checkpoints, history and plots go"),
        arg("--json", action="store_true", help="print the summary as JSON"),
    ],
)
def demo(args) -> int:
    from pathlib import Path

    from neuro.experiments.demo import run_demo

    s = run_demo(Path(args.root) if args.root else None, epochs=args.epochs, n_bins=args.bins, out_dir=args.out,
                 progress=not args.json)
    if args.json:
        print_json(s)
        return 0
    f = s["final"]
    n = s["samples"]
    print(f"data: {s['data']} ({n['train']} train / {n['validation']} validation / {n['test']} held-out test)")
    print(f"after {s['epochs']} epochs: train accuracy {f['train_accuracy']:.3f}, "
          f"validation accuracy {f['val_accuracy']:.3f} (best {s['best']['val_accuracy']:.3f}), "
          f"{s['seconds']:.0f} s")
    note = f" (neuro eval {s['out_dir']}/best.ckpt scores the same recordings)" if "N-MNIST" in s["data"] else ""
    print(f"held-out test accuracy of the best model: {s['test_accuracy']:.3f}{note}")
    print(f"checkpoints, history.json and curves.png in {s['out_dir']}/")
    return 0
