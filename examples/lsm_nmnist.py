"""A 1,000-neuron liquid state machine on N-MNIST recordings with linear readouts.

    python examples/lsm_nmnist.py [--root DIR] [--weights gaussian|uniform|rram]
"""

from __future__ import annotations

import argparse
import json

from neuro.experiments.lsm import lsm_nmnist

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=None)
    ap.add_argument("--neurons", type=int, default=1000)
    ap.add_argument("--weights", choices=["gaussian", "uniform", "rram"], default="gaussian")
    args = ap.parse_args()
    print(json.dumps(lsm_nmnist(args.root, args.neurons, weights=args.weights), indent=2))
