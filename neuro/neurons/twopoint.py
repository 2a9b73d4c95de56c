"""Two-point (two-compartment) neurons: a basal compartment integrates the receptive field ``R``,
an apical compartment the context ``C``, and a modulatory transfer function ``A(R, C)`` decides
what is transmitted: context amplifies or attenuates feed-forward drive but cannot drive the
neuron by itself (except in the cooperation function, where it adds a bounded term).

Modulation functions (by name):

* ``kay_phillips``: ``A = R/2 * (1 + exp(R*C))`` (Kay & Phillips 1997);
* ``generalized``: ``A = R * (k1 + (1 - k1) * exp(k2*R*C))`` (``k1 = 0.5, k2 = 2``);
* ``cooperation``: ``A = R^2 + 2R + C*(1 + |R|)`` (Adeel's asynchronous modulatory function);
* ``burst``: ``A = R * (1 + sigmoid(C))`` (an apical gain between 1x and 2x, burst-style).

:class:`TwoPointLIF` applies ``A`` elementwise over the whole sequence (one vectorized op) and runs
the result through the LIF recurrence on the fused kernels; :class:`TwoPointRate` is the rate
unit ``sigmoid(A(R, C))``.  Context may come from another stream or modality (distal), from the
same layer's neighbours (proximal) or from a higher layer (feedback): the caller computes ``C``.
"""

from __future__ import annotations

import torch
from torch import nn

from neuro.errors import ConfigError, ShapeError
from neuro.neurons.lif import LIF

_EXP_MAX = 20.0  # exp arguments are clamped so that large R*C cannot overflow


def modulate(r: torch.Tensor, c: torch.Tensor, kind: str = "kay_phillips", k1: float = 0.5,
             k2: float = 2.0) -> torch.Tensor:
    """The modulatory transfer function ``A(R, C)`` named ``kind``."""
    if r.shape != c.shape:
        raise ShapeError(f"receptive field {tuple(r.shape)} and context {tuple(c.shape)} must have the same shape")
    if kind == "kay_phillips":
        return 0.5 * r * (1 + torch.exp(torch.clamp(r * c, max=_EXP_MAX)))
    if kind == "generalized":
        return r * (k1 + (1 - k1) * torch.exp(torch.clamp(k2 * r * c, max=_EXP_MAX)))
    if kind == "cooperation":
        return r * r + 2 * r + c * (1 + r.abs())
    if kind == "burst":
        return r * (1 + torch.sigmoid(c))
    raise ConfigError(f"unknown modulation {kind!r}; expected kay_phillips, generalized, cooperation or burst")


MODULATIONS = ("kay_phillips", "generalized", "cooperation", "burst")


class TwoPointLIF(nn.Module):
    """A spiking two-point neuron layer: ``spikes = LIF(A(R, C))`` over ``[T, B, ...]`` sequences."""

    def __init__(self, modulation: str = "kay_phillips", k1: float = 0.5, k2: float = 2.0, **lif_kwargs) -> None:
        super().__init__()
        if modulation not in MODULATIONS:
            raise ConfigError(f"unknown modulation {modulation!r}; expected one of {', '.join(MODULATIONS)}")
        self.modulation, self.k1, self.k2 = modulation, k1, k2
        self.lif = LIF(**lif_kwargs)

    def forward(self, r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.lif(modulate(r, c, self.modulation, self.k1, self.k2))


class TwoPointRate(nn.Module):
    """A rate two-point unit: ``sigmoid(A(R, C))``."""

    def __init__(self, modulation: str = "kay_phillips", k1: float = 0.5, k2: float = 2.0) -> None:
        super().__init__()
        if modulation not in MODULATIONS:
            raise ConfigError(f"unknown modulation {modulation!r}; expected one of {', '.join(MODULATIONS)}")
        self.modulation, self.k1, self.k2 = modulation, k1, k2

    def forward(self, r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(modulate(r, c, self.modulation, self.k1, self.k2))
