"""Which kernel runs the neuron loops: the backends (:mod:`neuro.kernels`) and how one is chosen.

``torch``  the reference (any device); the definition every other backend is tested against.
``cpu``    fused numba kernels (forward and backward over time in compiled code).
``gpu``    fused Triton kernels (CUDA).

Choice, first match wins: the module's ``backend=`` argument, then :func:`set_backend` (or the
``NEURO_BACKEND`` environment variable), then automatic: ``cpu`` for CPU tensors, ``gpu`` for
CUDA tensors, ``torch`` elsewhere or when the fused one is unavailable.  Every backend runs both
point neurons (``scan``) and two-point neurons (``scan_twopoint``), see :mod:`neuro.core.spec`.
Whole quantized networks run on the hardware targets instead (:mod:`neuro.hardware.loihi`).
"""

from __future__ import annotations

import os

import torch

from neuro.core.checks import check_pending
from neuro.core.spec import Backend, NeuronSpec, State
from neuro.errors import ConfigError

__all__ = [
    "Backend",
    "NeuronSpec",
    "State",
    "available_backends",
    "check_pending",
    "get_backend",
    "set_backend",
    "resolve_backend",
    "NEURON_BACKENDS",
    "HARDWARE_TARGETS",
]

NEURON_BACKENDS = ("torch", "cpu", "gpu")
#: whole-network targets (neuro.hardware.loihi), listed by ``neuro info`` apart from the neuron backends
HARDWARE_TARGETS = ("loihi", "lava")
_instances: dict[str, Backend] = {}
_default: str | None = os.environ.get("NEURO_BACKEND") or None


def get_backend(name: str) -> Backend:
    """The backend object called ``name`` (import is lazy: numba/triton load on first use)."""
    if name in HARDWARE_TARGETS:
        raise ConfigError(f"{name!r} is not a neuron backend but a hardware target: it runs a whole quantized network "
                          "in fixed point, not one neuron layer; use neuro.hardware.loihi (quantize + simulate, or "
                          f"evaluate_loihi), or `neuro run --backend {name}` on a NIR graph; neuron backends are "
                          f"{', '.join(NEURON_BACKENDS)} or 'auto' (see `neuro info`)")
    if name not in NEURON_BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; expected one of {', '.join(NEURON_BACKENDS)} or 'auto'")
    if name not in _instances:
        if name == "torch":
            from neuro.kernels.reference import TorchBackend

            _instances[name] = TorchBackend()
        elif name == "cpu":
            from neuro.kernels.cpu import CpuBackend

            _instances[name] = CpuBackend()
        else:
            from neuro.kernels.gpu import GpuBackend

            _instances[name] = GpuBackend()
    return _instances[name]


def set_backend(name: str | None) -> None:
    """Set the global default backend (``None`` or ``"auto"`` = choose by device)."""
    global _default
    if name is not None and name != "auto":
        get_backend(name)  # validates the name
    _default = None if name == "auto" else name


def available_backends() -> dict[str, tuple[bool, str]]:
    """For each neuron backend: (usable here, reason when not)."""
    out = {}
    for name in NEURON_BACKENDS:
        try:
            out[name] = get_backend(name).available()
        except Exception as e:  # an import failure is a reason, not a crash
            out[name] = (False, str(e))
    return out


def resolve_backend(name: str | None, device: torch.device) -> Backend:
    """Pick the backend for a tensor on ``device`` (see the module docstring for the order)."""
    chosen = name if name not in (None, "auto") else _default
    if chosen is not None:
        b = get_backend(chosen)
        ok, why = b.available()
        if not ok:
            raise ConfigError(f"backend {chosen!r} is not available: {why}")
        if chosen == "cpu" and device.type != "cpu":
            raise ConfigError(f"backend 'cpu' needs CPU tensors, got {device}; use 'gpu' or 'torch'")
        interpret = os.environ.get("TRITON_INTERPRET") == "1"
        if chosen == "gpu" and device.type != "cuda" and not interpret:
            raise ConfigError(f"backend 'gpu' needs CUDA tensors, got {device}; use 'cpu' or 'torch'")
        return b
    auto = {"cpu": "cpu", "cuda": "gpu"}.get(device.type, "torch")
    b = get_backend(auto)
    return b if b.available()[0] else get_backend("torch")
