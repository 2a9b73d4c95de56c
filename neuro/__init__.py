"""neuro: spiking neural networks on PyTorch, fused kernels, and Loihi-exact fixed point.

The names below are imported on first use, so ``import neuro.datasets`` (reading event files) and
``neuro --help`` do not pay for importing torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "backends": ["available_backends", "set_backend"],
    "core.spec": ["State"],
    "neurons": ["ALIF", "IF", "LI", "LIF", "CubaLIF", "SpikingNeuron", "TwoPointLIF", "TwoPointRate", "set_checks"],
}
_MODULE_OF = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = [  # every name of _EXPORTS (a test checks)
    "ALIF", "CubaLIF", "IF", "LI", "LIF", "SpikingNeuron", "State", "TwoPointLIF", "TwoPointRate",
    "available_backends", "set_backend", "set_checks", "__version__",
]


def __getattr__(name: str) -> Any:
    mod = _MODULE_OF.get(name)
    if mod is None:
        if not name.startswith("_") and importlib.util.find_spec(f"neuro.{name}") is not None:
            return importlib.import_module(f"neuro.{name}")  # neuro.neurons etc. without importing them first
        raise AttributeError(f"module 'neuro' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"neuro.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


if TYPE_CHECKING:  # the same names, for type checkers and the API docs
    from neuro.backends import available_backends, set_backend
    from neuro.core.spec import State
    from neuro.neurons import ALIF, IF, LI, LIF, CubaLIF, SpikingNeuron, TwoPointLIF, TwoPointRate, set_checks
