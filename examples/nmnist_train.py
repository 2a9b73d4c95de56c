"""Train a convolutional spiking network on N-MNIST recordings, end to end.

    python examples/nmnist_train.py --root ../shared/data/nmnist-small --epochs 8

Reads the official layout ``Train/<digit>/<n>.bin`` (set NEURO_DATA_DIR or pass --root), bins
each 300 ms recording into 10 frames, trains ``conv_snn`` with neuro's training loop (fused CPU
LIF kernels, checkpoints, curves) and prints the validation accuracy and the accuracy on the
held-out test recordings (10 %, never seen in training or model selection).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuro.experiments.demo import run_demo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--out", default="runs/nmnist")
    args = ap.parse_args()
    s = run_demo(args.root, epochs=args.epochs, n_bins=args.bins, out_dir=args.out)
    print(f"{s['data']}: best validation accuracy {s['best']['val_accuracy']:.3f} after {s['epochs']} epochs, "
          f"held-out test accuracy {s['test_accuracy']:.3f}")


if __name__ == "__main__":
    main()
