"""``neuro demo`` (the README's first command) and ``neuro train nmnist`` (the same training, real data only)."""

from __future__ import annotations

from neuro.commands.options import nonnegative_int, output_dir, positive_int
from neuro.commands.registry import arg, command, print_json, print_outputs

_DEVICE = arg("--device", choices=["auto", "cpu", "cuda"], default="auto",
              help="where to train: auto = the GPU when there is one, else the CPU")


@command(
    "demo",
    help="train a small convolutional SNN on the N-MNIST recordings in the data directory (or generated events)",
    args=[
        arg("--root", default=None, help="data folder holding Train/<digit>/*.bin (default: $NEURO_DATA_DIR)"),
        arg("--epochs", type=positive_int, default=8, help="training epochs"),
        arg("--bins", type=positive_int, default=10, help="time bins per 300 ms recording"),
        arg("--out", type=output_dir, default="runs/demo", help="where checkpoints, history and plots go"),
        _DEVICE,
        arg("--json", action="store_true", help="print the summary as JSON"),
    ],
)
def demo(args) -> int:
    from pathlib import Path

    from neuro.experiments.demo import run_demo

    s = run_demo(Path(args.root) if args.root else None, epochs=args.epochs, n_bins=args.bins, out_dir=args.out,
                 progress=not args.json, device=args.device)
    _report(s, args.json)
    return 0


@command(
    "train nmnist",
    help="train the convolutional SNN (conv_snn) on N-MNIST recordings: 80/10/10 train/validation/held-out test",
    args=[
        arg("--root", default=None, help="data folder holding Train/<digit>/*.bin (default: $NEURO_DATA_DIR)"),
        arg("--epochs", type=positive_int, default=8, help="training epochs"),
        arg("--batch-size", type=positive_int, default=32, help="recordings per training step"),
        arg("--bins", type=positive_int, default=10, help="time bins per 300 ms recording"),
        arg("--out", type=output_dir, default="runs/nmnist", help="output folder"),
        arg("--seed", type=nonnegative_int, default=0, help="random seed (data split, initialization, batches)"),
        _DEVICE,
        arg("--json", action="store_true", help="print the summary as JSON"),
    ],
)
def train_nmnist(args) -> int:
    from pathlib import Path

    from neuro.experiments.demo import run_demo

    s = run_demo(Path(args.root) if args.root else None, epochs=args.epochs, n_bins=args.bins, out_dir=args.out,
                 seed=args.seed, progress=not args.json, device=args.device, batch_size=args.batch_size,
                 require_data=True, search_default=args.root is None)
    _report(s, args.json)
    return 0


def _report(s: dict, as_json: bool) -> None:
    if as_json:
        print_json(s)
        return
    f = s["final"]
    n = s["samples"]
    print(f"data: {s['data']} ({n['train']} train / {n['validation']} validation / {n['test']} held-out test)")
    print(f"after {s['epochs']} epochs: train accuracy {f['train_accuracy']:.3f}, "
          f"validation accuracy {f['val_accuracy']:.3f} (best {s['best']['val_accuracy']:.3f}), "
          f"{s['seconds']:.0f} s")
    note = f" (neuro eval {s['files']['best_checkpoint']} scores the same recordings)" if "N-MNIST" in s["data"] \
        else ""
    print(f"held-out test accuracy of the best model: {s['test_accuracy']:.3f}{note}")
    print_outputs(s["files"])
