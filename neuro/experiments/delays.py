"""Training and evaluating the delay model on SHD and spiking Free Spoken Digits."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from neuro.datasets.audio import NAMED_ENCODERS
from neuro.errors import ConfigError, DataError

#: how SHD-style events become the delay model's input: 700 channels summed by 5, 10 ms bins from t = 0
ENCODING = {"n_channels": 700, "channel_factor": 5, "bin_us": 10_000, "t0": "zero"}
#: FSDD's binning: the same, from each recording's first spike (leading silence varies by speaker, 42 to
#: 156 ms on average; aligning lifted the delay model by 0 to 5 points on held-out speakers)
FSDD_ENCODING = ENCODING | {"t0": "first"}
#: the Xylo model's input: 14 channels (Xylo reads at most 16), 20 ms bins, counts capped at 15 per bin (Xylo's limit)
XYLO_ENCODING = {"n_channels": 700, "channel_factor": 50, "bin_us": 20_000, "t0": "zero", "max_count": 15}
#: ``--val-speakers none``: no validation speaker, every training speaker trains and the last epoch is kept
NO_VALIDATION = "none"


#: encoder settings that checkpoints written before they existed did not record, with the value those used
RECORDED_BEFORE = {"channel_norm": 0.0, "dynamic_range": 100.0}
#: ``neuro train fsdd --encoder``: the named encoder settings
ENCODERS = NAMED_ENCODERS


class _Capped:
    """A frame transform whose counts are capped at ``max_count`` per bin."""

    def __init__(self, inner, max_count: int) -> None:
        self.inner, self.max_count = inner, max_count

    def __call__(self, events):
        return np.minimum(self.inner(events), self.max_count)


def _transform(encoding: dict[str, Any]):
    t0 = encoding.get("t0", "zero")
    if t0 not in ("zero", "first"):
        raise ConfigError(f"unsupported recorded binning t0={t0!r} (expected 'zero' or 'first')")
    from neuro.datasets.audio import audio_frames

    tf = audio_frames(encoding["n_channels"], encoding["channel_factor"], encoding["bin_us"], t0)
    cap = encoding.get("max_count")
    if cap is None:
        return tf
    if not isinstance(cap, int) or cap < 1:
        raise ConfigError(f"unsupported recorded max_count={cap!r} (a positive integer)")
    return _Capped(tf, cap)


def encoder_settings(**overrides: Any) -> dict[str, Any]:
    """Every argument of the encoder ``overrides["kind"]`` names (default the cochlea filterbank): its
    defaults, then ``overrides``, as recorded in checkpoints."""
    from neuro.datasets.encoders import encoder_defaults

    return encoder_defaults(overrides.get("kind", "cochlea")) | overrides


def recorded_encoder(settings: dict[str, Any]):
    """The encoder a checkpoint's recorded settings describe (filterbank settings written before an option
    existed get the value they were made with)."""
    from neuro.datasets.encoders import make_encoder

    if settings.get("kind", "cochlea") == "cochlea":
        settings = {**RECORDED_BEFORE, **settings}
    try:
        return make_encoder(settings)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"the checkpoint records encoder settings this version cannot build ({e}); "
                          "re-train the model or use the version that wrote it") from None


class _Frames(torch.utils.data.Dataset):
    def __init__(self, base, indices, transform) -> None:
        self.base, self.indices, self.transform = base, [int(i) for i in indices], transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        ev, y = self.base[self.indices[k]]
        return torch.from_numpy(self.transform(ev)), y

    def longest(self) -> int:
        """The most time steps of any sample (one pass over the data)."""
        return max((self[k][0].shape[0] for k in range(len(self))), default=0)

    def describe(self) -> dict[str, Any]:
        """Which recordings these are: FSDD file names, or an SHD file's name and sample indices."""
        from neuro.datasets import SpikingFSDD

        b = self.base
        if isinstance(b, SpikingFSDD):
            return {"count": len(self), "speakers": sorted({b.speakers[i] for i in self.indices}),
                    "files": [b.audio.items[i][0].name for i in self.indices]}
        spk = b.speakers
        return {"count": len(self), "source": b.file.path.name, "indices": list(self.indices),
                "speakers": sorted({int(spk[i]) for i in self.indices}) if spk is not None else []}


