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


class TwoPointLayer(nn.Module):
    """A layer of two-point neurons with its receptive field and a chosen source of context.

    ``context`` is one of:

    * ``"distal"``: context from another stream or modality, ``C = W_c · z`` for a second input ``z``
      given to :meth:`forward` (one matmul over the whole sequence);
    * ``"proximal"``: context from the layer's own neighbours at the previous step,
      ``C[t] = W_lat · s[t-1]`` (lateral connections, zero self-connections);
    * ``"feedback"``: context from a higher layer's previous-step output ``C[t] = W_fb · y[t-1]``,
      where ``y`` is produced by ``top`` (a module applied to the layer's spikes, e.g. the next layer).

    Proximal and feedback context depend on the previous step, so those layers step through time.
    """

    def __init__(self, n_in: int, n: int, context: str = "distal", n_context: int | None = None,
                 top: nn.Module | None = None, n_top: int | None = None, modulation: str = "kay_phillips",
                 **lif_kwargs) -> None:
        super().__init__()
        if context not in ("distal", "proximal", "feedback"):
            raise ConfigError(f"context must be 'distal', 'proximal' or 'feedback', got {context!r}")
        self.context = context
        self.ff = nn.Linear(n_in, n)
        if context == "distal":
            if n_context is None:
                raise ConfigError("distal context needs n_context= (the size of the other stream)")
            self.ctx = nn.Linear(n_context, n)
        elif context == "proximal":
            self.ctx = nn.Linear(n, n, bias=False)
        else:
            if top is None or n_top is None:
                raise ConfigError("feedback context needs top= (the higher layer) and n_top= (its output size)")
            self.top = top
            self.ctx = nn.Linear(n_top, n, bias=False)
        self.neuron = TwoPointLIF(modulation, **lif_kwargs)
        self.n = n

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        r = self.ff(x)
        if self.context == "distal":
            if z is None:
                raise ShapeError("a distal-context layer needs the other stream: call layer(x, z)")
            return self.neuron(r, self.ctx(z))
        lif = self.neuron.lif
        s = r.new_zeros(r.shape[1:])
        fb = None
        state = None
        out = []
        for t in range(r.shape[0]):
            if self.context == "proximal":
                w = self.ctx.weight - torch.diag(torch.diag(self.ctx.weight))  # no self-context
                c = s @ w.t()
            else:
                c = self.ctx(fb) if fb is not None else r.new_zeros(r.shape[1:])
            a = modulate(r[t], c, self.neuron.modulation, self.neuron.k1, self.neuron.k2)
            s, state = lif.step(a, state)
            if self.context == "feedback":
                fb = self.top(s.unsqueeze(0))[0]
            out.append(s)
        return torch.stack(out)
