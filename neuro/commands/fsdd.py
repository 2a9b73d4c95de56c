"""``neuro experiment fsdd-baselines``: the non-spiking references for Free Spoken Digits; ``neuro bench audio``."""

from __future__ import annotations

from neuro.commands.options import nonnegative_int, positive_int
from neuro.commands.registry import arg, command, print_json, print_table


@command("experiment fsdd-baselines",
         help="non-spiking references on FSDD (logistic regression, GRU), rotating the held-out test speaker",
         args=[arg("--root", default=None, help="data folder (default: $NEURO_DATA_DIR)"),
               arg("--features", nargs="+", default=None,
                   choices=["logmel", "logmel-cmn", "spike-counts", "spike-counts-plain", "spike-counts-inner-ear",
                            "gru-logmel", "gru-spikes"],
                   help="references to score: logistic regression on a feature set, or a GRU on frames (gru-*) "
                        "(default: logmel, logmel-cmn, spike-counts, spike-counts-plain; spike-counts-inner-ear "
                        "encodes every recording with the inner-ear model first, about 35 minutes on one core)"),
               arg("--test-speakers", nargs="+", default=None,
                   help="test speakers to rotate through (default: every speaker)"),
               arg("--seeds", type=nonnegative_int, nargs="+", default=[0, 1, 2],
                   help="seeds; each picks the training speaker held out for validation"),
               arg("--voices-curve", action="store_true",
                   help="instead: accuracy on an unseen speaker against the number of training voices "
                        "(logistic references, C=0.1, every combination of training speakers)"),
               arg("--json", action="store_true", help="print JSON instead of the table")])
def exp_fsdd_baselines(args) -> int:
    from neuro.experiments.fsdd import fsdd_baselines, voices_curve

    if args.voices_curve:
        v = voices_curve(args.root, args.features)
        if args.json:
            print_json(v)
            return 0
        for kind, res in v["results"].items():
            print_table(f"{kind}: {res['features']}", ["training voices", "mean", "min", "fits"],
                        [[k, c["mean"], c["min"], c["fits"]] for k, c in res["curve"].items()])
        return 0
    r = fsdd_baselines(args.root, args.features, args.test_speakers, args.seeds)
    if args.json:
        print_json(r)
        return 0
    for kind, res in r["results"].items():
        print_table(f"{kind}: {res['features']} (seeds {', '.join(map(str, r['seeds']))})",
                    ["test speaker", "mean", "std", "min"],
                    [[s, p["mean"], p["std"], p["min"]] for s, p in res["per_speaker"].items()]
                    + [["all", res["mean"], res["std_over_seeds"], res["worst"]]])
    return 0


@command("bench audio", help="audio to spikes: neuro's inner-ear encoder vs lauscher (the package SHD was made with) "
                             "on the same recordings and random draws, spike for spike; neuro's filterbank alongside",
         args=[arg("--recordings", type=positive_int, default=3,
                   help="FSDD recordings to encode, one per speaker in turn (generated sounds without the data)"),
               arg("--channels", type=positive_int, default=700, help="places along the basilar membrane"),
               arg("--repeat", type=positive_int, default=1, help="timed runs of neuro's encoders (the best counts)"),
               arg("--root", default=None, help="data folder (default: $NEURO_DATA_DIR)"),
               arg("--json", action="store_true", help="print JSON instead of the table")])
def bench_audio(args) -> int:
    from neuro.bench.audio import run_audio_bench

    r = run_audio_bench(args.recordings, args.channels, args.repeat, root=args.root)
    if args.json:
        print_json(r)
    else:
        print_table(f"audio to spikes, {args.channels} channels ({r['source']})",
                    ["recording", "audio s", "neuro inner-ear s", "lauscher s", "speedup", "equal spikes",
                     "neuro filterbank s"],
                    [[x["recording"], x["seconds_of_audio"], x["neuro_inner_ear_s"], x.get("lauscher_s", "-"),
                      x.get("speedup", "-"), x.get("equal_spikes", "-"), x["neuro_cochlea_s"]] for x in r["runs"]])
        if r["lauscher"]:
            print(f"lauscher not measured: {r['lauscher']}")
    return 0 if r["equal_spikes"] is not False else 1
