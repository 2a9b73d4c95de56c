"""``neuro bench delays``, ``neuro train shd|fsdd`` and ``neuro eval``."""

from __future__ import annotations

from neuro.commands.registry import arg, command, print_json, print_table


@command("bench delays", help="SHD delay model train step and eval pass vs dcls + SpikingJelly (same inputs)",
         args=[arg("--B", type=int, default=64), arg("--T", type=int, default=100),
               arg("--sigma", type=float, default=0.5, help="Gaussian width of the training kernels"),
               arg("--repeat", type=int, default=3), arg("--json", action="store_true"),
               arg("--device", default="cpu", choices=["cpu", "cuda"], help="run both models on this device"),
               arg("--flush-denormal", action="store_true",
                   help="flush subnormal floats to zero in both models (torch.set_flush_denormal)")])
def bench_delays(args) -> int:
    from neuro.bench.delays import run_delay_bench

    r = run_delay_bench(args.B, args.T, args.sigma, args.repeat, args.device, args.flush_denormal)
    if args.json:
        print_json(r)
        return 0
    print_table(f"SHD delay model {r['config']['model']}, B={args.B}, T={args.T}, sigma={args.sigma}, "
                f"{args.device}{', subnormals flushed' if args.flush_denormal else ''} (median s)",
                ["pass", "neuro", "dcls + SpikingJelly", "speedup"],
                [["train step", r["train_step_s"]["neuro"], r["train_step_s"]["dcls+spikingjelly"], r["train_speedup"]],
                 ["evaluation", r["eval_s"]["neuro"], r["eval_s"]["dcls+spikingjelly"], r["eval_speedup"]]])
    print(f"max |output difference|: {r['max_abs_diff']:.3g}")
    return 0


_TRAIN_ARGS = [
    arg("--root", default=None, help="data folder (default: $NEURO_DATA_DIR)"),
    arg("--epochs", type=int, default=30),
    arg("--batch-size", type=int, default=64),
    arg("--mode", choices=["learned", "fixed", "none"], default="learned", help="learned, fixed random or no delays"),
    arg("--hidden", type=int, default=256),
    arg("--max-delay", type=int, default=24),
    arg("--out", default=None, help="output folder (default runs/<dataset>-<mode>)"),
    arg("--seed", type=int, default=0),
    arg("--json", action="store_true"),
]


@command("train fsdd", help="train the delay model on spiking Free Spoken Digits, held-out speakers for test",
         args=[*_TRAIN_ARGS, arg("--test-speakers", nargs="+", default=["yweweler"])])
def train_fsdd(args) -> int:
    from neuro.experiments.delays import train_delay_model

    s = train_delay_model("fsdd", args)
    print_json(s) if args.json else print(f"test accuracy {s['test_accuracy']:.4f} (best validation "
                                          f"{s['best']['val_accuracy']:.4f} at epoch {s['best']['epoch']})")
    return 0


@command("train shd", help="train the delay model on SHD (downloads it when online)",
         args=[*_TRAIN_ARGS, arg("--download", action="store_true")])
def train_shd(args) -> int:
    from neuro.experiments.delays import train_delay_model

    s = train_delay_model("shd", args)
    print_json(s) if args.json else print(f"test accuracy {s['test_accuracy']:.4f}")
    return 0


@command("eval", help="evaluate a checkpoint (accuracy) on a dataset, optionally on another backend",
         args=[arg("checkpoint"), arg("--dataset", choices=["shd", "fsdd", "nmnist"], required=True),
               arg("--root", default=None), arg("--speakers", nargs="+", default=None),
               arg("--backend", default=None, help="torch, cpu, gpu, or loihi (fixed point, next to float)"),
               arg("--json", action="store_true")])
def evaluate(args) -> int:
    from neuro.experiments.delays import evaluate_checkpoint

    r = evaluate_checkpoint(args.checkpoint, args.dataset, args.root, args.speakers, args.backend)
    print_json(r) if args.json else print(f"accuracy {r['accuracy']:.4f} on {r['samples']} samples")
    return 0
