"""``neuro lava setup``, ``neuro lava run`` and ``neuro bench loihi``."""

from __future__ import annotations

from neuro.commands.options import output_file, positive_int
from neuro.commands.registry import arg, command, print_json, print_table


@command("lava setup", help="create the Python 3.10 environment with Lava 0.10 (and lava-dl netx) used by the lava "
         "and netx backends",
         args=[arg("--if-possible", action="store_true",
                   help="exit 0 with a message when no Python 3.10 is found or the install fails"),
               arg("--python", default=None, help="the Python 3.10 interpreter to use")])
def lava_setup(args) -> int:
    from neuro.hardware.loihi import setup_lava

    return setup_lava(if_possible=args.if_possible, python=args.python)


@command("lava run", help="run a Loihi deployment file on input spikes (.npy [T, B, n_in]) in the loihi simulator "
         "and/or Lava (or lava-dl netx) and compare them",
         args=[arg("network", help="deployment file from `neuro export --to loihi`"),
               arg("--input", required=True, help=".npy spikes [T, B, n_in] or [T, n_in]"),
               arg("--backend", choices=["loihi", "lava", "both", "netx"], default="loihi",
                   help="the loihi simulator, Lava, or both (compared bit for bit); netx: the file as lava-dl netx "
                        "loads it, compared bit for bit with the loihi simulator (mismatches per layer)"),
               arg("--output", type=output_file, default=None,
                   help="save the last layer's spikes [T, B, N] as .npy (loihi backend)"),
               arg("--json", action="store_true", help="print JSON instead of text")])
def lava_run(args) -> int:
    import numpy as np

    from neuro.commands.export import load_input
    from neuro.errors import ConfigError, DataError
    from neuro.hardware.loihi import graded_message_bits, load_loihi, simulate

    net = load_loihi(args.network)
    x = load_input(args.input)
    x = x[:, None] if x.ndim == 2 else x
    if x.ndim != 3 or x.shape[2] != net.n_in or 0 in x.shape[:2]:
        raise DataError(f"--input {args.input}: shape {x.shape}; {args.network} takes [T, B, {net.n_in}] "
                        f"(or [T, {net.n_in}]) with T, B >= 1")
    if not np.array_equal(x, np.trunc(x)):
        raise DataError(f"--input {args.input}: Loihi input must be spikes (0/1) or whole-number counts")
    if graded_message_bits(x) and not net.layers[0].num_message_bits:
        raise ConfigError(f"--input {args.input} holds counts up to {int(np.abs(x).max())}, but {args.network} reads "
                          "binary spikes (numMessageBits = 0: every non-zero value would be one spike); binarize the "
                          "input (x > 0) or export it for counts with neuro export --to loihi --num-message-bits 8")
    x = x.astype(np.int64)
    if args.backend == "netx":
        return _compare_netx(args, net, x)
    out: dict = {"layers": net.sizes, "steps": int(x.shape[0]), "batch": int(x.shape[1])}
    last = net.layers[-1]
    ours = theirs = None
    if args.backend in ("loihi", "both"):
        ours = simulate(net, x, record=args.backend == "both" or last.readout)
        out["loihi_spikes"] = [int(s.sum()) for s in ours.spikes]
        if args.output:
            np.save(args.output, ours.spikes[-1].numpy())
    if args.backend in ("lava", "both"):
        from neuro.hardware.loihi import run_lava_many

        theirs = run_lava_many([(net, x)], record=args.backend == "both" or last.readout)[0]
        out["lava_spikes"] = [int(s.sum()) for s in theirs.spikes]
        if ours is not None:
            out["bit_exact"] = all(
                np.array_equal(ours.spikes[k].numpy(), theirs.spikes[k]) and np.array_equal(ours.u[k].numpy(),
                theirs.u[k]) and np.array_equal(ours.v[k].numpy(), theirs.v[k]) for k in range(len(net.layers)))
    out.update(run_summary(net, ours if ours is not None else theirs))
    if args.json:
        print_json(out)
    else:
        print_run_summary(args.network, out)
    return 0 if out.get("bit_exact", True) else 1


