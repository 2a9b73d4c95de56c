"""Complete networks, each registered by name so checkpoints can rebuild them."""

from neuro.models.registry import (
    build_model,
    load_checkpoint,
    read_checkpoint,
    register_model,
    save_atomic,
    save_checkpoint,
)

__all__ = ["DelaySNN", "LiquidStateMachine", "build_model", "load_checkpoint", "read_checkpoint", "register_model",
           "save_atomic", "save_checkpoint"]

# model classes load on first use: importing them pulls in numba, which plain checkpoint I/O does not need
_LAZY = {"DelaySNN": "neuro.models.delay_snn", "LiquidStateMachine": "neuro.models.lsm"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neuro.models' has no attribute {name!r}")
