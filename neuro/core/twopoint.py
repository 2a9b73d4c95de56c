"""The two-point neuron recurrence: its torch reference (the definition) and backend dispatch.

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
``torch.clamp``).  The fused kernels (:mod:`neuro.kernels.twopoint_cpu` numba,
:mod:`neuro.kernels.twopoint_gpu` Triton) must match this reference in outputs and in gradients
w.r.t. ``R``, ``C``, the initial state and both decays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from neuro.core.surrogate import SpikeFn

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


def reference_scan(spec: TwoPointSpec, r: torch.Tensor, c: torch.Tensor, state: TwoPointState,
                   a_v: torch.Tensor, a_c: torch.Tensor) -> tuple[torch.Tensor, TwoPointState]:
    """A Python loop of torch ops over ``r, c [T, M]``; autograd gives the gradients."""
    v, p = state
    out = []
    for t in range(r.shape[0]):
        p = a_c * p + (1 - a_c) * c[t]
        d = modulation_fn(r[t], p, spec.modulation, spec.k1, spec.k2)
        h = a_v * v + ((1 - a_v) * d if spec.decay_input else d)
        s = SpikeFn.apply(h - spec.v_th, spec.surrogate, spec.alpha)
        sr = s.detach() if spec.detach_reset else s
        v = h * (1 - sr) + spec.v_reset * sr if spec.hard_reset else h - spec.v_th * sr
        out.append(s)
    return torch.stack(out), TwoPointState(v, p)


def twopoint_scan(backend: str, spec: TwoPointSpec, r: torch.Tensor, c: torch.Tensor, state: TwoPointState,
                  a_v: torch.Tensor, a_c: torch.Tensor) -> tuple[torch.Tensor, TwoPointState]:
    """Run the recurrence on backend ``"torch"``, ``"cpu"`` (numba) or ``"gpu"`` (Triton)."""
    if backend == "cpu":
        from neuro.kernels.twopoint_cpu import cpu_scan

        return cpu_scan(spec, r, c, state, a_v, a_c)
    if backend == "gpu":
        from neuro.kernels.twopoint_gpu import gpu_scan

        return gpu_scan(spec, r, c, state, a_v, a_c)
    return reference_scan(spec, r, c, state, a_v, a_c)
