"""Named model builders, so that a checkpoint can rebuild the model it was saved from."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuro.errors import ConfigError, DataError
from neuro.serialization import digest, from_plain, load_data, save_atomic, to_plain

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register ``builder(**config) -> nn.Module`` under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS and _BUILDERS[name] is not fn:
            raise ConfigError(f"model name {name!r} registered twice")
        _BUILDERS[name] = fn
        return fn

    return deco


def build_model(name: str, **config: Any) -> nn.Module:
    """Build the registered model ``name`` with ``config`` (importing neuro.models registers the built-in ones)."""
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(sorted(_BUILDERS)) or 'none'}")
    return _BUILDERS[name](**config)


CHECKSUM_KEY = "checksum"


def save_checkpoint(ckpt: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``ckpt`` as data only (see :mod:`neuro.serialization`) with a SHA-256 checksum of its
    content under ``"checksum"``, atomically.  The one writer of neuro checkpoints."""
    plain = to_plain({k: v for k, v in ckpt.items() if k != CHECKSUM_KEY})
    plain[CHECKSUM_KEY] = "sha256:" + digest(plain)
    save_atomic(plain, path)


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`: data only, checksum verified.

    Raises DataError naming the file when it asks for code, is not a checkpoint, has no checksum
    (an older or foreign file: refused, since nothing vouches for its content) or does not match it.
    """
    path = Path(path)
    raw = load_data(path, map_location, "checkpoint")
    if not isinstance(raw, dict):
        raise DataError(f"{path} is not a neuro checkpoint (it holds a {type(raw).__name__}, not a dict)")
    stored = raw.pop(CHECKSUM_KEY, None)
    if stored is None:
        raise DataError(f"{path} has no checksum, so its content cannot be verified: it was written by an older "
                        "neuro or by other code than neuro.models.save_checkpoint; retrain, or re-save it with "
                        "save_checkpoint where you trust the file (see the checkpoint documentation)")
    if not isinstance(stored, str) or not stored.startswith("sha256:") or digest(raw) != stored[len("sha256:"):]:
        raise DataError(f"{path} is corrupt or was modified after it was written: its content does not match its "
                        "sha256 checksum; do not use it (retrain or restore the file)")
    try:
        return from_plain(raw)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None


def load_checkpoint(
    path: str | os.PathLike[str], expect_model: str | None = None, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved in a checkpoint; returns ``(model, checkpoint dict)``.

    Raises a clear error when the file is not a neuro checkpoint, fails its checksum or holds another model.
    """
    path = Path(path)
    ckpt = read_checkpoint(path, map_location)
    if "model_name" not in ckpt or "state_dict" not in ckpt:
        raise DataError(f"{path} is not a neuro checkpoint (no model_name/state_dict); was it written by neuro train?")
    if expect_model is not None and ckpt["model_name"] != expect_model:
        raise ConfigError(f"{path} holds a {ckpt['model_name']!r} model, expected {expect_model!r}")
    model = build_model(ckpt["model_name"], **ckpt.get("model_config", {}))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise ConfigError(f"{path}: weights do not fit model {ckpt['model_name']!r}: {e}") from None
    return model, ckpt
