"""Current-based LIF: the Loihi neuron, with a synaptic current and a membrane."""

from __future__ import annotations

import torch

from neuro.errors import ConfigError
from neuro.neurons.base import DecayParameter, SpikingNeuron, decay_from


class CubaLIF(SpikingNeuron):
    """Current-based LIF (CUBA): ``i = a_i * i + x``; ``h = a_v * v + i``; spike when ``h > v_threshold``.

    This is the order Loihi and Lava use (``u[t] = u[t-1] * (1 - du) + a_in``,
    ``v[t] = v[t-1] * (1 - dv) + u[t]``), so ``a_i = 1 - du`` and ``a_v = 1 - dv``.

    Args:
        tau_syn / beta_syn: current time constant in steps, or its decay.
        tau_mem / beta_mem: membrane time constant in steps, or its decay.
        learn_decays: learn both decays (per neuron when ``shape`` is given).
        v_reset: reset value (hard reset) or ``None`` for soft reset.
    """

    cuba = True

    def __init__(
        self,
        tau_syn: float | None = 2.0,
        tau_mem: float | None = 2.0,
        *,
        beta_syn: float | None = None,
        beta_mem: float | None = None,
        learn_decays: bool = False,
        shape: tuple[int, ...] = (),
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        detach_reset: bool = False,
        surrogate: str = "atan",
        alpha: float | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(
            v_threshold=v_threshold,
            v_reset=v_reset,
            decay_input=False,
            detach_reset=detach_reset,
            surrogate=surrogate,
            alpha=alpha,
            backend=backend,
        )
        if beta_syn is not None:
            tau_syn = None
        if beta_mem is not None:
            tau_mem = None
        self.beta_syn = DecayParameter(decay_from(tau_syn, beta_syn, "tau_syn"), learn_decays, shape)
        self.beta_mem = DecayParameter(decay_from(tau_mem, beta_mem, "tau_mem"), learn_decays, shape)

    def decays(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.beta_mem(), self.beta_syn()


class CubaLI(CubaLIF):
    """Current-based leaky integrator without spikes: returns its membrane (a CUBA readout)."""

    spiking = False

    def __init__(self, tau_syn: float | None = 2.0, tau_mem: float | None = 2.0, **kwargs) -> None:
        for bad in ("v_threshold", "v_reset", "detach_reset"):
            if bad in kwargs:
                raise ConfigError(f"CubaLI does not spike; {bad}= is not an option")
        super().__init__(tau_syn, tau_mem, **kwargs)

    def extra_repr(self) -> str:
        return f"backend={self.backend or 'auto'}"
