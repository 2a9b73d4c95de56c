"""Train the delay SNN on spiking Free Spoken Digits with one speaker held out for testing.

    python examples/fsdd_delays.py --mode learned --epochs 30 --hidden 128

Audio is turned into 700-channel SHD-style spikes (cached), summed to 140 channels in 10 ms bins;
the model learns a weight and a delay per synapse.  Compare --mode fixed and --mode none.
"""

from __future__ import annotations

import argparse

from neuro.experiments.delays import train_delay_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=None)
    ap.add_argument("--mode", choices=["learned", "fixed", "none"], default="learned")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-delay", type=int, default=24)
    ap.add_argument("--test-speakers", nargs="+", default=["yweweler"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.json = False
    s = train_delay_model("fsdd", args)
    print(f"{args.mode} delays: test accuracy {s['test_accuracy']:.3f} on speakers {args.test_speakers}")


if __name__ == "__main__":
    main()