def _collate(batch):
    from neuro.datasets import pad_time_major

    x, y, _ = pad_time_major(batch)
    return x, y


class Splits(NamedTuple):
    train: _Frames
    validation: _Frames
    test: _Frames
    n_classes: int
    record: dict[str, Any]  # the checkpoint's "data" entry: what each split holds and how it was binned


def speaker_split(speakers, seed: int = 0, val_speakers: list | None = None,
                  source: str = "the training data") -> tuple[np.ndarray, np.ndarray, list]:
    """``(train indices, validation indices, validation speakers)``: a training set split by speaker.

    Validation holds every recording of ``val_speakers`` (default: one speaker drawn by ``seed``),
    so model selection scores voices the model never trained on, as the test set does.
    ``val_speakers=["none"]`` holds out nothing: every speaker trains (a recipe chosen beforehand on
    validation speakers, refitted on all of them, as the references refit after choosing ``C``).
    """
    if speakers is None:
        raise DataError(f"{source} records no speakers, so validation cannot be split by speaker; use a file "
                        "with the speaker of every sample (SHD's extra/speaker)")
    spk = np.asarray([str(s) for s in speakers])
    every = sorted(set(spk.tolist()), key=lambda v: (len(v), v))
    if val_speakers is None:
        if len(every) < 2:
            raise DataError(f"{source} holds one speaker ({every[0] if every else 'none'}); validation by speaker "
                            "needs at least two")
        val = [every[int(np.random.default_rng(seed).integers(len(every)))]]
    elif [str(v).lower() for v in val_speakers] == [NO_VALIDATION]:
        return np.arange(len(spk)), np.zeros(0, np.int64), []
    else:
        val = [str(v) for v in val_speakers]
        if NO_VALIDATION in [v.lower() for v in val]:
            raise ConfigError(f"--val-speakers {' '.join(val)}: 'none' stands alone (no validation speakers)")
        unknown = sorted(set(val) - set(every))
        if unknown:
            raise ConfigError(f"--val-speakers {' '.join(unknown)}: not among the speakers of {source} "
                              f"({', '.join(every)})")
        if set(val) == set(every):
            raise ConfigError(f"--val-speakers names every speaker of {source}; leave at least one for training")
    is_val = np.isin(spk, val)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val), val


