"""Two-point vs point neurons on paired audio-visual digits (N-MNIST recordings + spoken digits).

    python examples/twopoint_av.py [--modulation kay_phillips|generalized|cooperation|burst]
"""

from __future__ import annotations

import argparse
import json

from neuro.experiments.twopoint import twopoint_av

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=None)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--modulation", default="kay_phillips")
    args = ap.parse_args()
    print(json.dumps(twopoint_av(args.root, args.epochs, modulation=args.modulation), indent=2))
