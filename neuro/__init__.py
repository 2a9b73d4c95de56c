"""neuro: spiking neural networks on PyTorch, fused kernels, and Loihi-exact fixed point."""

from __future__ import annotations

__version__ = "0.1.0"
