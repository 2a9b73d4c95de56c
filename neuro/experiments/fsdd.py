"""Free Spoken Digits from unseen speakers: non-spiking references on the speaker-rotation protocol.

Protocol (the same for every FSDD table): each speaker in turn is the test speaker; for each seed
one of the remaining speakers is held out for validation (chosen by the seed), hyper-parameters are
selected on that speaker only, then the model is refitted on all training speakers and scored once
on the test speaker.  Results are reported per test speaker (mean and spread over seeds) and
overall.  A random split of seen speakers is never used for validation: it hides how badly a
model transfers to a new voice.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from neuro.datasets.audio import NAMED_ENCODERS
from neuro.errors import ConfigError

#: the references ``fsdd_baselines`` knows: name -> what it is (logistic regression unless named ``gru-``)
FEATURES = {
    "logmel": "log-mel energies, 40 bands x 10 equal parts of the recording",
    "logmel-cmn": "the same with each band's mean over the recording removed (cepstral mean normalization)",
    "spike-counts": "log(1 + spike counts) of the cochlea encoder, 140 bands x 10 equal parts of the recording",
    "spike-counts-plain": "the same counts from the plain filterbank encoder (channel_norm=0, floor=0.3, "
                          "dynamic_range=100)",
    "spike-counts-inner-ear": "the same counts from the inner-ear encoder (basilar membrane, hair cells, bushy "
                              "cells: the model SHD was made with)",
    "gru-logmel": "a GRU (128 units, output averaged over time) on log-mel frames (40 bands, 10 ms hop, each "
                  "band's mean removed), trained on every training speaker",
    "gru-spikes": "the same GRU on the delay model's input: the cochlea encoder's spikes in 140 bands and 10 ms "
                  "bins from the first spike, log(1 + count)",
}
#: the references run when none are named (the GRUs train for minutes per split: ask for them)
DEFAULT_FEATURES = ("logmel", "logmel-cmn", "spike-counts", "spike-counts-plain")
#: the GRU references' fixed recipe (chosen once on validation speakers, not per split)
GRU_RECIPE = {"hidden": 128, "epochs": 30, "batch_size": 64, "lr": 1e-3, "weight_decay": 1e-4}
#: the encoder settings of each spike-count feature set (``make_encoder``'s; the rest are the encoder's defaults)
ENCODERS = {"spike-counts": NAMED_ENCODERS["cochlea"], "spike-counts-plain": NAMED_ENCODERS["plain"],
            "spike-counts-inner-ear": NAMED_ENCODERS["inner-ear"]}
C_GRID = (0.01, 0.1, 1.0)


def speaker_rotation(speakers: list[str], test_speakers: list[str] | None, seeds: list[int]):
    """``(test, validation, training speakers, seed)`` for every test speaker and seed.

    The validation speaker is drawn by the seed from the speakers left after removing the test
    speaker, so different seeds validate on different voices; it is never the test speaker.
    """
    every = sorted(set(speakers))
    tests = every if test_speakers is None else list(test_speakers)
    unknown = sorted(set(tests) - set(every))
    if unknown:
        raise ConfigError(f"unknown FSDD speakers {unknown} in --test-speakers; available: {every}")
    if len(every) < 3:
        raise ConfigError(f"the speaker rotation needs at least 3 speakers (test, validation, training); "
                          f"the data holds {every}")
    for test in tests:
        rest = [s for s in every if s != test]
        for seed in seeds:
            val = rest[int(np.random.default_rng(seed).integers(len(rest)))]
            yield test, val, [s for s in rest if s != val], seed


def _cache_file(kind: str, root: Path, settings: dict[str, Any]) -> Path:
    from neuro.config import cache_root

    key = hashlib.md5(json.dumps({"kind": kind, "root": str(root), **settings}, sort_keys=True,
                                 default=str).encode()).hexdigest()[:12]
    return cache_root() / "fsdd_features" / f"{kind}-{key}.npz"


def _cached(kind: str, audio, enc, compute) -> dict[str, np.ndarray]:
    """The arrays ``compute()`` returns for the recordings of ``audio``, plus ``y`` and ``speakers``,
    read from the cache file of ``kind`` when it holds the same recordings, else computed and written
    there (keyed on every setting the encoder ended up with, so a changed default never reads stale data)."""
    settings = {"encoder": {k: v for k, v in vars(enc).items() if isinstance(v, int | float | str)}} if enc else {}
    cache = _cache_file(kind, audio.root.resolve(), settings)
    names = [f.name for f, _, _ in audio.items]
    if cache.exists():
        with np.load(cache) as z:
            if list(z["names"]) == names:
                return {k: z[k] for k in z.files if k != "names"}
    arrays = compute() | {"y": np.array(audio.targets), "speakers": np.array([s for _, _, s in audio.items])}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, names=np.array(names), **arrays)
    os.replace(tmp, cache)
    return arrays


def fsdd_features(root=None, kind: str = "logmel", encoder: dict[str, Any] | None = None):
    """``(X [recordings, features], digits, speakers)`` for one feature set, cached under the cache root.

    ``encoder`` replaces the encoder settings of a spike-count feature set (as ``make_encoder`` reads them).
    """
    from neuro.datasets import FSDD, SpikingFSDD
    from neuro.datasets.audio import binned_counts, log_mel
    from neuro.datasets.encoders import make_encoder
    from neuro.datasets.public import read_wav

    if kind not in FEATURES or kind.startswith("gru-"):
        flat = [k for k in FEATURES if not k.startswith("gru-")]
        raise ConfigError(f"unknown feature set {kind!r}; expected one of {', '.join(flat)} (gru-*: fsdd_sequences)")
    if kind == "logmel-cmn":
        X, y, spk = fsdd_features(root, "logmel")
        X3 = X.reshape(len(X), 40, -1)
        return (X3 - X3.mean(2, keepdims=True)).reshape(len(X), -1), y, spk
    audio = FSDD(root)
    enc = make_encoder(ENCODERS[kind] if encoder is None else encoder) if kind in ENCODERS else None

    def compute() -> dict[str, np.ndarray]:
        if kind == "logmel":
            X = np.stack([log_mel(*read_wav(f)) for f, _, _ in audio.items])
        else:
            spiking = SpikingFSDD(root, encoder=enc)
            feats = []
            for i, (f, _, _) in enumerate(audio.items):
                wave, rate = read_wav(f)
                duration_us = len(wave) / rate * 1e6
                feats.append(np.log1p(binned_counts(spiking.events(i), duration_us, enc.n_channels)))
            X = np.stack(feats)
        return {"X": X.reshape(len(X), -1).astype(np.float32)}

    z = _cached(kind, audio, enc, compute)
    return z["X"], z["y"], z["speakers"]


def fsdd_sequences(root=None, kind: str = "gru-logmel"):
    """``(frames [all frames, features], lengths, digits, speakers)``: one sequence per recording, stacked
    (a GRU reference's input), cached under the cache root like :func:`fsdd_features`."""
    from neuro.datasets import FSDD, SpikingFSDD
    from neuro.datasets.audio import CochleaEncoder, audio_frames, log_mel_frames
    from neuro.datasets.public import read_wav

    if kind not in ("gru-logmel", "gru-spikes"):
        raise ConfigError(f"unknown sequence reference {kind!r}; expected gru-logmel or gru-spikes")
    audio = FSDD(root)
    enc = CochleaEncoder() if kind == "gru-spikes" else None

    def compute() -> dict[str, np.ndarray]:
        if kind == "gru-logmel":
            seqs = []
            for f, _, _ in audio.items:
                m = log_mel_frames(*read_wav(f))
                seqs.append(m - m.mean(0, keepdims=True))
        else:
            spiking, tf = SpikingFSDD(root, encoder=enc), audio_frames(t0="first")
            seqs = [np.log1p(tf(spiking.events(i))) for i in range(len(audio.items))]
        return {"frames": np.concatenate(seqs).astype(np.float32),
                "lengths": np.array([len(q) for q in seqs], np.int64)}

    z = _cached(kind, audio, enc, compute)
    return z["frames"], z["lengths"], z["y"], z["speakers"]


def _gru_batches(frames, offsets, lengths, idx):
    """Zero-padded ``[B, T, F]`` and the lengths of recordings ``idx`` (padded to the longest of them)."""
    import torch

    T = int(lengths[idx].max())
    x = np.zeros((len(idx), T, frames.shape[1]), np.float32)
    for k, i in enumerate(idx):
        x[k, :lengths[i]] = frames[offsets[i]:offsets[i] + lengths[i]]
    return torch.from_numpy(x), torch.from_numpy(lengths[idx])


def train_gru(frames, lengths, y, train_idx, test_idx, seed: int, recipe: dict[str, Any] | None = None) -> float:
    """Train the GRU reference on recordings ``train_idx`` with ``recipe`` and return its accuracy on ``test_idx``."""
    import torch
    from torch import nn

    r = GRU_RECIPE | (recipe or {})
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    class GRUReference(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(frames.shape[1], r["hidden"], batch_first=True)
            self.out = nn.Linear(r["hidden"], int(y.max()) + 1)

        def forward(self, x, n):  # the output averaged over each recording's own frames
            h, _ = self.gru(x)
            mask = (torch.arange(x.shape[1])[None, :] < n[:, None]).to(h.dtype)[..., None]
            return self.out((h * mask).sum(1) / n[:, None].to(h.dtype))

    net = GRUReference()
    opt = torch.optim.Adam(net.parameters(), lr=r["lr"], weight_decay=r["weight_decay"])
    labels = torch.from_numpy(np.asarray(y, np.int64))
    for _ in range(r["epochs"]):
        order = rng.permutation(train_idx)
        for b in range(0, len(order), r["batch_size"]):
            idx = order[b:b + r["batch_size"]]
            loss = nn.functional.cross_entropy(net(*_gru_batches(frames, offsets, lengths, idx)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    correct = 0
    with torch.no_grad():
        for b in range(0, len(test_idx), 256):
            idx = test_idx[b:b + 256]
            correct += int((net(*_gru_batches(frames, offsets, lengths, idx)).argmax(1) == labels[idx]).sum())
    return correct / max(len(test_idx), 1)


def rotate_gru(frames, lengths, y, speakers, test_speakers=None, seeds=(0,), recipe=None) -> dict[str, Any]:
    """The GRU reference under the speaker rotation: its recipe is fixed, so the validation speaker is
    not held out but trains with the others (as the logistic references refit on it after choosing C)."""
    runs = []
    for test, val, train, seed in speaker_rotation(list(speakers), test_speakers, list(seeds)):
        train_idx = np.flatnonzero(np.isin(speakers, train + [val]))
        acc = train_gru(frames, lengths, y, train_idx, np.flatnonzero(speakers == test), seed, recipe)
        runs.append({"test": test, "validation": None, "seed": seed, "test_accuracy": acc})
    return summarize(runs)


def _fit(X, y, C: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed)).fit(X, y)


def rotate_classifier(X, y, speakers, test_speakers=None, seeds=(0, 1, 2), grid=C_GRID) -> dict[str, Any]:
    """Standardized logistic regression on features ``X`` under the speaker rotation (see module doc)."""
    runs = []
    for test, val, train, seed in speaker_rotation(list(speakers), test_speakers, list(seeds)):
        fit_mask, val_mask = np.isin(speakers, train), speakers == val
        val_acc = {C: float(_fit(X[fit_mask], y[fit_mask], C, seed).score(X[val_mask], y[val_mask])) for C in grid}
        best_c = max(grid, key=lambda c: (val_acc[c], -c))
        train_mask = fit_mask | val_mask
        model = _fit(X[train_mask], y[train_mask], best_c, seed)
        test_mask = speakers == test
        runs.append({"test": test, "validation": val, "seed": seed, "C": best_c, "val_accuracy": val_acc[best_c],
                     "test_accuracy": float(model.score(X[test_mask], y[test_mask]))})
    return summarize(runs)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per test speaker mean/std/min over seeds, and the mean, std and worst speaker overall."""
    per = {}
    for test in dict.fromkeys(r["test"] for r in runs):
        acc = np.array([r["test_accuracy"] for r in runs if r["test"] == test])
        per[test] = {"mean": float(acc.mean()), "std": float(acc.std()), "min": float(acc.min()), "runs": len(acc)}
    means = np.array([p["mean"] for p in per.values()])
    seed_means = [np.mean([r["test_accuracy"] for r in runs if r["seed"] == s])
                  for s in dict.fromkeys(r["seed"] for r in runs)]
    return {"mean": float(means.mean()), "std_over_seeds": float(np.std(seed_means)),
            "worst_speaker": min(per, key=lambda k: per[k]["mean"]), "worst": float(means.min()),
            "per_speaker": per, "runs": runs}


def voices_curve(root=None, features: list[str] | None = None, C: float = 0.1) -> dict[str, Any]:
    """Accuracy on an unseen speaker against the number of training voices: for each test speaker and
    each ``k``, the logistic reference (fixed ``C``) is fitted on every combination of ``k`` of the other
    speakers.  How fast it rises says how many voices a target accuracy would need."""
    import itertools

    out: dict[str, Any] = {"C": C, "results": {}}
    for kind in features or ["logmel-cmn", "spike-counts"]:
        if kind.startswith("gru-"):
            raise ConfigError(f"--voices-curve fits the logistic references only; {kind} is a GRU")
        X, y, spk = fsdd_features(root, kind)
        every = sorted(set(spk.tolist()))
        curve = {}
        for k in range(1, len(every)):
            accs = []
            for test in every:
                rest = [s for s in every if s != test]
                for train in itertools.combinations(rest, k):
                    fit = np.isin(spk, train)
                    accs.append(float(_fit(X[fit], y[fit], C, 0).score(X[spk == test], y[spk == test])))
            curve[k] = {"mean": float(np.mean(accs)), "min": float(np.min(accs)), "fits": len(accs)}
        out["results"][kind] = {"features": FEATURES[kind], "curve": curve}
    return out


def fsdd_baselines(root=None, features: list[str] | None = None, test_speakers: list[str] | None = None,
                   seeds: list[int] | None = None) -> dict[str, Any]:
    """The non-spiking references on the speaker rotation: logistic regression on each feature set."""
    seeds = list(seeds) if seeds is not None else [0, 1, 2]
    out: dict[str, Any] = {"protocol": "rotate the test speaker; per seed, one training speaker held out for "
                                       "validation (C of the logistic regression chosen there), refit on all "
                                       "training speakers, score the test speaker once",
                           "seeds": seeds, "C_grid": list(C_GRID), "results": {}}
    for kind in features or list(DEFAULT_FEATURES):
        t0 = time.perf_counter()
        if kind.startswith("gru-"):
            frames, lengths, y, spk = fsdd_sequences(root, kind)
            r = rotate_gru(frames, lengths, y, spk, test_speakers, seeds)
            r["recipe"], dim = GRU_RECIPE, int(frames.shape[1])
        else:
            X, y, spk = fsdd_features(root, kind)
            r = rotate_classifier(X, y, spk, test_speakers, seeds)
            dim = int(X.shape[1])
        r["features"], r["dim"], r["seconds"] = FEATURES[kind], dim, time.perf_counter() - t0
        out["results"][kind] = r
    return out