def load_splits(dataset: str, root, test_speakers: list[str] | None = None, seed: int = 0,
                download: bool = False, val_speakers: list | None = None, encoder: str = "cochlea",
                progress: bool = False, encoding: dict[str, Any] | None = None) -> Splits:
    """Training, validation and test data, and their record: validation is the recordings of held-out
    training speakers (``val_speakers``, default one drawn by ``seed``), test is held-out speakers (FSDD)
    or the official test file (SHD).  ``progress``: a progress bar while FSDD recordings are encoded to
    spikes the first time; ``encoding``: the binning (default :data:`ENCODING`)."""
    from neuro.config import data_root

    encoding = dict((FSDD_ENCODING if dataset == "fsdd" else ENCODING) if encoding is None else encoding)
    tf = _transform(encoding)
    if dataset == "fsdd":
        from neuro.datasets import SpikingFSDD

        if encoder not in ENCODERS:
            raise ConfigError(f"unknown --encoder {encoder!r}; expected one of {', '.join(ENCODERS)}")
        encoding["encoder"] = encoder_settings(**ENCODERS[encoder])
        full = SpikingFSDD(root, encoder=recorded_encoder(encoding["encoder"]))
        full.encode_all(progress)
        test_speakers = test_speakers or ["yweweler"]
        unknown = set(test_speakers) - set(full.speakers)
        if unknown:
            raise ConfigError(f"unknown FSDD speakers {sorted(unknown)}; available: {sorted(set(full.speakers))}")
        test_idx = [i for i, s in enumerate(full.speakers) if s in test_speakers]
        rest = np.array([i for i, s in enumerate(full.speakers) if s not in test_speakers])
        tr, va, _ = speaker_split([full.speakers[i] for i in rest], seed, val_speakers, "the training speakers")
        parts = (_Frames(full, rest[tr], tf), _Frames(full, rest[va], tf), _Frames(full, test_idx, tf))
        n_classes = 10
    elif dataset == "shd":
        from neuro.datasets import SHD

        train, test = SHD(root, "train", download=download), SHD(root, "test", download=download)
        tr, va, _ = speaker_split(train.speakers, seed, val_speakers, str(train.file.path))
        parts = (_Frames(train, tr, tf), _Frames(train, va, tf), _Frames(test, range(len(test)), tf))
        n_classes = 20
    else:
        raise ConfigError(f"unknown dataset {dataset!r}; expected shd or fsdd")
    record = {"dataset": dataset, "root": str(data_root(root).resolve()), "seed": seed, "encoding": encoding,
              "validation": "held-out training speakers" if len(parts[1]) else "none: every training speaker trains",
              "splits": {name: part.describe() for name, part in zip(("train", "validation", "test"), parts,
                                                                      strict=True)}}
    return Splits(*parts, n_classes, record)


def _horizon(train: _Frames, val: _Frames) -> int:
    """The readout horizon: the longest training or validation sample (see DelaySNN's docstring)."""
    return max(train.longest(), val.longest())


