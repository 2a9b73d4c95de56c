"""One training loop for every example and command.

:class:`Trainer` runs epochs with a progress bar, computes metrics, validates, keeps the best
model by validation accuracy, writes checkpoints (``last.ckpt``, ``best.ckpt``) that hold
everything needed to resume (model, optimizers, schedulers, epoch, history, RNG states), writes
``history.json`` and a learning-curve PNG, seeds everything, picks the device, uses mixed
precision on CUDA when asked, and trains data-parallel through ``torch.distributed`` when
launched with ``torchrun`` (one process per GPU or CPU worker; gloo on CPU, nccl on CUDA).

Batches are ``(x, y)`` with ``x`` time-major ``[T, B, ...]``; the model returns ``[T, B, C]``
and ``readout`` (default: mean over time) turns it into logits ``[B, C]``.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from neuro.datasets.collate import as_label, as_sample_tensor
from neuro.errors import ConfigError
from neuro.models.registry import read_checkpoint, save_checkpoint
from neuro.serialization import digest, to_plain

_COMPILE_ANNOUNCED = False  # the numba compile notice is printed once per process


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> the local CUDA device when available, else CPU; otherwise ``torch.device(device)``."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device; use --device cpu")
    return dev


def time_major_collate(batch: Sequence[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack per-sample ``[T, ...]`` tensors into ``[T, B, ...]`` (zero-padded to the longest T).

    Samples may be numpy arrays of any numeric dtype (tonic's frames are int16): integer and boolean
    data become float32, float data keep their dtype; labels must be class numbers."""
    xs = [as_sample_tensor(b[0], k) for k, b in enumerate(batch)]
    T = max(x.shape[0] for x in xs)
    out = xs[0].new_zeros((T, len(xs), *xs[0].shape[1:]))
    for k, x in enumerate(xs):
        out[: x.shape[0], k] = x
    ys = torch.as_tensor([as_label(b[1], k) for k, b in enumerate(batch)])
    return out, ys


