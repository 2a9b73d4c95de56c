"""A current-based LIF that fires several spikes per step, as Xylo's hidden neurons do."""

from __future__ import annotations

import torch

from neuro.core.spec import State
from neuro.core.surrogate import spike
from neuro.errors import ConfigError, ShapeError
from neuro.neurons.cuba import CubaLIF


class MultiSpikeCubaLIF(CubaLIF):
    """CubaLIF with a subtractive reset that emits ``n = min(max_spikes, floor(v / v_threshold))`` spikes per step.

    ``i = a_i * i + x``; ``h = a_v * v + i``; ``n = clamp(floor(h / v_threshold), 0, max_spikes)``;
    ``v = h - n * v_threshold``; the output is the spike count ``n``.  This is the neuron of a Xylo core
    (up to 31 spikes per step), so a model trained with it computes what the chip computes, instead
    of holding the surplus charge for later steps as a one-spike neuron does.  The gradient is the
    named surrogate at the first threshold plus ``1 / v_threshold`` above it (the slope of the
    staircase).  Runs in plain torch (no fused kernel): the Xylo models are small.
    """

    def __init__(self, tau_syn: float | None = 2.0, tau_mem: float | None = 2.0, *, max_spikes: int = 31,
                 **kwargs) -> None:
        if kwargs.get("v_reset", None) is not None:
            raise ConfigError("MultiSpikeCubaLIF subtracts the threshold at each spike; v_reset= is not an option")
        kwargs["v_reset"] = None
        super().__init__(tau_syn, tau_mem, **kwargs)
        if int(max_spikes) != max_spikes or max_spikes < 1:
            raise ConfigError(f"max_spikes must be a positive integer, got {max_spikes}")
        self.max_spikes = int(max_spikes)

    def _step(self, x: torch.Tensor, v: torch.Tensor, i: torch.Tensor, a_v: torch.Tensor,
              a_i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        th = self.v_threshold
        i = a_i * i + x
        h = a_v * v + i
        n_hard = torch.clamp(torch.floor(h.detach() / th), 0, self.max_spikes)
        soft = spike(h - th, self.surrogate, self.alpha) + torch.relu(h - th) / th
        n = n_hard + (soft - soft.detach())
        reset = n.detach() if self.detach_reset else n
        return n, h - reset * th, i

    def forward(self, x: torch.Tensor, state: State | None = None, return_state: bool = False):
        self._check(x)
        inner = tuple(x.shape[1:])
        if state is None:
            state = self.init_state(inner, x.device, x.dtype)
        else:
            self._check_state(state, inner)
        a_v, a_i = (p.to(device=x.device, dtype=x.dtype) for p in self.decays())
        try:
            a_v, a_i = a_v.expand(inner), a_i.expand(inner)
        except RuntimeError:
            raise ShapeError(f"{type(self).__name__} has per-neuron parameters of shape {tuple(a_v.shape)} that do "
                             f"not match the input's feature shape {inner[1:]}") from None
        v, i = state.v, state.i
        out = []
        for t in range(x.shape[0]):
            n, v, i = self._step(x[t], v, i, a_v, a_i)
            out.append(n)
        y = torch.stack(out)
        return (y, State(v, i, None)) if return_state else y

    def step(self, x_t: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if not isinstance(x_t, torch.Tensor) or x_t.dim() < 1:
            raise ShapeError("step() expects one time step of shape [B, ...]")
        out, st = self.forward(x_t.unsqueeze(0), state, return_state=True)
        return out[0], st

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, max_spikes={self.max_spikes}"