def _fit_and_test(trainer, test: _Frames, out: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Train, then ``(test metrics of the selected model, test metrics of the last epoch)``.

    With validation speakers the selected model is ``best.ckpt`` (best validation accuracy); without
    (``--val-speakers none``) nothing can select, so the last epoch is the model and ``best.ckpt``
    becomes a copy of ``last.ckpt`` (so ``neuro eval runs/.../best.ckpt`` scores the model reported).
    """
    import shutil

    from neuro.models import read_checkpoint

    trainer.fit()
    last_metrics = trainer.evaluate(test)  # the model as the last epoch left it
    if trainer.val_loader is None:
        shutil.copyfile(out / "last.ckpt", out / "best.ckpt")
        trainer.best = {"val_accuracy": None, "epoch": len(trainer.history)}
        return last_metrics, last_metrics
    trainer.model.load_state_dict(read_checkpoint(out / "best.ckpt")["state_dict"])
    return trainer.evaluate(test), last_metrics


def train_delay_model(dataset: str, args) -> dict[str, Any]:
    """Train ``delay_snn`` with the paper's recipe (two optimizers, sigma schedule); select on validation.

    The checkpoints record the data split (``"data"``) and the seconds per time step (``"dt"``).
    """
    from neuro.layers.delay import sigma_schedule
    from neuro.models import build_model
    from neuro.models.delay_snn import softmax_sum_readout
    from neuro.plot import delay_histogram, save
    from neuro.training import TrainConfig, Trainer, output_files, plot_history, seed_everything

    seed_everything(args.seed)
    train, val, test, n_out, record = load_splits(dataset, args.root, getattr(args, "test_speakers", None),
                                                  args.seed, getattr(args, "download", False),
                                                  getattr(args, "val_speakers", None),
                                                  getattr(args, "encoder", None) or "cochlea", progress=not args.json)
    # the readout sums over a fixed horizon: the longest training sample (see DelaySNN's docstring)
    if not args.json:
        print(f"measuring the readout horizon: one pass over the {len(train) + len(val)} training and validation "
              "recordings ...", flush=True)
    config = {"n_in": 140, "hidden": args.hidden or 128, "n_out": n_out, "max_delay": args.max_delay, "mode": args.mode,
              "input_length": _horizon(train, val)}
    if getattr(args, "neuron", "lif") == "alif":  # recorded only when not the default, as older checkpoints read
        config |= {"neuron": "alif", "tau_a": args.tau_a, "beta_a": args.beta_a}
    model = build_model("delay_snn", **config)
    epochs = args.epochs
    sigma0 = args.max_delay / 2

    def optimizers(m):
        w, p = m.param_groups()
        opts = [torch.optim.Adam(w, lr=1e-3, weight_decay=1e-5)]
        if p:
            opts.append(torch.optim.Adam(p, lr=0.1))
        return opts

    def schedulers(opts, cfg):
        s = [torch.optim.lr_scheduler.OneCycleLR(opts[0], max_lr=5e-3, total_steps=cfg.epochs)]
        if len(opts) > 1:
            s.append(torch.optim.lr_scheduler.CosineAnnealingLR(opts[1], T_max=cfg.epochs))
        return s

    def on_epoch(trainer, epoch):
        trainer.model.set_sigma(sigma_schedule(epoch, epochs, sigma0))

    out = args.out or f"runs/{dataset}-{args.mode}"
    cfg = TrainConfig(epochs=epochs, batch_size=args.batch_size, out_dir=out, seed=args.seed,
                      device=getattr(args, "device", "auto"), progress=not args.json, resume=True)
    t0 = time.perf_counter()
    dt = record["encoding"]["bin_us"] / 1e6  # seconds per time bin
    trainer = Trainer(model, train, val if len(val) else None, cfg, model_name="delay_snn", model_config=config,
                      optimizers=optimizers, schedulers=schedulers, readout=softmax_sum_readout, collate_fn=_collate,
                      on_epoch_start=on_epoch, metadata={"dt": dt, "data": record})
    test_metrics, last_metrics = _fit_and_test(trainer, test, Path(out))
    files = output_files(out, "delays.png")
    summary = {"dataset": dataset, "mode": args.mode, "epochs": epochs, "config": config, "dt": dt,
               "data": _split_summary(record),
               "samples": {"train": len(train), "validation": len(val), "test": len(test)},
               "params": sum(p.numel() for p in model.parameters()),
               "best": trainer.best, "test_accuracy": test_metrics["val_accuracy"],
               "last_epoch_test_accuracy": last_metrics["val_accuracy"],
               "seconds": time.perf_counter() - t0, "out_dir": str(out), "files": files}
    plot_history(trainer.history, files["curves"], test_metrics["val_accuracy"], trainer.best["epoch"])
    save(delay_histogram(model, title=f"learned delays ({dataset}, {args.mode})"), files["delays"], dpi=90)
    Path(files["summary"]).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def train_xylo_model(args) -> dict[str, Any]:
    """Train ``xylo_snn`` on spiking FSDD (14 channels, counts capped at 15): one recurrent population of
    ``args.hidden`` CubaLIF neurons and a leaky readout, no delays, sized for one Xylo core."""
    from neuro.models import build_model
    from neuro.models.delay_snn import softmax_sum_readout
    from neuro.training import TrainConfig, Trainer, output_files, plot_history, seed_everything

    hidden = args.hidden or 128
    if hidden > 128:
        raise ConfigError(f"--hidden {hidden}: a Xylo core feeds its inputs to at most 128 hidden neurons and reads "
                          "out at most 128; use --hidden 128 or fewer")
    seed_everything(args.seed)
    train, val, test, n_out, record = load_splits("fsdd", args.root, getattr(args, "test_speakers", None), args.seed,
                                                  val_speakers=getattr(args, "val_speakers", None),
                                                  encoder=getattr(args, "encoder", None) or "cochlea",
                                                  encoding=XYLO_ENCODING, progress=not args.json)
    n_in = XYLO_ENCODING["n_channels"] // XYLO_ENCODING["channel_factor"]
    config = {"n_in": n_in, "hidden": hidden, "n_out": n_out, "input_length": _horizon(train, val)}
    model = build_model("xylo_snn", **config)

    def schedulers(opts, cfg):
        return [torch.optim.lr_scheduler.OneCycleLR(opts[0], max_lr=5e-3, total_steps=cfg.epochs)]

    out = args.out or "runs/fsdd-xylo"
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, out_dir=out, seed=args.seed, lr=1e-3,
                      weight_decay=1e-5, device=getattr(args, "device", "auto"), progress=not args.json, resume=True)
    t0 = time.perf_counter()
    dt = record["encoding"]["bin_us"] / 1e6
    trainer = Trainer(model, train, val if len(val) else None, cfg, model_name="xylo_snn", model_config=config,
                      schedulers=schedulers, readout=softmax_sum_readout, collate_fn=_collate,
                      metadata={"dt": dt, "data": record})
    test_metrics, _ = _fit_and_test(trainer, test, Path(out))
    files = output_files(out)
    summary = {"dataset": "fsdd", "model": "xylo_snn", "epochs": args.epochs, "config": config, "dt": dt,
               "data": _split_summary(record),
               "samples": {"train": len(train), "validation": len(val), "test": len(test)},
               "best": trainer.best, "test_accuracy": test_metrics["val_accuracy"],
               "seconds": time.perf_counter() - t0, "out_dir": str(out), "files": files}
    plot_history(trainer.history, files["curves"], test_metrics["val_accuracy"], trainer.best["epoch"])
    Path(files["summary"]).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _split_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its long file and index lists."""
    return {"dataset": record["dataset"], "root": record["root"], "seed": record.get("seed"),
            "splits": {k: {f: v for f, v in s.items() if f not in ("files", "indices")}
                       for k, s in record["splits"].items()}}


SPLITS = ("train", "validation", "test")
_TAKES = {"fsdd": ("delay_snn", "xylo_snn"), "shd": ("delay_snn",), "nmnist": ("conv_snn",)}


def check_root(root, option: str = "root") -> Path:
    """``root`` as a Path; a ConfigError naming ``option`` when it is missing or empty (no silent fallback)."""
    p = Path(root).expanduser()
    if not p.is_dir():
        raise ConfigError(f"{option} {root}: {'not a folder' if p.exists() else 'no such folder'}; pass the data "
                          f"folder that holds the dataset, or leave {option} out to use the one the checkpoint records")
    if not any(p.iterdir()):
        raise ConfigError(f"{option} {root} is an empty folder; pass the data folder that holds the dataset, or "
                          f"leave {option} out to use the one the checkpoint records")
    return p


def _item_ids(split: dict[str, Any]) -> set[str]:
    """Names that identify a split's recordings across splits: file names, or ``<file>#<index>``."""
    if "files" in split:
        return set(split["files"])
    return {f"{split.get('source', '')}#{i}" for i in split.get("indices", [])}


def _recorded(rec: dict[str, Any], split: str, path) -> dict[str, Any]:
    try:
        return rec["splits"][split]
    except (KeyError, TypeError):
        raise DataError(f"{path}: the checkpoint's data record has no {split!r} split") from None


def _eval_data(path, dataset: str, rec, root: Path | None, speakers, split: str):
    """(dataset to score, description of what it holds, ids of its recordings, data root used)."""
    if speakers is not None and dataset != "fsdd":
        raise ConfigError("--speakers selects Free Spoken Digits speakers; use --split for shd and nmnist")
    if dataset == "fsdd":
        from neuro.datasets import SpikingFSDD

        enc = rec["encoding"] if rec else {**ENCODING, "encoder": encoder_settings()}
        full = SpikingFSDD(root, speakers=speakers, encoder=recorded_encoder(enc["encoder"]))
        if speakers is not None:
            idx = list(range(len(full)))
        elif rec is not None:
            files = _recorded(rec, split, path)["files"]
            where = {f.name: i for i, (f, _, _) in enumerate(full.audio.items)}
            missing = [f for f in files if f not in where]
            if missing:
                raise DataError(f"{len(missing)} of the {len(files)} recordings of the checkpoint's {split} split are "
                                f"missing under {full.audio.root} (e.g. {missing[0]}); point --root at the data the "
                                "model was trained with")
            idx = [where[f] for f in files]
        else:
            raise ConfigError(f"{path} records no fsdd data split, so neuro cannot tell which speakers were held out; "
                              "pass --speakers with speakers the model was not trained on")
        data = _Frames(full, idx, _transform(enc))
        desc = data.describe()
        return data, desc, set(desc["files"]), full.audio.root
    if dataset == "shd":
        from neuro.datasets import SHD

        enc = rec["encoding"] if rec else ENCODING
        if rec is not None:
            s = _recorded(rec, split, path)
            part = {name.removesuffix(".zip"): key for key, (name, _) in SHD.FILES.items()}.get(s.get("source"))
            if part is None:
                raise DataError(f"{path}: unknown SHD file {s.get('source')!r} in the checkpoint's {split} split")
            base = SHD(root, part)
            if s["indices"] and max(s["indices"]) >= len(base):
                raise DataError(f"{base.file.path} holds {len(base)} samples but the checkpoint's {split} split uses "
                                f"sample {max(s['indices'])}: not the file the model was trained with")
            idx = s["indices"]
        elif split == "test":
            base = SHD(root, "test")
            idx = list(range(len(base)))
        else:
            raise ConfigError(f"{path} records no shd data split; only --split test (the SHD test file) can be scored")
        data = _Frames(base, idx, _transform(enc))
        desc = data.describe()
        return data, desc, _item_ids(desc), base.root
    from neuro.datasets import NMNIST, nmnist_frames
    from neuro.errors import DatasetNotFoundError

    if rec is None:
        raise ConfigError(f"{path} records no N-MNIST data split, so neuro cannot tell which recordings it was "
                          "trained on; retrain with neuro demo, which records a held-out test split")
    try:
        folder = NMNIST(root).folder
    except DatasetNotFoundError:
        raise ConfigError(f"no N-MNIST Train/ folder under {root}; pass --root with the data the model was trained "
                          "with" if root is not None else "no N-MNIST folder found; pass --root") from None
    files = _recorded(rec, split, path)["files"]
    enc = rec["encoding"]
    x, y = nmnist_frames(root, int(enc["n_bins"]), int(enc["duration_us"]), files=files)
    return torch.utils.data.TensorDataset(x, y), {"count": len(files), "files": files}, set(files), folder.parent


def evaluate_checkpoint(path, dataset: str | None = None, root=None, speakers=None, backend: str | None = None,
                        split: str = "test", quantization: str = "netx") -> dict[str, Any]:
    """Accuracy of a saved model on the held-out data its checkpoint records.

    ``dataset`` defaults to the recorded one; ``split`` picks the recorded ``train``, ``validation`` or
    ``test`` (default) recordings, and ``speakers`` (FSDD) scores those speakers' recordings instead.
    ``root`` replaces the recorded data folder (it must exist and hold data).  Scoring data that
    overlaps the recorded training data is refused unless asked for (``split="train"`` or ``speakers``);
    the result says what was scored and how much of it the model was trained on.  With
    ``backend="loihi"`` the model is quantized with ``quantization`` (``"netx"``: what ``neuro
    export --to loihi`` deploys by default; ``"fine"``: the finer grid).
    """
    from neuro.models import load_checkpoint
    from neuro.models.delay_snn import softmax_sum_readout
    from neuro.neurons import SpikingNeuron

    model, ckpt = load_checkpoint(path)
    loihi, xylo = backend == "loihi", backend == "xylo"
    if backend == "lava":
        raise ConfigError("neuro eval runs the float model or the loihi fixed-point simulator (--backend loihi, "
                          "bit-exact with Lava); run a deployment file in Lava with the lava backend instead")
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if backend is not None and not (loihi or xylo):
        for m in model.modules():
            if isinstance(m, SpikingNeuron):
                m.backend = backend
    model.eval()
    rec = ckpt.get("data") if isinstance(ckpt.get("data"), dict) else None
    if dataset is None:
        dataset = rec.get("dataset") if rec else None
        if dataset not in _TAKES:
            raise ConfigError(f"{path} records no dataset that neuro eval scores ({dataset!r}); pass --dataset")
    takes = _TAKES[dataset]
    if ckpt["model_name"] not in takes:
        raise ConfigError(f"{path} holds a {ckpt['model_name']!r} model, which does not take {dataset} input "
                          f"(a {' or '.join(map(repr, takes))} model does)")
    if rec is not None and rec.get("dataset") != dataset:
        rec = None  # trained on other data: nothing recorded about this dataset, and nothing overlaps
    if root is not None:
        root = check_root(root)
    elif rec is not None and rec.get("root") and Path(rec["root"]).is_dir():
        root = Path(rec["root"])
    data, desc, ids, used_root = _eval_data(path, dataset, rec, root, speakers, split)
    if len(data) == 0:
        raise DataError(f"{path}: the {split} split holds no recordings; nothing to score")
    overlap = len(ids & _item_ids(_recorded(rec, "train", path))) if rec is not None else None
    if overlap and speakers is None and split != "train":
        raise ConfigError(f"{path}: the recorded {split} split shares {overlap} recordings with the training data, "
                          "so its score would not be held-out; pass --split train to score training data on purpose")
    readout = softmax_sum_readout if dataset in ("fsdd", "shd") else (lambda v: v.mean(0))
    loader = torch.utils.data.DataLoader(data, batch_size=64, collate_fn=_collate)
    correct = n = q_correct = agree = clamped = 0
    report = xylo_net = None
    with torch.no_grad():
        for x, y in loader:
            pred = readout(model(x)).argmax(-1)
            correct += int((pred == y).sum())
            n += len(y)
            if loihi:
                from neuro.hardware.loihi import evaluate_loihi

                # inputs are binned spike counts: graded first-layer messages; any clipping is reported
                r = evaluate_loihi(model, x, clip=True, num_message_bits=8, quantization=quantization)
                q_pred = readout(torch.as_tensor(r["output"]).float()).argmax(-1)
                q_correct += int((q_pred == y).sum())
                agree += int((q_pred == pred).sum())
                report = r["report"]
            elif xylo:
                from neuro.hardware.xylo import evaluate_xylo
                from neuro.hardware.xylo import quantize as quantize_xylo

                if xylo_net is None:  # quantized once, with what does not fit clipped and reported
                    xylo_net, report = quantize_xylo(model, clip=True, dt=ckpt.get("dt") or 1e-3)
                r = evaluate_xylo(model, x, network=xylo_net)
                q_pred = readout(r["output"]).argmax(-1)
                q_correct += int((q_pred == y).sum())
                agree += int((q_pred == pred).sum())
                clamped += r["clamped_inputs"]
    out = {"accuracy": correct / n if n else 0.0, "samples": n, "dataset": dataset,
           "root": str(Path(used_root).resolve()), "split": "speakers" if speakers is not None else split,
           "speakers": desc.get("speakers"), "source": desc.get("source"), "overlaps_training": overlap,
           "checkpoint": str(path), "model": ckpt["model_name"], "backend": backend or "auto"}
    if loihi or xylo:
        out.update({"accuracy": q_correct / n, "float_accuracy": correct / n, "agreement_with_float": agree / n,
                    "quantization_scheme": quantization if loihi else "xylo",
                    "quantization": report.to_dict() if report is not None else None})
    if xylo:
        out["inputs_capped_at_15"] = clamped
    return out
