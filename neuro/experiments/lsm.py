"""Liquid-state-machine experiments on real data: N-MNIST and spiking FSDD classification and zero-shot
audio-visual digit matching (the reservoir benchmark is :mod:`neuro.bench.lsm`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from neuro.datasets.prepared import fsdd_inputs, nmnist_inputs
from neuro.errors import ConfigError
from neuro.hardware.loihi import quantize, simulate
from neuro.learning.readouts import ContrastiveProjection, LogisticReadout, RidgeReadout
from neuro.models.lsm import LiquidStateMachine


def reservoir_features(lsm: LiquidStateMachine, x: torch.Tensor, batch: int = 100,
                       backend: str = "float") -> tuple[torch.Tensor, dict]:
    """Rates plus counts in 3 time bins for every sample; also firing rate and synaptic operations.

    ``backend="loihi"`` takes the spikes from the quantized reservoir in the bit-exact Loihi
    simulator (realigned by its one step of synaptic latency) instead of the float model.
    """
    if backend not in ("float", "loihi"):
        raise ConfigError(f"backend must be 'float' or 'loihi', got {backend!r}")
    net = None
    if backend == "loihi":
        net, _ = quantize(lsm)
    feats, rates, synops = [], [], []
    for k in range(0, x.shape[1], batch):
        xb = x[:, k : k + batch]
        s = lsm(xb) if net is None else loihi_reservoir_spikes(net, xb)
        f, st = _features(lsm, s, xb)
        feats.append(f)
        rates.append(st[0])
        synops.append(st[1])
    return torch.cat(feats), {"firing_rate": float(np.mean(rates)), "synops_per_sample": float(np.mean(synops))}


def _features(lsm: LiquidStateMachine, s: torch.Tensor, xb: torch.Tensor) -> tuple[torch.Tensor, tuple[float, float]]:
    f = torch.cat([lsm.features(s, "rates"), lsm.features(s, "counts", bins=3)], 1)
    return f, (s.mean().item(), lsm.synaptic_ops(s, xb))


def loihi_reservoir_spikes(net, x: torch.Tensor) -> torch.Tensor:
    """Spikes ``[T, B, n]`` (float 0/1) of a quantized reservoir for input ``x [T, B, n_in]``, on the
    float model's timeline (the input is padded by one step and the synaptic latency removed)."""
    xi = torch.cat([x.to(torch.int64), torch.zeros((1, *x.shape[1:]), dtype=torch.int64)])
    return simulate(net, xi).spikes[0][1:].float()


