"""Named model builders, so that a checkpoint can rebuild the model it was saved from."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuro.errors import ConfigError, DataError

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


def save_atomic(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file, then rename: never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(
    path: str | os.PathLike[str], expect_model: str | None = None, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved in a checkpoint; returns ``(model, checkpoint dict)``.

    Raises a clear error when the file is not a neuro checkpoint or holds another model.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        raise DataError(f"{path} is not a readable checkpoint ({e.__class__.__name__}: {e})") from None
    if not isinstance(ckpt, dict) or "model_name" not in ckpt or "state_dict" not in ckpt:
        raise DataError(f"{path} is not a neuro checkpoint (no model_name/state_dict); was it written by neuro train?")
    if expect_model is not None and ckpt["model_name"] != expect_model:
        raise ConfigError(f"{path} holds a {ckpt['model_name']!r} model, expected {expect_model!r}")
    model = build_model(ckpt["model_name"], **ckpt.get("model_config", {}))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise ConfigError(f"{path}: weights do not fit model {ckpt['model_name']!r}: {e}") from None
    return model, ckpt
