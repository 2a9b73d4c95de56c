"""``neuro bench lif``."""

from __future__ import annotations

from neuro.commands.options import positive_int
from neuro.commands.registry import arg, command, print_json, print_table


@command(
    "bench lif",
    help="LIF forward+backward (T=500, B=16, N=1024) vs SpikingJelly, snnTorch, Norse and a roofline proxy",
    args=[
        arg("--json", action="store_true", help="print JSON instead of the table"),
        arg("--T", type=positive_int, default=500, help="time steps"),
        arg("--B", type=positive_int, default=16, help="batch size"),
        arg("--N", type=positive_int, default=1024, help="neurons"),
        arg("--repeat", type=positive_int, default=5, help="timed runs per implementation (the median is reported)"),
        arg("--quick", action="store_true", help="one timed run per implementation"),
        arg("--device", default="cpu", choices=["cpu", "cuda"], help="run every implementation on this device"),
    ],
)
def bench_lif(args) -> int:
    from neuro.bench.lif import run_lif_bench

    res = run_lif_bench(T=args.T, B=args.B, N=args.N, repeat=args.repeat, quick=args.quick,
                         device=args.device)
    if args.json:
        print_json(res)
        return 0
    rows = []
    for r in res["rows"]:
        if not r.get("available", True):
            rows.append([r["name"], "not installed", "", "", "", "", ""])
            continue
        rows.append(
            [
                r["name"],
                r["lif_s"],
                r["linear+lif_s"],
                r["neuro_speedup_lif"],
                r["saved_for_backward_MB"],
                r["peak_alloc_MB"],
                str(r.get("spikes_equal_to_neuro", "")),
            ]
        )
    c = res["config"]
    print_table(
        f"LIF fwd+bwd, T={c['T']} B={c['B']} N={c['N']} on {res['machine']['gpu'] or 'CPU'} "
        f"(median seconds; {res['machine']['threads']} threads)",
        ["implementation", "LIF s", "Linear+LIF s", "x slower than neuro", "saved MB", "peak alloc MB", "same spikes"],
        rows,
    )
    s = res["summary"]
    sj = s["speedup_vs_spikingjelly"]
    print(f"neuro vs SpikingJelly: {sj:.2f}x faster" if sj else "SpikingJelly not installed")
    print(f"neuro / roofline proxy: {s['ratio_to_roofline']:.2f}")
    return 0
