"""The torch reference backend: the definition of every neuron (point and two-point), on any device."""

from __future__ import annotations

import torch

from neuro.core.spec import NeuronSpec, State
from neuro.core.surrogate import SpikeFn
from neuro.core.twopoint import TwoPointSpec, TwoPointState, modulation_fn


class TorchBackend:
    """A Python loop over time of plain torch ops; autograd gives the gradients."""

    name = "torch"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def scan(
        self,
        spec: NeuronSpec,
        x: torch.Tensor,
        state: State,
        a_v: torch.Tensor,
        a_i: torch.Tensor | None,
    ) -> tuple[torch.Tensor, State]:
        v, i, a = state.v, state.i, state.a
        c = (1 - a_v) if (spec.decay_input and not spec.cuba) else None
        out = []
        for t in range(x.shape[0]):
            if spec.cuba:
                assert i is not None and a_i is not None
                i = a_i * i + x[t]
                drive = i
            else:
                drive = x[t] if c is None else c * x[t]
            h = a_v * v + drive
            if not spec.spiking:
                v = h
                out.append(h)
                continue
            th = spec.v_th + spec.beta_a * a if spec.adaptive else spec.v_th
            s = SpikeFn.apply(h - th, spec.surrogate, spec.alpha)
            sr = s.detach() if spec.detach_reset else s
            if spec.hard_reset:
                v = h * (1 - sr) + spec.v_reset * sr
            else:
                v = h - th * sr
            if spec.adaptive:
                a = spec.rho * a + s
            out.append(s)
        return torch.stack(out), State(v, i, a)

    def scan_twopoint(self, spec: TwoPointSpec, r: torch.Tensor, c: torch.Tensor, state: TwoPointState,
                      a_v: torch.Tensor, a_c: torch.Tensor) -> tuple[torch.Tensor, TwoPointState]:
        return reference_scan(spec, r, c, state, a_v, a_c)


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