def mean_over_time(y: torch.Tensor) -> torch.Tensor:
    """Default readout: ``[T, B, C] -> [B, C]``."""
    return y.mean(0)


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    device: str = "auto"
    seed: int = 0
    amp: bool = False
    grad_clip: float | None = None
    out_dir: str | None = None
    resume: bool = True
    progress: bool = True
    num_workers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Train ``model`` on ``train_data``, validate on ``val_data``, checkpoint into ``config.out_dir``.

    Args:
        model: module mapping ``[T, B, ...]`` to ``[T, B, C]`` (or ``[B, C]`` with ``readout=None``).
        train_data, val_data: datasets (or ready DataLoaders) of ``(x [T, ...], label)``.
        config: :class:`TrainConfig`.
        model_name, model_config: saved in checkpoints so :func:`neuro.models.load_checkpoint`
            can rebuild the model.
        optimizers: ``fn(model) -> list of optimizers`` (default: one Adam over all parameters).
        schedulers: ``fn(optimizers, config) -> list of LR schedulers`` stepped once per epoch.
        loss_fn: ``fn(output, readout(output), y) -> loss`` (default: cross entropy on the logits).
        readout: ``[T, B, C] -> [B, C]`` (default: mean over time); ``None`` if the model returns logits.
        on_epoch_start: ``fn(trainer, epoch)`` hook (e.g. a sigma schedule for learnable delays).
        metadata: extra top-level checkpoint entries describing the run (e.g. ``"data"``: which
            recordings were training, validation and test; ``"dt"``: seconds per time step).
            Resuming from a checkpoint whose entries differ is refused.
    """

    def __init__(
        self,
        model: nn.Module,
        train_data: Dataset | DataLoader,
        val_data: Dataset | DataLoader | None = None,
        config: TrainConfig | None = None,
        *,
        model_name: str | None = None,
        model_config: dict[str, Any] | None = None,
        optimizers: Callable[[nn.Module], list[torch.optim.Optimizer]] | None = None,
        schedulers: Callable[[list[torch.optim.Optimizer], TrainConfig], list[Any]] | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        readout: Callable[[torch.Tensor], torch.Tensor] | None = mean_over_time,
        collate_fn: Callable[..., Any] = time_major_collate,
        on_epoch_start: Callable[[Trainer, int], None] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.config = config or TrainConfig()
        cfg = self.config
        seed_everything(cfg.seed)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
            torch.distributed.init_process_group(backend)
        self.rank = torch.distributed.get_rank() if self.distributed else 0
        self.world = torch.distributed.get_world_size() if self.distributed else 1
        self.device = pick_device(cfg.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.model = model.to(self.device)
        self.net: nn.Module = self.model
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.model_name = model_name
        self.model_config = model_config or {}
        self.metadata = dict(metadata or {})
        clash = set(self.metadata) & set(self._CORE_KEYS)
        if clash:
            raise ConfigError(f"metadata keys {sorted(clash)} are reserved for the trainer's own checkpoint entries")
        self.optimizers = (
            optimizers(self.model)
            if optimizers
            else [torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)]
        )
        self.schedulers = schedulers(self.optimizers, cfg) if schedulers else []
        self.loss_fn = loss_fn or (lambda out, logits, y: nn.functional.cross_entropy(logits, y))
        self.readout = readout
        self.on_epoch_start = on_epoch_start
        self.collate_fn = collate_fn
        self.train_loader = self._loader(train_data, shuffle=True)
        self.val_loader = self._loader(val_data, shuffle=False) if val_data is not None else None
        self.use_amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.best: dict[str, float] = {"val_accuracy": -math.inf, "epoch": -1}
        self.out_dir = Path(cfg.out_dir) if cfg.out_dir else None
        if self.out_dir and cfg.resume and (self.out_dir / "last.ckpt").exists():
            self.load(self.out_dir / "last.ckpt")

    # ------------------------------------------------------------------ data
    def _loader(self, data: Dataset | DataLoader, shuffle: bool) -> DataLoader:
        if isinstance(data, DataLoader):
            return data
        sampler = None
        if self.distributed:
            sampler = torch.utils.data.distributed.DistributedSampler(data, shuffle=shuffle, seed=self.config.seed)
        g = torch.Generator()
        g.manual_seed(self.config.seed)
        if shuffle:
            self._shuffle_gen = g  # reseeded every epoch, so a resumed run sees the same order
        return DataLoader(
            data,
            batch_size=self.config.batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=self.config.num_workers,
            generator=g,
        )

    # ------------------------------------------------------------------ steps
    def _forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(self.device.type, enabled=self.use_amp):
            out = self.net(x)
            logits = self.readout(out) if self.readout else out
            loss = self.loss_fn(out, logits, y)
        return loss, logits

    def train_epoch(self) -> dict[str, float]:
        self.net.train()
        sampler = getattr(self.train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)  # type: ignore[union-attr]
        if getattr(self, "_shuffle_gen", None) is not None:
            self._shuffle_gen.manual_seed(self.config.seed * 100003 + self.epoch)
        tot_loss, correct, count = 0.0, 0, 0
        self._announce_compile()
        for x, y in self._progress(self.train_loader, f"epoch {self.epoch + 1}/{self.config.epochs}"):
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            loss, logits = self._forward(x, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {self.epoch + 1}; lower the learning rate"
                )
            self.scaler.scale(loss).backward()
            if self.config.grad_clip:
                for opt in self.optimizers:
                    self.scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            for opt in self.optimizers:
                self.scaler.step(opt)
            self.scaler.update()
            if hasattr(self.model, "after_step"):
                self.model.after_step()  # e.g. clamp delay positions into range
            tot_loss += loss.item() * y.shape[0]
            correct += int((logits.argmax(-1) == y).sum())
            count += y.shape[0]
        for s in self.schedulers:
            s.step()
        return self._reduce({"loss": tot_loss, "correct": correct, "count": count}, "train")

    @torch.no_grad()
    def evaluate(self, loader: DataLoader | Dataset | None = None) -> dict[str, float]:
        """Loss and accuracy on ``loader`` (default: the validation data)."""
        if loader is None:
            loader = self.val_loader
        elif not isinstance(loader, DataLoader):
            loader = self._loader(loader, shuffle=False)
        if loader is None:
            return {}
        self.net.eval()
        tot_loss, correct, count = 0.0, 0, 0
        for x, y in loader:
            x, y = x.to(self.device), y.to(self.device)
            loss, logits = self._forward(x, y)
            tot_loss += loss.item() * y.shape[0]
            correct += int((logits.argmax(-1) == y).sum())
            count += y.shape[0]
        return self._reduce({"loss": tot_loss, "correct": correct, "count": count}, "val")

    def _reduce(self, sums: dict[str, float], prefix: str) -> dict[str, float]:
        if self.distributed:
            t = torch.tensor([sums["loss"], sums["correct"], sums["count"]], dtype=torch.float64, device=self.device)
            torch.distributed.all_reduce(t)
            sums = {"loss": t[0].item(), "correct": t[1].item(), "count": t[2].item()}
        n = max(sums["count"], 1)
        return {f"{prefix}_loss": sums["loss"] / n, f"{prefix}_accuracy": sums["correct"] / n}

    def fit(self) -> list[dict[str, float]]:
        """Train until ``config.epochs`` (continuing a resumed run); returns the history."""
        while self.epoch < self.config.epochs:
            if self.on_epoch_start:
                self.on_epoch_start(self, self.epoch)
            t0 = time.perf_counter()
            row = {"epoch": self.epoch + 1, **self.train_epoch(), **self.evaluate()}
            row["seconds"] = time.perf_counter() - t0
            self.history.append(row)
            self.epoch += 1
            improved = row.get("val_accuracy", row["train_accuracy"]) > self.best["val_accuracy"]
            if improved:
                self.best = {"val_accuracy": row.get("val_accuracy", row["train_accuracy"]), "epoch": self.epoch}
            if self.rank == 0:
                self._log(row)
                if self.out_dir:
                    self.save(self.out_dir / "last.ckpt")
                    if improved:
                        self.save(self.out_dir / "best.ckpt")
                    self.write_history()
        if self.distributed:  # rank 0's checkpoints are on disk before any rank reads them back
            torch.distributed.barrier()
        return self.history

    # ------------------------------------------------------------------ persistence
    _CORE_KEYS = ("model_name", "model_config", "state_dict", "optimizers", "schedulers", "scaler", "epoch",
                  "history", "best", "train_config", "rng", "checksum")

    def state(self) -> dict[str, Any]:
        """Everything a checkpoint holds: the run's metadata, the model and what resuming needs."""
        return {
            **self.metadata,
            "model_name": self.model_name,
            "model_config": self.model_config,
            "state_dict": self.model.state_dict(),
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "history": self.history,
            "best": self.best,
            "train_config": asdict(self.config),
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
            },
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`state` with :func:`neuro.models.save_checkpoint` (data only, checksummed)."""
        save_checkpoint(self.state(), path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Resume from a checkpoint written by :meth:`save` (read as data only, checksum verified)."""
        ckpt = read_checkpoint(path, map_location=self.device)
        if self.model_name is not None and ckpt.get("model_name") not in (None, self.model_name):
            raise ConfigError(f"{path} holds a {ckpt.get('model_name')!r} model, not {self.model_name!r}")
        differ = sorted(k for k in self.metadata
                        if k in ckpt and digest(to_plain(ckpt[k])) != digest(to_plain(self.metadata[k])))
        if differ:
            raise ConfigError(f"{path} was written by a run with other {', '.join(differ)} (e.g. another data split); "
                              "resuming would mix the two runs: use another output folder, or delete it to start over")
        self.model.load_state_dict(ckpt["state_dict"])
        for o, s in zip(self.optimizers, ckpt["optimizers"], strict=True):
            o.load_state_dict(s)
        for o, s in zip(self.schedulers, ckpt["schedulers"], strict=True):
            o.load_state_dict(s)
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = ckpt["epoch"]
        self.history = ckpt["history"]
        self.best = ckpt["best"]
        rng = ckpt["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"].cpu())

    def write_history(self) -> None:
        """``history.json`` and ``curves.png`` (loss and accuracy per epoch) in ``out_dir``."""
        assert self.out_dir is not None
        (self.out_dir / "history.json").write_text(json.dumps({"history": self.history, "best": self.best}, indent=2))
        plot_history(self.history, self.out_dir / "curves.png")

    # ------------------------------------------------------------------ output
    def _progress(self, it: Iterable[Any], desc: str) -> Iterable[Any]:
        if not self.config.progress or self.rank != 0:
            return it
        from tqdm.auto import tqdm

        return tqdm(it, desc=desc, leave=False, dynamic_ncols=True)

    def _announce_compile(self) -> None:
        """Say, once per process, that the first batch on CPU compiles the numba kernels (tens of seconds
        with no progress otherwise)."""
        global _COMPILE_ANNOUNCED
        if _COMPILE_ANNOUNCED or not self.config.progress or self.rank != 0 or self.device.type != "cpu":
            return
        from neuro.backends import resolve_backend
        from neuro.neurons import SpikingNeuron

        if not any(isinstance(m, SpikingNeuron) and resolve_backend(m.backend, self.device).name == "cpu"
                   for m in self.model.modules()):
            return
        _COMPILE_ANNOUNCED = True
        print("first batch: compiling the fused CPU kernels (numba) for this model; this can take up to a minute, "
              "once per process", flush=True)

    def _log(self, row: dict[str, float]) -> None:
        if not self.config.progress:
            return
        parts = [f"epoch {int(row['epoch'])}"] + [
            f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds")
        ]
        print(" | ".join(parts) + f" | {row['seconds']:.1f}s", flush=True)


