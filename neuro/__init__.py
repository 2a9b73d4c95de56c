"""neuro: spiking neural networks on PyTorch, fused kernels, and Loihi-exact fixed point."""

from __future__ import annotations

__version__ = "0.1.0"

from neuro.backends import available_backends, set_backend  # noqa: E402
from neuro.core.spec import State  # noqa: E402
from neuro.neurons import ALIF, IF, LI, LIF, CubaLIF, SpikingNeuron, TwoPointLIF, TwoPointRate, set_checks  # noqa: E402

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "CubaLIF",
    "SpikingNeuron",
    "State",
    "TwoPointLIF",
    "TwoPointRate",
    "available_backends",
    "set_backend",
    "set_checks",
    "__version__",
]
