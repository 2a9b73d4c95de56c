"""``neuro bench delays``, ``neuro train shd|fsdd`` and ``neuro eval``."""

from __future__ import annotations

from neuro.commands.options import nonnegative_float, nonnegative_int, output_dir, positive_float, positive_int
from neuro.commands.registry import arg, command, print_json, print_outputs, print_table


@command("bench delays", help="SHD delay model train step and eval pass vs dcls + SpikingJelly (same inputs)",
         args=[arg("--B", type=positive_int, default=64, help="batch size"),
               arg("--T", type=positive_int, default=100, help="time steps"),
               arg("--sigma", type=positive_float, default=0.5, help="Gaussian width of the training kernels"),
               arg("--repeat", type=positive_int, default=3, help="timed runs (the median is reported)"),
               arg("--json", action="store_true", help="print JSON instead of the table"),
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


def _train_args(hidden: int) -> list:
    """The options of ``neuro train fsdd|shd`` (``hidden``: the default width, as in the dataset's example)."""
    return [
        arg("--root", default=None, help="data folder (default: $NEURO_DATA_DIR)"),
        arg("--epochs", type=positive_int, default=30, help="training epochs"),
        arg("--batch-size", type=positive_int, default=64, help="recordings per training step"),
        arg("--mode", choices=["learned", "fixed", "none"], default="learned",
            help="learned, fixed random or no delays"),
        arg("--hidden", type=positive_int, default=hidden, help="neurons per hidden layer"),
        arg("--max-delay", type=nonnegative_int, default=24, help="largest synaptic delay in time steps"),
        arg("--neuron", choices=["lif", "alif"], default="lif",
            help="hidden neurons: lif, or alif (adaptive threshold; runs in float only, Loihi and NIR refuse it)"),
        arg("--tau-a", type=positive_float, default=20.0,
            help="with --neuron alif: time constant of the threshold adaptation, in time steps"),
        arg("--beta-a", type=nonnegative_float, default=0.2,
            help="with --neuron alif: threshold increase per spike"),
        arg("--out", type=output_dir, default=None, help="output folder (default runs/<dataset>-<mode>)"),
        arg("--seed", type=nonnegative_int, default=0, help="random seed (data split, initialization, batches)"),
        arg("--device", choices=["auto", "cpu", "cuda"], default="auto",
            help="where to train: auto = the GPU when there is one, else the CPU"),
        arg("--json", action="store_true", help="print the summary as JSON"),
        arg("--val-speakers", nargs="+", default=None,
            help="training speakers held out for validation and model selection (default: one drawn by --seed); "
                 "'none': every training speaker trains and the last epoch is kept"),
    ]


def _report(s: dict) -> None:
    last = s.get("last_epoch_test_accuracy")
    if s["best"]["val_accuracy"] is None:
        print(f"test accuracy {s['test_accuracy']:.4f} (no validation speakers: the last epoch, "
              f"{s['best']['epoch']}), {s['seconds']:.0f} s")
    else:
        print(f"test accuracy {s['test_accuracy']:.4f} (best validation {s['best']['val_accuracy']:.4f} at epoch "
              f"{s['best']['epoch']}{'' if last is None else f'; last epoch {last:.4f}'}), {s['seconds']:.0f} s")
    print_outputs(s["files"])


@command("train fsdd", help="train the delay model (or the Xylo model) on spiking Free Spoken Digits, held-out "
                            "speakers for test",
         args=[*_train_args(hidden=128), arg("--test-speakers", nargs="+", default=["yweweler"],
                                              help="speakers held out for the test split"),
               arg("--model", choices=["delay_snn", "xylo_snn"], default="delay_snn",
                   help="delay_snn (140 channels, delays) or xylo_snn (14 channels, one recurrent population "
                        "that fits a Xylo core; --mode and --max-delay do not apply)"),
               arg("--encoder", choices=["cochlea", "plain", "inner-ear"], default="cochlea",
                   help="audio to spikes: cochlea (channel-normalized filterbank, 40 dB window), plain (no channel "
                        "normalization, floor 0.3, 20 dB window) or inner-ear (basilar membrane, hair cells and bushy "
                        "cells: the model SHD was made with; about a second per recording the first time)")])
def train_fsdd(args) -> int:
    from neuro.errors import ConfigError
    from neuro.experiments.delays import train_delay_model, train_xylo_model

    if args.model == "xylo_snn" and args.neuron != "lif":
        raise ConfigError("--neuron alif applies to the delay model; xylo_snn has Xylo's own neurons "
                          "(leave --neuron out)")
    s = train_xylo_model(args) if args.model == "xylo_snn" else train_delay_model("fsdd", args)
    print_json(s) if args.json else _report(s)
    return 0


@command("train shd", help="train the delay model on SHD (downloads it when online)",
         args=[*_train_args(hidden=256), arg("--download", action="store_true",
                                              help="fetch SHD into --root when it is not there (md5-checked)")])
def train_shd(args) -> int:
    from neuro.experiments.delays import train_delay_model

    s = train_delay_model("shd", args)
    print_json(s) if args.json else _report(s)
    return 0


@command("eval", help="evaluate a checkpoint (accuracy) on the held-out test data it records, optionally on "
                      "another backend",
         args=[arg("checkpoint", help="checkpoint file (.ckpt) written by neuro train"),
               arg("--dataset", choices=["shd", "fsdd", "nmnist"], default=None,
                   help="default: the dataset the checkpoint was trained on"),
               arg("--root", default=None, help="data folder (default: the one the checkpoint records)"),
               arg("--split", choices=["test", "validation", "train"], default="test",
                   help="which recorded split to score (default: test; train scores training data on purpose)"),
               arg("--speakers", nargs="+", default=None,
                   help="fsdd: score these speakers' recordings instead of a recorded split"),
               arg("--backend", default=None,
                   help="torch, cpu, gpu, loihi or xylo (the chip's integer model, next to float)"),
               arg("--quantization", choices=["netx", "fine"], default="netx",
                   help="loihi only: netx (what neuro export --to loihi deploys, run exactly by lava-dl netx) or fine "
                        "(finer thresholds and biases; files only neuro and its Lava bridge read exactly)"),
               arg("--json", action="store_true", help="print JSON instead of text")])
def evaluate(args) -> int:
    from neuro.experiments.delays import check_root, evaluate_checkpoint

    if args.root is not None:
        check_root(args.root, "--root")
    r = evaluate_checkpoint(args.checkpoint, args.dataset, args.root, args.speakers, args.backend, split=args.split,
                            quantization=args.quantization)
    if args.json:
        print_json(r)
        return 0
    what = f"speakers {', '.join(args.speakers)}" if r["split"] == "speakers" else f"{r['split']} split"
    who = f"; speakers {', '.join(map(str, r['speakers']))}" if r.get("speakers") else ""
    print(f"accuracy {r['accuracy']:.4f} on {r['samples']} samples: {r['dataset']} {what} "
          f"({r['samples']} recordings{who}) from {r['root']}")
    if r["overlaps_training"] is None:
        print("note: the checkpoint records no training data for this dataset; overlap with it is unknown")
    elif r["overlaps_training"]:
        print(f"note: {r['overlaps_training']} of these recordings were used in training")
    if "float_accuracy" in r:
        print(f"float accuracy {r['float_accuracy']:.4f}, agreement with float {r['agreement_with_float']:.4f}")
        quant = r["quantization"] or {}
        if "layers" in quant:
            print_table("Loihi quantization per layer", ["layer", "size", "sign", "weight exp", "weight rel. error",
                                                         "vth", "max delay", "clipped"],
                        [[q["name"], f"{q['n_in']}->{q['n_out']}", q["sign_mode"], q["weight_exp"],
                          q["weight_rel_error"], q["vth"], q["max_delay"],
                          q["clipped_thresholds"] + q["clipped_delays"] + q["clipped_biases"]]
                         for q in quant["layers"]])
        if "populations" in quant:
            print_table("Xylo quantization per population", ["population", "size", "weight shift", "weight rel. error",
                                                             "threshold", "dash_mem", "dash_syn", "clipped"],
                        [[q["name"], f"{q['n_in']}->{q['n_out']}", q["weight_shift"], q["weight_rel_error"],
                          q["threshold"], q["dash_mem"], q["dash_syn"], q["clipped_thresholds"] + q["dropped_delays"]]
                         for q in quant["populations"]])
    return 0
