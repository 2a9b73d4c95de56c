"""``neuro experiment lsm-nmnist | lsm-fsdd | lsm-zeroshot`` and ``neuro bench lsm``."""

from __future__ import annotations

from neuro.commands.options import int_in, nonnegative_int, positive_int
from neuro.commands.registry import arg, command, print_json, print_table

_ARGS = [arg("--root", default=None, help="data folder (default: $NEURO_DATA_DIR)"),
         arg("--neurons", type=positive_int, default=1000, help="reservoir size"),
         arg("--seed", type=nonnegative_int, default=0, help="random seed"),
         arg("--json", action="store_true", help="print JSON instead of text")]


def _show(r: dict, args) -> int:
    if args.json:
        print_json(r)
    else:
        for k, v in r.items():
            print(f"{k:20s} {v:.4f}" if isinstance(v, float) else f"{k:20s} {v}")
    return 0


@command("experiment lsm-nmnist", help="liquid state machine + linear readouts on the N-MNIST recordings",
         args=[*_ARGS, arg("--weights", choices=["gaussian", "uniform", "rram"], default="gaussian",
                                 help="distribution of the reservoir weights"),
               arg("--backend", choices=["float", "loihi"], default="float",
                   help="loihi: also run the quantized reservoir in the bit-exact Loihi simulator and train the same "
                        "readouts on its spikes (accuracy next to the float reservoir's)"),
               arg("--samples", type=positive_int, default=None, help="use only the first N recordings")])
def exp_lsm_nmnist(args) -> int:
    from neuro.experiments.lsm import lsm_nmnist

    return _show(lsm_nmnist(args.root, args.neurons, args.seed, args.weights, backend=args.backend,
                            samples=args.samples), args)


@command("experiment lsm-fsdd", help="liquid state machine on spiking FSDD with a held-out speaker", args=_ARGS)
def exp_lsm_fsdd(args) -> int:
    from neuro.experiments.lsm import lsm_fsdd

    return _show(lsm_fsdd(args.root, args.neurons, seed=args.seed), args)


@command("experiment lsm-zeroshot", help="zero-shot audio->image digit matching (train 0-6, test 7-9)",
         args=[*_ARGS, arg("--seen", type=int_in(0, 9), nargs="+", default=list(range(7)),
                                 help="digits used for training"),
               arg("--unseen", type=int_in(0, 9), nargs="+", default=None,
                   help="held-out digits (default: all others)"),
               arg("--repeats", type=positive_int, default=5, help="pairings / projection seeds averaged")])
def exp_lsm_zeroshot(args) -> int:
    from neuro.experiments.lsm import lsm_zeroshot

    return _show(lsm_zeroshot(args.root, args.neurons, seen=args.seen, unseen=args.unseen, seed=args.seed,
                              repeats=args.repeats), args)


@command("bench lsm", help="reservoir feature extraction on N-MNIST, neuro vs the same reservoir in SpikingJelly",
         args=[arg("--root", default=None, help="data folder (default: $NEURO_DATA_DIR)"),
               arg("--samples", type=positive_int, default=500, help="N-MNIST recordings to process"),
               arg("--json", action="store_true", help="print JSON instead of the table")])
def bench_lsm(args) -> int:
    from neuro.bench.lsm import bench_lsm as run

    r = run(args.root, samples=args.samples)
    if args.json:
        print_json(r)
        return 0

    print_table(f"1,000-neuron reservoir, {r['samples']} N-MNIST recordings x {r['steps']} steps",
                ["implementation", "seconds", "samples/s"],
                [[k, r[k]["seconds"], r[k]["samples_per_s"]] for k in ("neuro", "spikingjelly")])
    print(f"speedup {r['speedup']:.2f}x, spike agreement {r['spike_agreement']:.6f}")
    return 0
