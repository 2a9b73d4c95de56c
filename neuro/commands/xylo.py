"""``neuro bench xylo``."""

from __future__ import annotations

from neuro.commands.options import positive_int
from neuro.commands.registry import arg, command, print_json, print_table


@command("bench xylo", help="batched Xylo simulator vs the vendor's xylosim on random feed-forward, recurrent and "
                            "extreme 16-128-16 networks (and a trained checkpoint), bit for bit",
         args=[arg("--steps", type=positive_int, default=100, help="time steps"),
               arg("--batch", type=positive_int, default=64, help="samples per batch (neuro runs them at once)"),
               arg("--xylosim-samples", type=positive_int, default=8,
                   help="samples run through xylosim (one after the other) for timing and the bit-exact check"),
               arg("--repeat", type=positive_int, default=3, help="timed runs of neuro's simulator (the best counts)"),
               arg("--checkpoint", default=None, help="also a trained model (.ckpt, e.g. from neuro train fsdd "
                                                      "--model xylo_snn), quantized with clipping"),
               arg("--device", choices=["cpu", "cuda"], default=None, help="device for neuro's simulator"),
               arg("--threads", type=positive_int, default=1,
                   help="CPU threads for neuro's simulator (default 1, as xylosim uses one)"),
               arg("--json", action="store_true", help="print JSON instead of the table")])
def bench_xylo(args) -> int:
    import torch

    from neuro.bench.xylo import run_xylo_bench
    from neuro.errors import ConfigError

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda needs a CUDA GPU and none is available; leave --device out")
    torch.set_num_threads(args.threads)
    r = run_xylo_bench(args.steps, args.batch, args.repeat, args.xylosim_samples, checkpoint=args.checkpoint,
                       device=args.device)
    if args.json:
        print_json(r)
    else:
        print_table(f"Xylo simulators, {args.steps} steps, neuro at batch {args.batch}",
                    ["network", "neuro sample-steps/s", "xylosim sample-steps/s", "speedup", "bit exact"],
                    [[x["network"], x["neuro_sample_steps_per_s"], x.get("xylosim_sample_steps_per_s", "-"),
                      x.get("speedup", "-"), x["bit_exact"]] for x in r["runs"]])
        if r["bit_exact"] is None:
            print(f"xylosim not measured: {r['runs'][0].get('xylosim')}")
    return 0 if r["bit_exact"] is not False else 1
