"""``neuro lava setup`` and ``neuro bench loihi``."""

from __future__ import annotations

from neuro.cli import arg, command, print_json


@command("lava setup", help="create the Python 3.10 environment with Lava 0.10 used by the lava backend",
         args=[arg("--if-possible", action="store_true", help="exit 0 with a message when Python 3.10 is missing")])
def lava_setup(args) -> int:
    from neuro.backends.lava import setup_lava

    return setup_lava(if_possible=args.if_possible)


@command("bench loihi", help="fixed-point simulator (batch 1 and 64) vs Lava's CPU simulator on a 140-256-256-20 "
         "delay network over 200 steps",
         args=[arg("--steps", type=int, default=200), arg("--json", action="store_true")])
def bench_loihi(args) -> int:
    from neuro.bench.loihi import run_loihi_bench
    from neuro.bench.timing import print_table

    r = run_loihi_bench(args.steps)
    if args.json:
        print_json(r)
        return 0
    print_table(f"140-256-256-20, delays <= 24, {args.steps} steps (sample-steps per second)",
                ["simulator", "seconds", "sample-steps/s"],
                [[k, v["seconds"], v["sample_steps_per_s"]] for k, v in r["runs"].items()])
    print(f"bit_exact: {r['bit_exact']}   speedup (batch 64 vs Lava): {r['speedup']:.1f}x")
    return 0
