"""The contract between neuron modules and the kernels that run them.

All neuron families are one recurrence, run over time for ``M`` independent neurons
(batch and feature dimensions flattened)::

    i[t] = a_i * i[t-1] + x[t]                         (current-based only; else I = c * x[t])
    h[t] = a_v * v[t-1] + I[t]                         c = 1 - a_v if decay_input else 1
    th[t] = v_th + beta_a * a[t-1]                     (adaptive only; else v_th)
    s[t] = H(h[t] - th[t])                             surrogate gradient g(h - th) backward
    v[t] = h[t] * (1 - s[t]) + v_reset * s[t]          hard reset
         = h[t] - th[t] * s[t]                         soft reset (subtract)
    a[t] = rho * a[t-1] + s[t]                         (adaptive only)

Non-spiking (LI) neurons output ``v[t] = h[t]``.  ``detach_reset`` stops the gradient through
``s`` in the reset.  The torch reference in :mod:`neuro.kernels.reference` is the definition;
the fused kernels must match it in outputs and in gradients w.r.t. ``x``, the initial state and
the decays ``a_v`` and ``a_i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch

from neuro.core.twopoint import TwoPointSpec, TwoPointState


@dataclass(frozen=True)
class NeuronSpec:
    """Static description of a neuron family and its options (hashable, kernel-ready)."""

    spiking: bool = True
    cuba: bool = False
    adaptive: bool = False
    hard_reset: bool = True
    v_th: float = 1.0
    v_reset: float = 0.0
    decay_input: bool = True
    detach_reset: bool = False
    surrogate: int = 0
    alpha: float = 2.0
    beta_a: float = 0.0
    rho: float = 0.0


class State(NamedTuple):
    """Neuron state, each ``[M]`` (flattened batch x features); unused parts are ``None``."""

    v: torch.Tensor
    i: torch.Tensor | None = None
    a: torch.Tensor | None = None


class Backend(Protocol):
    """A kernel backend: runs the recurrence over ``x`` of shape ``[T, M]``."""

    name: str

    def available(self) -> tuple[bool, str]:
        """(True, "") when usable here, else (False, the reason)."""
        ...

    def scan(
        self,
        spec: NeuronSpec,
        x: torch.Tensor,
        state: State,
        a_v: torch.Tensor,
        a_i: torch.Tensor | None,
    ) -> tuple[torch.Tensor, State]:
        """Return the output sequence ``[T, M]`` and the final state."""
        ...

    def scan_twopoint(
        self,
        spec: TwoPointSpec,
        r: torch.Tensor,
        c: torch.Tensor,
        state: TwoPointState,
        a_v: torch.Tensor,
        a_c: torch.Tensor,
    ) -> tuple[torch.Tensor, TwoPointState]:
        """Two-point neurons (:mod:`neuro.core.twopoint`) over ``r, c [T, M]``: spikes and the final state."""
        ...