def output_files(out, *plots: str) -> dict[str, str]:
    """Where a training run writes: checkpoints, history, summary and plots (``plots``: extra PNG names)."""
    o = Path(out)
    names = {"best_checkpoint": "best.ckpt", "last_checkpoint": "last.ckpt", "history": "history.json",
             "summary": "summary.json", "curves": "curves.png"} | {Path(p).stem: p for p in plots}
    return {k: str(o / v) for k, v in names.items()}


def plot_history(history: list[dict[str, float]], path: str | os.PathLike[str], test_accuracy: float | None = None,
                 best_epoch: int | None = None) -> None:
    """Save :func:`history_figure` as a PNG (nothing when the history is empty)."""
    if not history:
        return
    import matplotlib.pyplot as plt

    fig = history_figure(history, test_accuracy, best_epoch)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def history_figure(history: list[dict[str, float]], test_accuracy: float | None = None,
                   best_epoch: int | None = None):  # noqa: ANN201 - a matplotlib Figure
    """Loss and accuracy curves per epoch (whole-number epochs on the x axis).

    ``test_accuracy`` (of the model kept at ``best_epoch``, default the last epoch) is drawn as a
    marker on the accuracy panel, with its value in the legend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ep = [int(h["epoch"]) for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, ax in (("loss", a1), ("accuracy", a2)):
        for split, label in (("train", "train"), ("val", "validation")):
            k = f"{split}_{key}"
            if k in history[0]:
                ax.plot(ep, [h[k] for h in history], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(ep[0] - 0.5, ep[-1] + 0.5)
        ax.grid(alpha=0.3)
    if test_accuracy is not None:
        at = ep[-1] if best_epoch is None or best_epoch < 1 else int(best_epoch)
        a2.plot([at], [test_accuracy], marker="*", ms=14, ls="", color="tab:red",
                label=f"test {test_accuracy:.3f} (model of epoch {at})")
    for ax in (a1, a2):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
