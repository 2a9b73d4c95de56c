"""The README demo: train a small convolutional SNN on real N-MNIST recordings.

Reads the 1,000-recording N-MNIST subset in its official layout (``Train/<digit>/<n>.bin``)
from the data directory when it is there, and otherwise generates event recordings of moving
bars (one orientation per class) so that the demo always trains on something real to the
model: events binned into frames.  The recordings are split 80/10/10 into training, validation
and held-out test data (seeded); the checkpoints record which files each split holds and how
they were binned (``"data"``, ``"dt"``), so ``neuro eval`` scores the same held-out files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

SIZE = 34
DURATION_US = 300_000  # each N-MNIST recording is binned over its first 300 ms


def _real_frames(root: Path | None, n_bins: int, search_default: bool
                 ) -> tuple[torch.Tensor, torch.Tensor, Path, list[str]] | None:
    """N-MNIST frames, labels, their ``Train`` folder and recording names from ``root``, then
    (``search_default``) from the data directory; ``None`` when neither holds the recordings."""
    from neuro.datasets import NMNIST, nmnist_frames
    from neuro.errors import DatasetNotFoundError

    for base in ([root] if root is not None else []) + ([None] if search_default else []):
        try:
            ds = NMNIST(base)
        except DatasetNotFoundError:
            continue
        return (*nmnist_frames(base, n_bins, DURATION_US), ds.folder, ds.names)
    return None


def synthetic_events(n: int, n_bins: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Event frames of a bar moving across a 34x34 sensor, one orientation per class (10 classes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] - SIZE / 2
    frames = np.zeros((n, n_bins, 2, SIZE, SIZE), np.float32)
    for k, c in enumerate(labels):
        ang = np.pi * c / 10
        proj = xx * np.cos(ang) + yy * np.sin(ang)
        for b in range(n_bins):
            pos = -12 + 24 * b / max(n_bins - 1, 1) + rng.normal(0, 1)
            edge = np.abs(proj - pos) < 1.5
            noise = rng.random((SIZE, SIZE)) < 0.01
            frames[k, b, 0] = ((edge & (rng.random((SIZE, SIZE)) < 0.7)) | noise).astype(np.float32)
            frames[k, b, 1] = ((np.abs(proj - pos + 2) < 1.0) & (rng.random((SIZE, SIZE)) < 0.5)).astype(np.float32)
    return torch.from_numpy(frames), torch.from_numpy(labels)


def run_demo(
    root: Path | None = None,
    epochs: int = 8,
    n_bins: int = 10,
    out_dir: str = "runs/demo",
    seed: int = 0,
    progress: bool = True,
    n_synthetic: int = 1000,
    search_default: bool = True,
    device: str = "auto",
    batch_size: int = 32,
    require_data: bool = False,
) -> dict[str, Any]:
    """Train ``conv_snn`` on N-MNIST (or generated events), score the best model on the held-out test
    split, and return a JSON-able summary.

    ``require_data``: raise :class:`~neuro.errors.DatasetNotFoundError` when no N-MNIST recordings are
    found instead of training on generated events (``neuro train nmnist``).
    """
    from neuro.errors import DatasetNotFoundError
    from neuro.models import build_model, read_checkpoint
    from neuro.training import TrainConfig, Trainer, output_files, plot_history, seed_everything

    seed_everything(seed)
    t0 = time.perf_counter()
    if progress:
        print("reading and binning the N-MNIST recordings ...", flush=True)
    found = _real_frames(root, n_bins, search_default)
    if found is None and require_data:
        from neuro.config import data_root

        where = root if root is not None else data_root()
        raise DatasetNotFoundError(f"no N-MNIST recordings (Train/<digit>/*.bin) under root={where} or its "
                                   "NMNIST/ or nmnist-small/; pass --root or set NEURO_DATA_DIR")
    encoding = {"n_bins": n_bins, "duration_us": DURATION_US, "sensor": [SIZE, SIZE], "polarities": 2}
    if found is not None:
        frames, labels, train_dir, files = found
        source = f"N-MNIST recordings in {train_dir}"
        record: dict[str, Any] = {"dataset": "nmnist", "root": str(train_dir.parent.resolve()), "seed": seed,
                                  "encoding": encoding}
    else:
        files = None
        frames, labels = synthetic_events(n_synthetic, n_bins, seed)
        source = "generated moving-bar events (no N-MNIST folder found; set NEURO_DATA_DIR)"
        record = {"dataset": "generated", "root": None, "seed": seed, "n": n_synthetic, "encoding": encoding}
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = n_val = len(labels) // 10
    parts = {"test": perm[:n_test], "validation": perm[n_test:n_test + n_val], "train": perm[n_test + n_val:]}
    record["splits"] = {name: {"count": len(idx), **({"files": [files[i] for i in idx]} if files else
                                                     {"indices": idx})} for name, idx in parts.items()}
    train, val, test = (TensorDataset(frames[parts[k]], labels[parts[k]]) for k in ("train", "validation", "test"))
    config = {"in_channels": 2, "size": SIZE, "n_classes": 10}
    model = build_model("conv_snn", **config)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=2e-3, out_dir=out_dir, seed=seed,
                      progress=progress, resume=False, device=device)
    dt = DURATION_US / n_bins / 1e6  # seconds per time bin
    trainer = Trainer(model, train, val, cfg, model_name="conv_snn", model_config=config,
                      metadata={"dt": dt, "data": record})
    history = trainer.fit()
    model.load_state_dict(read_checkpoint(Path(out_dir) / "best.ckpt")["state_dict"])
    test_accuracy = trainer.evaluate(test)["val_accuracy"]
    files = output_files(out_dir)
    plot_history(history, files["curves"], test_accuracy, trainer.best["epoch"])
    summary = {
        "data": source,
        "samples": {"train": len(train), "validation": len(val), "test": len(test)},
        "time_bins": n_bins,
        "dt": dt,
        "test_accuracy": test_accuracy,
        "epochs": epochs,
        "final": history[-1],
        "best": trainer.best,
        "seconds": time.perf_counter() - t0,
        "out_dir": out_dir,
        "files": files,
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(files["summary"]).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
