"""``neuro experiment twopoint-av``."""

from __future__ import annotations

from neuro.commands.options import positive_int
from neuro.commands.registry import arg, command, print_json, print_table


@command("experiment twopoint-av", help="two-point vs point neurons on paired audio-visual digits",
         args=[arg("--root", default=None, help="data folder (default: $NEURO_DATA_DIR)"),
               arg("--epochs", type=positive_int, default=8, help="training epochs"),
               arg("--hidden", type=positive_int, default=128, help="neurons in the hidden layer"),
               arg("--modulation", default="kay_phillips", choices=["kay_phillips", "generalized", "cooperation",
                                                                   "burst"],
                   help="transfer function A(R, C) by which the context modulates the feed-forward drive"),
               arg("--json", action="store_true", help="print JSON instead of the table")])
def twopoint_av(args) -> int:
    from neuro.experiments.twopoint import twopoint_av as run

    r = run(args.root, args.epochs, args.hidden, args.modulation)
    if args.json:
        print_json(r)
        return 0

    keys = ["accuracy", "firing_rate", "synops_per_sample", "accuracy_silenced_10", "accuracy_silenced_30",
            "accuracy_silenced_50", "params"]
    print_table(r["task"], ["metric", "two-point", "point"], [[k, r["two_point"][k], r["point"][k]] for k in keys])
    print(f"point/two-point synops: {r['synops_ratio_point_over_twopoint']:.2f}x; target met: {r['target_met']}")
    return 0
