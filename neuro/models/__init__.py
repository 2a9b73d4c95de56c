"""Complete networks, each registered by name so checkpoints can rebuild them."""

from neuro.models.registry import build_model, load_checkpoint, register_model, save_atomic

__all__ = ["build_model", "load_checkpoint", "register_model", "save_atomic"]
