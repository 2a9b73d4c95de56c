"""Training and evaluating the delay model on SHD and spiking Free Spoken Digits."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuro.errors import ConfigError


def frames_transform(n_channels: int = 700, factor: int = 5, bin_us: int = 10_000):
    """SHD preprocessing: 700 channels summed by 5 into 140, 10 ms bins from t = 0."""
    from neuro.datasets import Compose, Downsample, ToFrame

    return Compose([Downsample(channel_factor=factor), ToFrame((n_channels // factor, 1, 1), time_window=bin_us,
                                                               t0="zero")])


class _Frames(torch.utils.data.Dataset):
    def __init__(self, base, indices, transform) -> None:
        self.base, self.indices, self.transform = base, list(indices), transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        ev, y = self.base[self.indices[k]]
        return torch.from_numpy(self.transform(ev)), y

    def longest(self) -> int:
        """The most time steps of any sample (one pass over the data)."""
        return max((self[k][0].shape[0] for k in range(len(self))), default=0)


def _collate(batch):
    from neuro.datasets import pad_time_major

    x, y, _ = pad_time_major(batch)
    return x, y


def load_splits(dataset: str, root, test_speakers: list[str] | None = None, seed: int = 0, download: bool = False):
    """(train, validation, test, n_classes): validation is carved out of the training data."""
    tf = frames_transform()
    g = np.random.default_rng(seed)
    if dataset == "fsdd":
        from neuro.datasets import SpikingFSDD

        full = SpikingFSDD(root)
        test_speakers = test_speakers or ["yweweler"]
        unknown = set(test_speakers) - set(full.speakers)
        if unknown:
            raise ConfigError(f"unknown FSDD speakers {sorted(unknown)}; available: {sorted(set(full.speakers))}")
        test_idx = [i for i, s in enumerate(full.speakers) if s in test_speakers]
        rest = np.array([i for i, s in enumerate(full.speakers) if s not in test_speakers])
        g.shuffle(rest)
        n_val = len(rest) // 10
        return (_Frames(full, rest[n_val:], tf), _Frames(full, rest[:n_val], tf), _Frames(full, test_idx, tf), 10)
    if dataset == "shd":
        from neuro.datasets import SHD

        train, test = SHD(root, "train", download=download), SHD(root, "test", download=download)
        idx = np.arange(len(train))
        g.shuffle(idx)
        n_val = len(idx) // 10
        return (_Frames(train, idx[n_val:], tf), _Frames(train, idx[:n_val], tf),
                _Frames(test, range(len(test)), tf), 20)
    raise ConfigError(f"unknown dataset {dataset!r}; expected shd or fsdd")


def train_delay_model(dataset: str, args) -> dict[str, Any]:
    """Train ``delay_snn`` with the paper's recipe (two optimizers, sigma schedule); select on validation."""
    from neuro.layers.delay import sigma_schedule
    from neuro.models import build_model
    from neuro.models.delay_snn import softmax_sum_readout
    from neuro.training import TrainConfig, Trainer, seed_everything

    seed_everything(args.seed)
    train, val, test, n_out = load_splits(dataset, args.root, getattr(args, "test_speakers", None), args.seed,
                                          getattr(args, "download", False))
    # the readout sums over a fixed horizon: the longest training sample (see DelaySNN's docstring)
    config = {"n_in": 140, "hidden": args.hidden, "n_out": n_out, "max_delay": args.max_delay, "mode": args.mode,
              "input_length": max(train.longest(), val.longest())}
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
                      progress=not args.json, resume=True)
    t0 = time.perf_counter()
    trainer = Trainer(model, train, val, cfg, model_name="delay_snn", model_config=config, optimizers=optimizers,
                      schedulers=schedulers, readout=softmax_sum_readout, collate_fn=_collate,
                      on_epoch_start=on_epoch)
    trainer.fit()
    best = torch.load(Path(out) / "best.ckpt", weights_only=False)
    model.load_state_dict(best["state_dict"])
    test_metrics = trainer.evaluate(test)
    summary = {"dataset": dataset, "mode": args.mode, "epochs": epochs, "config": config,
               "samples": {"train": len(train), "validation": len(val), "test": len(test)},
               "best": trainer.best, "test_accuracy": test_metrics["val_accuracy"],
               "seconds": time.perf_counter() - t0}
    (Path(out) / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_delays(model, Path(out) / "delays.png")
    return summary


def plot_delays(model, path: Path) -> None:
    """Histogram of the learned (integer) delays of every layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = model.delay_layers()
    fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3))
    for k, (ax, m) in enumerate(zip(np.atleast_1d(axes), layers, strict=True)):
        ax.hist(m.integer_delays().flatten().numpy(), bins=np.arange(m.max_delay + 2) - 0.5)
        ax.set_title(f"layer {k + 1}")
        ax.set_xlabel("delay (steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def evaluate_checkpoint(path, dataset: str, root=None, speakers=None, backend: str | None = None) -> dict[str, Any]:
    """Accuracy of a saved model on a dataset's test data."""
    from neuro.models import load_checkpoint
    from neuro.models.delay_snn import softmax_sum_readout
    from neuro.neurons import SpikingNeuron

    model, ckpt = load_checkpoint(path)
    loihi = backend == "loihi"
    if backend == "lava":
        raise ConfigError("neuro eval runs the float model or the loihi fixed-point simulator (--backend loihi, "
                          "bit-exact with Lava); run a deployment file in Lava with the lava backend instead")
    if backend is not None and not loihi:
        for m in model.modules():
            if isinstance(m, SpikingNeuron):
                m.backend = backend
    model.eval()
    takes = {"fsdd": "delay_snn", "shd": "delay_snn", "nmnist": "conv_snn"}[dataset]
    if ckpt["model_name"] != takes:
        raise ConfigError(f"{path} holds a {ckpt['model_name']!r} model, which does not take {dataset} input "
                          f"(a {takes!r} model does)")
    if dataset in ("fsdd", "shd"):
        if dataset == "fsdd":
            from neuro.datasets import SpikingFSDD

            full = SpikingFSDD(root, speakers=speakers)
            data = _Frames(full, range(len(full)), frames_transform())
        else:
            data = load_splits("shd", root)[2]
        readout = softmax_sum_readout
    else:
        from neuro.datasets import nmnist_frames

        x, y = nmnist_frames(root, 10)
        data = torch.utils.data.TensorDataset(x, y)
        readout = lambda v: v.mean(0)  # noqa: E731
    loader = torch.utils.data.DataLoader(data, batch_size=64, collate_fn=_collate)
    correct = n = q_correct = agree = 0
    report = None
    with torch.no_grad():
        for x, y in loader:
            pred = readout(model(x)).argmax(-1)
            correct += int((pred == y).sum())
            n += len(y)
            if loihi:
                from neuro.hardware.loihi import evaluate_loihi

                # inputs are binned spike counts: graded first-layer messages; any clipping is reported
                r = evaluate_loihi(model, x, clip=True, num_message_bits=8)
                q_pred = readout(torch.as_tensor(r["output"]).float()).argmax(-1)
                q_correct += int((q_pred == y).sum())
                agree += int((q_pred == pred).sum())
                report = r["report"]
    out = {"accuracy": correct / n, "samples": n, "dataset": dataset, "checkpoint": str(path),
           "model": ckpt["model_name"], "backend": backend or "auto"}
    if loihi:
        out.update({"accuracy": q_correct / n, "float_accuracy": correct / n, "agreement_with_float": agree / n,
                    "quantization": getattr(report, "as_dict", lambda: str(report))()})
    return out
