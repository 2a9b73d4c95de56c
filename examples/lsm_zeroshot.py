"""Zero-shot audio-visual digit matching with two liquid state machines and a contrastive projection.

Visual N-MNIST and spoken (spiking FSDD) digits 0-6 train the projections; held-out spoken
digits are then matched to visual class prototypes, including the unseen digits 7-9.

    python examples/lsm_zeroshot.py [--root DIR]
"""

from __future__ import annotations

import argparse
import json

from neuro.experiments.lsm import lsm_zeroshot

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=None)
    ap.add_argument("--neurons", type=int, default=1000)
    args = ap.parse_args()
    print(json.dumps(lsm_zeroshot(args.root, args.neurons), indent=2))
