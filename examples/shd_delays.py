"""Train the delay SNN on SHD (downloads the official files when online).

    python examples/shd_delays.py --epochs 150 --hidden 256 --download
"""

from __future__ import annotations

import argparse

from neuro.errors import DatasetNotFoundError
from neuro.experiments.delays import train_delay_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=None)
    ap.add_argument("--mode", choices=["learned", "fixed", "none"], default="learned")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--max-delay", type=int, default=24)
    ap.add_argument("--download", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.json = False
    try:
        s = train_delay_model("shd", args)
    except DatasetNotFoundError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"SHD test accuracy {s['test_accuracy']:.4f} (best validation {s['best']['val_accuracy']:.4f})")


if __name__ == "__main__":
    main()
