"""The accuracy-matrix plot of continual-learning runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuro.errors import ConfigError
from neuro.learning.continual.tasks import acc_bwt


def plot_accuracy_matrix(results: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """Save one heat map per method of ``A[i, j]`` (rows: after task i; columns: task j) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mats = {k: np.asarray(v) for k, v in results.items() if np.asarray(v).ndim == 2}
    if not mats:
        raise ConfigError("plot_accuracy_matrix needs at least one square accuracy matrix")
    fig, axes = plt.subplots(1, len(mats), figsize=(3.6 * len(mats), 3.6), squeeze=False)
    for ax, (name, a) in zip(axes[0], mats.items(), strict=True):
        n = a.shape[0]
        im = ax.imshow(np.where(np.tril(np.ones_like(a)) > 0, a, np.nan), vmin=0, vmax=100, cmap="viridis")
        acc, bwt = acc_bwt(a)
        ax.set_title(f"{name}\nACC {acc:.1f}  BWT {bwt:+.1f}", fontsize=9)
        ax.set_xlabel("evaluated task")
        ax.set_ylabel("after training task")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        if n <= 10:
            for i in range(n):
                for j in range(i + 1):
                    ax.text(j, i, f"{a[i, j]:.0f}", ha="center", va="center", fontsize=6, color="k")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="test accuracy (%)")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
