"""``neuro bench lif``."""

from __future__ import annotations

from neuro.commands.options import positive_float, positive_int
from neuro.commands.registry import arg, command, print_json, print_table


@command(
    "bench lif",
    help="LIF forward+backward (T=500, B=16, N=1024) vs SpikingJelly, snnTorch, Norse and a roofline proxy; "
    "--workload open-neuromorphic: Linear(n, n) + LIF at the Open Neuromorphic benchmark's sizes",
    args=[
        arg("--json", action="store_true", help="print JSON instead of the table"),
        arg("--workload", default="default", choices=["default", "open-neuromorphic"],
            help="default: the LIF alone at --N; open-neuromorphic: Linear(n, n) + LIF, batch 16, 500 steps"),
        arg("--T", type=positive_int, default=500, help="time steps"),
        arg("--B", type=positive_int, default=16, help="batch size"),
        arg("--N", type=positive_int, default=1024, help="neurons (default workload)"),
        arg("--sizes", type=positive_int, nargs="+", default=[4096, 8192, 16384], help="n (open-neuromorphic)"),
        arg("--dtype", nargs="+", default=["float32"], choices=["float32", "bfloat16", "float16"],
            help="dtypes (open-neuromorphic)"),
        arg("--density", type=positive_float, default=0.1, help="input spike density (open-neuromorphic)"),
        arg("--only", nargs="+", default=None, metavar="PEER",
            help="peers to run, by name prefix, e.g. spikingjelly norse (open-neuromorphic; neuro and the "
            "GEMM limit always run)"),
        arg("--repeat", type=positive_int, default=None, help="timed runs per row (default 5; open-neuromorphic 3)"),
        arg("--quick", action="store_true", help="one timed run per implementation"),
        arg("--device", default="cpu", choices=["cpu", "cuda"], help="run every implementation on this device"),
    ],
)
def bench_lif(args) -> int:
    if args.workload == "open-neuromorphic":
        return _bench_onm(args)
    from neuro.bench.lif import run_lif_bench

    res = run_lif_bench(T=args.T, B=args.B, N=args.N, repeat=args.repeat or 5, quick=args.quick,
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


def _bench_onm(args) -> int:
    from neuro.bench.lif_onm import run_onm_bench

    repeat = 1 if args.quick else (args.repeat or 3)
    res = run_onm_bench(sizes=tuple(args.sizes), dtypes=tuple(args.dtype), device=args.device, T=args.T,
                        B=args.B, density=args.density, repeat=repeat,
                        only=tuple(args.only) if args.only else None)
    if args.json:
        print_json(res)
        return 0
    m = res["machine"]
    where = m["gpu"] or f"CPU ({m['cpu']}, {m['threads']} threads)"
    for rec in res["records"]:
        rows = []
        for r in rec["rows"]:
            if not r["available"]:
                rows.append([r["name"], "cannot run", "", "", "", "", r["reason"]])
                continue
            same = "" if r["kind"] == "limit" else (
                "yes" if r["spikes_equal"] else f"{100 * r['spike_mismatch']:.3g}% differ")
            rows.append([r["name"], r["fwd_s"], r["fwd_bwd_s"], r["fwd_bwd_cpu_s"], r.get("x_slower_than_neuro", 1.0),
                         r["peak_MB"], same])
        print_table(
            f"Linear({rec['size']}, {rec['size']}) + LIF, T={rec['T']} B={rec['B']}, {rec['dtype']}, "
            f"{100 * rec['density']:.3g}% input spikes, on {where} (median seconds)",
            ["implementation", "fwd s", "fwd+bwd s", "fwd+bwd CPU s", "x slower than neuro", "peak MB",
             "spikes = reference (or why not run)"],
            rows,
        )
        lim = rec["limit"]
        if lim:
            print(f"limit: GEMM fwd+bwd {lim['gemm_fwd_bwd_s']:.4g} s + LIF traffic {lim['lif_bytes'] / 1e9:.3g} GB "
                  f"at {lim['bandwidth_GBps']:.3g} GB/s = {lim['lif_traffic_fwd_bwd_s']:.4g} s")
        sp, rl = rec["speedup_vs_fastest_peer"], rec["ratio_to_limit"]
        if sp is not None:
            print(f"neuro vs fastest peer ({rec['fastest_peer']}): {sp:.2f}x faster (fwd+bwd)")
        if rl is not None:
            print(f"neuro / limit: {rl:.2f}")
    return 0
