"""A multisensory cooperative network of two-point neurons (visual + audio streams).

Each stream has a hidden layer whose neurons take their own modality as receptive field ``R``
and the other modality as distal context ``C``.  The point-neuron baseline has the same layers
and parameters, but its neurons simply sum ``R + C``.  Both read out through a linear layer on
the concatenated hidden spikes into a non-spiking LI layer.
"""

from __future__ import annotations

import torch
from torch import nn

from neuro.layers import SeqLinear
from neuro.models.registry import register_model
from neuro.neurons import LI, LIF
from neuro.neurons.twopoint import TwoPointLIF


class AudioVisualNet(nn.Module):
    """Inputs ``x [T, B, n_vis + n_aud]`` (visual channels first); output ``[T, B, n_out]``."""

    def __init__(self, n_vis: int = 578, n_aud: int = 140, hidden: int = 128, n_out: int = 10,
                 neuron: str = "twopoint", modulation: str = "kay_phillips", tau: float = 2.0) -> None:
        super().__init__()
        self.n_vis, self.n_aud, self.kind = n_vis, n_aud, neuron
        self.rv, self.ra = SeqLinear(n_vis, hidden), SeqLinear(n_aud, hidden)  # receptive fields
        self.cv, self.ca = SeqLinear(n_aud, hidden), SeqLinear(n_vis, hidden)  # distal context (other modality)
        if neuron == "twopoint":
            self.nv, self.na = TwoPointLIF(modulation, tau=tau), TwoPointLIF(modulation, tau=tau)
        else:
            self.nv, self.na = LIF(tau=tau), LIF(tau=tau)
        self.out = SeqLinear(2 * hidden, n_out)
        self.readout = LI(tau=tau)
        self.register_buffer("mask", torch.ones(2 * hidden))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        xv, xa = x[..., : self.n_vis], x[..., self.n_vis :]
        rv, ra, cv, ca = self.rv(xv), self.ra(xa), self.cv(xa), self.ca(xv)
        if self.kind == "twopoint":
            hv, ha = self.nv(rv, cv), self.na(ra, ca)
        else:
            hv, ha = self.nv(rv + cv), self.na(ra + ca)
        return torch.cat([hv, ha], -1) * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.out(self.hidden(x)))

    def silence(self, fraction: float, seed: int = 0) -> None:
        """Silence a random ``fraction`` of the hidden neurons (sudden neural damage)."""
        g = torch.Generator().manual_seed(seed)
        m = torch.ones_like(self.mask)
        m[torch.randperm(len(m), generator=g)[: int(round(fraction * len(m)))]] = 0
        self.mask.copy_(m)


@register_model("twopoint_av")
def twopoint_av(**config) -> AudioVisualNet:
    return AudioVisualNet(**config)