def separation(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Separation property: mean distance between class centroids over mean within-class spread."""
    cls = labels.unique()
    cents = torch.stack([features[labels == c].mean(0) for c in cls])
    between = torch.cdist(cents, cents).sum() / (len(cls) * (len(cls) - 1))
    within = torch.stack([(features[labels == c] - cents[i]).norm(dim=1).mean() for i, c in enumerate(cls)]).mean()
    return float(between / within)


def lsm_nmnist(root=None, n: int = 1000, seed: int = 0, weights: str = "gaussian", backend: str = "float",
               samples: int | None = None) -> dict[str, Any]:
    """N-MNIST (1,000 real recordings) with a linear readout: 80% train / 20% test.

    ``backend="loihi"`` also quantizes the reservoir, runs it in the bit-exact Loihi simulator and
    trains the same readouts on its features: the result holds both accuracies, the fraction of
    equal spikes and the quantization report.  ``samples`` keeps only the first recordings.
    """
    if backend not in ("float", "loihi"):
        raise ConfigError(f"backend must be 'float' or 'loihi', got {backend!r}")
    t0 = time.perf_counter()
    x, y = nmnist_inputs(root)
    if samples is not None:
        x, y = x[:, :samples], y[:samples]
    lsm = LiquidStateMachine(x.shape[2], n=n, seed=seed, weights=weights, input_scale=2.0)
    if backend == "float":
        f, stats = reservoir_features(lsm, x)
    else:  # both reservoirs on the same batches: float features, fixed-point features, spike agreement
        net, report = quantize(lsm)
        fs: dict[str, list] = {"float": [], "loihi": []}
        st: dict[str, list] = {"float": [], "loihi": []}
        agree = 0.0
        seconds = 0.0
        for k in range(0, x.shape[1], 100):
            xb = x[:, k:k + 100]
            s_f = lsm(xb)
            t1 = time.perf_counter()
            s_q = loihi_reservoir_spikes(net, xb)
            seconds += time.perf_counter() - t1
            agree += float((s_f == s_q).float().mean()) * xb.shape[1]
            for key, s in (("float", s_f), ("loihi", s_q)):
                feat, stat = _features(lsm, s, xb)
                fs[key].append(feat)
                st[key].append(stat)
        f, fq = torch.cat(fs["float"]), torch.cat(fs["loihi"])
        stats = {"firing_rate": float(np.mean([a for a, _ in st["float"]])),
                 "synops_per_sample": float(np.mean([b for _, b in st["float"]]))}
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    tr, te = perm[: int(0.8 * len(y))], perm[int(0.8 * len(y)):]
    ridge = RidgeReadout(alpha=10.0).fit(f[tr], y[tr])
    logistic = LogisticReadout(l2=1e-3).fit(f[tr], y[tr])
    out = {"task": f"N-MNIST, {len(y)} real recordings, {len(tr)} train / {len(te)} test", "reservoir": n,
           "weights": weights, "connections": lsm.connections, "ridge_accuracy": ridge.score(f[te], y[te]),
           "logistic_accuracy": logistic.score(f[te], y[te]), "chance": 0.1,
           "separation": separation(f[tr], y[tr]), **stats}
    if backend == "loihi":
        rep = report.layers[0]
        out.update({
            "loihi_ridge_accuracy": RidgeReadout(alpha=10.0).fit(fq[tr], y[tr]).score(fq[te], y[te]),
            "loihi_logistic_accuracy": LogisticReadout(l2=1e-3).fit(fq[tr], y[tr]).score(fq[te], y[te]),
            "loihi_firing_rate": float(np.mean([a for a, _ in st["loihi"]])), "spike_agreement": agree / x.shape[1],
            "loihi_quantization": {"weight_rel_error": rep.weight_rel_error,
                                   "rec_weight_rel_error": rep.rec_weight_rel_error, "weight_exp": rep.weight_exp,
                                   "rec_weight_exp": rep.rec_weight_exp, "vth": rep.vth, "dv": rep.dv,
                                   "beta_mem_quantized": rep.beta_mem_quantized},
            "loihi_seconds": seconds})
    out["seconds"] = time.perf_counter() - t0
    return out


def lsm_fsdd(root=None, n: int = 1000, test_speakers=("yweweler",), seed: int = 0) -> dict[str, Any]:
    """Spiking FSDD with held-out speakers and a linear readout."""
    t0 = time.perf_counter()
    x, y, spk = fsdd_inputs(root)
    lsm = LiquidStateMachine(x.shape[2], n=n, seed=seed, input_scale=2.0)
    f, stats = reservoir_features(lsm, x)
    te = torch.tensor([s in test_speakers for s in spk])
    ridge = RidgeReadout(alpha=10.0).fit(f[~te], y[~te])
    logistic = LogisticReadout(l2=1e-3).fit(f[~te], y[~te])
    return {"task": f"spiking FSDD, test speakers {list(test_speakers)}", "ridge_accuracy": ridge.score(f[te], y[te]),
            "logistic_accuracy": logistic.score(f[te], y[te]), "chance": 0.1, **stats,
            "seconds": time.perf_counter() - t0}


def lsm_zeroshot(root=None, n: int = 1000, seen=tuple(range(7)), dim: int = 64, seed: int = 0,
                 repeats: int = 5, unseen=None) -> dict[str, Any]:
    """Zero-shot audio -> image digit matching: projections trained on the ``seen`` digits only.

    Visual: N-MNIST reservoir features; audio: spiking-FSDD reservoir features (speaker ``yweweler``
    held out for testing).  Each training pair joins a visual and an audio sample of the same seen
    digit.  Test: each held-out audio sample is matched to the visual class prototypes (mean visual
    embedding per class) of its group: the seen digits, or the unseen digits (default: all others).
    The reservoirs are fixed; pairing and projection training are repeated ``repeats`` times
    (seeds ``seed .. seed + repeats - 1``) and the accuracies reported per repeat and as mean / std.
    Diagnostics: ``unseen_confusion`` (spoken digit -> matched visual digit, summed over repeats)
    and, per repeat, ``unseen_nearest_seen``: the seen digit whose visual prototype lies nearest to
    each unseen digit's mean spoken and visual embedding.  A match can only succeed where the two agree.
    """
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    seen = tuple(int(d) for d in seen)
    unseen = tuple(int(d) for d in (unseen if unseen is not None else [d for d in range(10) if d not in seen]))
    if not seen or not unseen or set(seen) & set(unseen) or not set(seen + unseen) <= set(range(10)):
        raise ConfigError(f"seen {seen} and unseen {unseen} must be non-empty, disjoint sets of digits 0-9")
    t0 = time.perf_counter()
    xv, yv = nmnist_inputs(root)
    xa, ya, spk = fsdd_inputs(root)
    fv, sv = reservoir_features(LiquidStateMachine(xv.shape[2], n=n, seed=seed, input_scale=2.0), xv)
    fa, sa = reservoir_features(LiquidStateMachine(xa.shape[2], n=n, seed=seed + 1, input_scale=2.0), xa)
    test_a = torch.tensor([s == "yweweler" for s in spk])
    seen_t, unseen_t = torch.tensor(seen), torch.tensor(unseen)
    vis_mean = torch.stack([fv[yv == c].mean(0) for c in range(10)])  # visual class prototypes (features)
    runs = []
    confusion = [[0] * len(unseen) for _ in unseen]  # [true spoken digit][matched visual digit], all repeats
    for r in range(repeats):
        g = torch.Generator().manual_seed(seed + r)
        # training pairs: every seen-class visual sample with a random training audio sample of its digit
        ia, iv = [], []
        for d in seen:
            vis = (yv == d).nonzero().flatten()
            aud = ((ya == d) & ~test_a).nonzero().flatten()
            ia.append(aud[torch.randint(len(aud), (len(vis),), generator=g)])
            iv.append(vis)
        iv_t, ia_t = torch.cat(iv), torch.cat(ia)
        proj = ContrastiveProjection(fa.shape[1], fv.shape[1], dim=dim).fit(fa[ia_t], fv[iv_t], yv[iv_t], epochs=60,
                                                                            seed=seed + r)

        def predict(classes: torch.Tensor, proj=proj) -> tuple[torch.Tensor, torch.Tensor]:
            sel = test_a & torch.isin(ya, classes)
            return classes[proj.match(fa[sel], vis_mean[classes])], ya[sel]

        (ps, ts), (pu, tu) = predict(seen_t), predict(unseen_t)
        for a, b in zip(tu.tolist(), pu.tolist(), strict=True):
            confusion[unseen.index(a)][unseen.index(b)] += 1
        with torch.no_grad():  # which seen digit each unseen digit is taken for, per modality
            protos_v = proj.embed_b(vis_mean[seen_t])
            near = {"audio": [], "image": []}
            for d in unseen:
                za = F.normalize(proj.embed_a(fa[test_a & (ya == d)]).mean(0), dim=0)
                zv = proj.embed_b(vis_mean[d : d + 1])[0]
                near["audio"].append(seen[int((protos_v @ za).argmax())])
                near["image"].append(seen[int((protos_v @ zv).argmax())])
        runs.append({"seed": seed + r, "seen_accuracy": float((ps == ts).float().mean()),
                     "unseen_accuracy": float((pu == tu).float().mean()),
                     "unseen_nearest_seen": {m: dict(zip(unseen, v, strict=True)) for m, v in near.items()}})
    mean = {k: float(np.mean([x[k] for x in runs])) for k in ("seen_accuracy", "unseen_accuracy")}
    std = {k: float(np.std([x[k] for x in runs])) for k in ("seen_accuracy", "unseen_accuracy")}
    n_test = {name: int((test_a & torch.isin(ya, c)).sum()) for name, c in (("seen", seen_t), ("unseen", unseen_t))}
    return {"task": f"zero-shot audio->image digits (train {list(seen)}, test {list(unseen)}; held-out speaker)",
            "seen": list(seen), "unseen": list(unseen),
            "seen_accuracy": mean["seen_accuracy"], "seen_accuracy_std": std["seen_accuracy"],
            "seen_chance": 1 / len(seen), "unseen_accuracy": mean["unseen_accuracy"],
            "unseen_accuracy_std": std["unseen_accuracy"], "unseen_chance": 1 / len(unseen),
            "test_samples": n_test, "unseen_confusion": {str(d): dict(zip(map(str, unseen), row, strict=True))
                                                         for d, row in zip(unseen, confusion, strict=True)},
            "repeats": runs, "pairs": int(len(iv_t)), "visual": sv, "audio": sa,
            "seconds": time.perf_counter() - t0}
