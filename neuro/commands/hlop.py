"""``neuro experiment hlop-pmnist`` and ``neuro experiment hlop-split-nmnist``: HLOP vs the baselines."""

from __future__ import annotations

from neuro.commands.options import nonnegative_float, nonnegative_int, output_dir, positive_int
from neuro.commands.registry import arg, command, print_json, print_table

_METHODS = ["hlop", "finetune", "ewc", "gpm", "multitask"]
_COMMON = [
    arg("--quick", action="store_true", help="fewer tasks, samples and epochs (a minute or two)"),
    arg("--root", default=None, help="data folder (default: $NEURO_DATA_DIR)"),
    arg("--methods", nargs="+", choices=_METHODS, default=_METHODS, help="continual-learning methods to compare"),
    arg("--epochs", type=positive_int, default=None, help="epochs per task"),
    arg("--seed", type=nonnegative_int, default=0, help="random seed"),
    arg("--out", type=output_dir, default=None, help="folder for the JSON summary and the accuracy-matrix plot"),
    arg("--progress", action="store_true", help="show a progress bar per method"),
    arg("--json", action="store_true", help="print the summary as JSON"),
]


def _table(title: str, s: dict) -> None:

    rows = []
    for name, r in s["methods"].items():
        rows.append([name, r["ACC"], "-" if r["BWT"] is None else r["BWT"], r["seconds"]])
    print_table(title, ["method", "ACC (%)", "BWT (%)", "time (s)"], rows)
    if s.get("plot"):
        print(f"accuracy matrices: {s['plot']}")


@command("experiment hlop-pmnist", help="HLOP on permuted MNIST (real images) vs fine-tune, EWC, GPM, multitask",
         args=[*_COMMON, arg("--tasks", type=positive_int, default=None, help="number of permuted tasks (default 10)"),
               arg("--T", type=positive_int, default=None, help="time steps (default 6; 4 with --quick)"),
               arg("--training", choices=["bptt", "online"], default="bptt",
                   help="BPTT with surrogate gradients, or online learning from presynaptic traces"),
               arg("--train-per-task", type=positive_int, default=None,
                   help="use only this many training images per task"),
               arg("--ewc-lambda", type=nonnegative_float, default=1000.0, help="EWC regularization strength")])
def experiment_hlop_pmnist(args) -> int:
    from neuro.experiments.hlop import run_pmnist

    s = run_pmnist(quick=args.quick, root=args.root, methods=tuple(args.methods), tasks_n=args.tasks,
                   epochs=args.epochs, T=args.T, training=args.training, seed=args.seed, out=args.out,
                   progress=args.progress, ewc_lambda=args.ewc_lambda, n_train=args.train_per_task)
    if args.json:
        print_json(s)
    else:
        c = s["config"]
        _table(f"permuted MNIST, {c['tasks']} tasks, {c['network']}, T={c['T']}, {c['training']}", s)
    return 0


@command("experiment hlop-split-nmnist", help="HLOP on split N-MNIST (digit pairs, one head per task) vs baselines",
         args=[*_COMMON, arg("--T", type=positive_int, default=8, help="event frames per recording"),
               arg("--ewc-lambda", type=nonnegative_float, default=500.0, help="EWC regularization strength")])
def experiment_hlop_split_nmnist(args) -> int:
    from neuro.experiments.hlop import run_split_nmnist

    s = run_split_nmnist(quick=args.quick, root=args.root, methods=tuple(args.methods), epochs=args.epochs,
                         T=args.T, seed=args.seed, out=args.out, progress=args.progress,
                         ewc_lambda=args.ewc_lambda)
    if args.json:
        print_json(s)
    else:
        _table(f"split N-MNIST, {s['config']['tasks']} tasks, {s['config']['network']}", s)
    return 0
