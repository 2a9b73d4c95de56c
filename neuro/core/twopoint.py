"""The two-point neuron recurrence: what every backend's ``scan_twopoint`` computes.

For ``M`` independent neurons (batch and features flattened), receptive-field input ``R[t]`` and
context input ``C[t]``::

    p[t] = a_c * p[t-1] + (1 - a_c) * C[t]              apical compartment (leaky context)
    d[t] = A(R[t], p[t])                                modulatory transfer function
    h[t] = a_v * v[t-1] + (1 - a_v) * d[t]              basal/somatic membrane (decay_input;
                                                        else h = a_v * v[t-1] + d[t])
    s[t] = H(h[t] - v_th)                               surrogate gradient g(h - v_th) backward
    v[t] = h[t] * (1 - s[t]) + v_reset * s[t]           hard reset, or h[t] - v_th * s[t] soft

With ``a_c = 0`` the apical potential is the instantaneous context and the neuron is an LIF
driven by ``A(R, C)``.  Functions ``A`` and their codes are in :data:`MODULATION_CODES`; the
``exp`` arguments are clamped at :data:`EXP_MAX` (no overflow; zero gradient beyond it, as
``torch.clamp``).  The torch reference (:mod:`neuro.kernels.reference`) is the definition; the fused
kernels (:mod:`neuro.kernels.twopoint_cpu` numba, :mod:`neuro.kernels.twopoint_gpu` Triton) must match
it in outputs and in gradients w.r.t. ``R``, ``C``, the initial state and both decays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

EXP_MAX = 20.0
MODULATION_CODES = {"kay_phillips": 0, "generalized": 1, "cooperation": 2, "burst": 3}


@dataclass(frozen=True)
class TwoPointSpec:
    """Static options of a two-point layer (hashable: selects a compiled kernel)."""

    modulation: int = 0
    k1: float = 0.5
    k2: float = 2.0
    v_th: float = 1.0
    v_reset: float = 0.0
    hard_reset: bool = True
    decay_input: bool = True
    detach_reset: bool = False
    surrogate: int = 0
    alpha: float = 2.0


class TwoPointState(NamedTuple):
    """Somatic membrane ``v`` and apical potential ``p``, each ``[B, *features]`` (or ``[M]`` in kernels)."""

    v: torch.Tensor
    p: torch.Tensor


def modulation_fn(r: torch.Tensor, c: torch.Tensor, code: int, k1: float = 0.5, k2: float = 2.0) -> torch.Tensor:
    """``A(r, c)`` for kernel code ``code`` (torch; the definition the kernels follow)."""
    if code == 0:  # Kay & Phillips 1997
        return 0.5 * r * (1 + torch.exp(torch.clamp(r * c, max=EXP_MAX)))
    if code == 1:  # generalized Kay & Phillips
        return r * (k1 + (1 - k1) * torch.exp(torch.clamp(k2 * r * c, max=EXP_MAX)))
    if code == 2:  # Adeel's cooperation function
        return r * r + 2 * r + c * (1 + r.abs())
    if code == 3:  # burst-style apical gain: an event becomes a burst with probability sigmoid(c)
        return r * (1 + torch.sigmoid(c))
    raise ValueError(f"unknown modulation code {code}")