def _compare_netx(args, net, x) -> int:
    """Run the file in lava-dl netx and in the loihi simulator; print per-layer mismatches of spikes, u and v."""
    import numpy as np

    from neuro.errors import ConfigError
    from neuro.hardware.loihi import netx_problems, run_lava_many, simulate

    problems = netx_problems(net)
    if problems:
        raise ConfigError(f"{args.network}: lava-dl netx would compute this file differently from neuro ("
                          + "; ".join(problems) + "); write it with neuro export --to loihi --quantization netx "
                          "(the default), or compare it with Lava itself: --backend both")
    ours = simulate(net, x, record=True)
    theirs = run_lava_many([(args.network, x)], engine="netx")[0]
    layers = []
    for k, la in enumerate(net.layers):
        mine = {"s": ours.spikes[k].numpy(), "u": ours.u[k].numpy(), "v": ours.v[k].numpy()}  # type: ignore[index]
        other = {"s": theirs.spikes[k], "u": theirs.u[k], "v": theirs.v[k]}  # type: ignore[index]
        layers.append({"name": la.name, "neurons": la.n_out, "loihi_spikes": int(mine["s"].sum()),
                       "netx_spikes": int(other["s"].sum()), "mismatched_spikes": int((mine["s"] != other["s"]).sum()),
                       "mismatched_u": int((mine["u"] != other["u"]).sum()),
                       "mismatched_v": int((mine["v"] != other["v"]).sum())})
    exact = all(la["mismatched_spikes"] == la["mismatched_u"] == la["mismatched_v"] == 0 for la in layers)
    out = {"bit_exact": exact, "backend": "netx", "sizes": net.sizes, "steps": int(x.shape[0]),
           "batch": int(x.shape[1]), "layers": layers}
    if args.output:
        np.save(args.output, ours.spikes[-1].numpy())
    if args.json:
        print_json(out)
    else:
        print(f"{args.network} in lava-dl netx vs the loihi simulator, {x.shape[0]} steps x {x.shape[1]} samples: "
              f"{'bit-exact' if exact else 'DIFFERENT'}")
        print_table("per layer", ["layer", "neurons", "loihi spikes", "netx spikes", "mismatched spikes",
                                  "mismatched u", "mismatched v"],
                    [[la["name"], la["neurons"], la["loihi_spikes"], la["netx_spikes"], la["mismatched_spikes"],
                      la["mismatched_u"], la["mismatched_v"]] for la in layers])
    return 0 if exact else 1


def run_summary(net, result) -> dict:
    """Per-layer records (name, neurons, spike counts of each simulator that ran; a readout layer's output
    is its membrane, so it has no spikes) and the predicted class per sample: the argmax of the readout
    membrane summed over time, or of the last layer's spike counts."""
    import numpy as np

    layers = []
    for k, la in enumerate(net.layers):
        rec = {"layer": la.name or f"layer {k + 1}", "neurons": int(la.n_out), "readout": bool(la.readout)}
        layers.append(rec)
    last = net.layers[-1]
    if last.readout:
        score = np.asarray(result.v[-1], dtype=np.float64).sum(0)
        how = "argmax of the readout membrane summed over time"
    else:
        score = np.asarray(result.spikes[-1], dtype=np.float64).sum(0)
        how = "argmax of the last layer's spike counts"
    return {"per_layer": layers, "predictions": score.argmax(-1).tolist(), "prediction_rule": how}


def print_run_summary(network: str, out: dict) -> None:
    """``neuro lava run``'s text output: a table of spikes per layer, the predictions, bit-exactness."""
    sims = [(k, name) for k, name in (("loihi_spikes", "loihi simulator"), ("lava_spikes", "Lava")) if k in out]
    rows = []
    for k, rec in enumerate(out["per_layer"]):
        counts = ["- (membrane readout)" if rec["readout"] else out[key][k] for key, _ in sims]
        rows.append([rec["layer"], rec["neurons"], *counts])
    print_table(f"{network}: {out['steps']} steps, {out['batch']} sample(s)", ["layer", "neurons",
                *[f"spikes ({name})" for _, name in sims]], rows)
    preds = out["predictions"]
    print(f"predictions ({out['prediction_rule']}): " + ", ".join(f"sample {b}: {p}" for b, p in enumerate(preds)))
    if "bit_exact" in out:
        print("loihi simulator and Lava: " + ("bit-exact (spikes, currents and voltages of every layer)"
                                              if out["bit_exact"] else "DIFFERENT"))


@command("bench loihi", help="fixed-point simulator (batch 1 and 64) vs Lava's CPU simulator on a 140-256-256-20 "
         "network with delays <= 24 over 200 steps",
         args=[arg("--steps", type=positive_int, default=200, help="time steps"),
               arg("--batch", type=positive_int, default=64, help="samples per batch"),
               arg("--repeat", type=positive_int, default=3, help="timed runs (the median is reported)"),
               arg("--json", action="store_true", help="print JSON instead of the table")])
def bench_loihi(args) -> int:
    from neuro.bench.loihi import run_loihi_bench

    r = run_loihi_bench(args.steps, repeat=args.repeat, batch=args.batch)
    if args.json:
        print_json(r)
        return 0
    print_table(f"{r['network']}, {args.steps} steps", ["simulator", "seconds", "sample-steps/s"],
                [[k, v["seconds"], v["sample_steps_per_s"]] for k, v in r["runs"].items()])
    if r["speedup"] is None:
        print(f"Lava not measured: {r['lava']}")
    else:
        print(f"bit_exact: {r['bit_exact']}   speedup vs Lava: {r['speedup']:.0f}x at batch {args.batch}, "
              f"{r['speedup_batch1']:.0f}x at batch 1")
    return 0
