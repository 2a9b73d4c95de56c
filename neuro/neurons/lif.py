"""Leaky integrate-and-fire neurons: LIF, IF, adaptive LIF and the non-spiking LI readout."""

from __future__ import annotations

import torch

from neuro.errors import ConfigError
from neuro.neurons.base import DecayParameter, SpikingNeuron, check_finite, decay_from


class LIF(SpikingNeuron):
    """Leaky integrate-and-fire.

    ``h = beta * v + (1 - beta) * x`` (``decay_input=True``, SpikingJelly's LIFNode) or
    ``h = beta * v + x`` (``decay_input=False``, snnTorch's Leaky); spike when ``h > v_threshold``;
    reset to ``v_reset`` (hard) or subtract the threshold (``v_reset=None``, soft).

    Args:
        tau: membrane time constant in steps (``beta = 1 - 1/tau``); or give ``beta`` directly.
        learn_beta: learn the decay (per neuron when ``shape`` is given).
        shape: feature shape for per-neuron decays, e.g. ``(256,)``.
        v_threshold, v_reset, decay_input, detach_reset: see above.
        surrogate, alpha: surrogate gradient name and sharpness (see :mod:`neuro.core.surrogate`).
        backend: ``"torch"``, ``"cpu"``, ``"gpu"`` or ``None`` (automatic by device).
    """

    def __init__(
        self,
        tau: float | None = 2.0,
        *,
        beta: float | None = None,
        learn_beta: bool = False,
        shape: tuple[int, ...] = (),
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        decay_input: bool = True,
        detach_reset: bool = False,
        surrogate: str = "atan",
        alpha: float | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(
            v_threshold=v_threshold,
            v_reset=v_reset,
            decay_input=decay_input,
            detach_reset=detach_reset,
            surrogate=surrogate,
            alpha=alpha,
            backend=backend,
        )
        if beta is not None:
            tau = None
        self.beta = DecayParameter(decay_from(tau, beta), learn_beta, shape)

    def decays(self) -> tuple[torch.Tensor, None]:
        return self.beta(), None


class IF(LIF):
    """Integrate-and-fire: no leak (``h = v + x``)."""

    def __init__(self, **kwargs) -> None:
        for bad in ("tau", "beta", "learn_beta", "decay_input"):
            if bad in kwargs:
                raise ConfigError(f"IF has no leak; {bad}= is not an option (use LIF)")
        super().__init__(tau=None, beta=1.0, decay_input=False, **kwargs)


class ALIF(LIF):
    """Adaptive LIF (Bellec et al. 2018): the threshold rises by ``beta_a`` per spike and decays back.

    ``th = v_threshold + beta_a * a``, ``a <- rho * a + s`` with ``rho = 1 - 1/tau_a``.
    """

    adaptive = True

    def __init__(self, tau: float | None = 2.0, *, tau_a: float = 20.0, beta_a: float = 0.2, **kwargs) -> None:
        super().__init__(tau, **kwargs)
        check_finite("ALIF", beta_a=beta_a)
        if beta_a < 0:
            raise ConfigError(f"beta_a (threshold increase per spike) must be >= 0, got {beta_a}")
        self.beta_a = float(beta_a)
        self.rho = decay_from(tau_a, None, "tau_a")


class LI(LIF):
    """Leaky integrator without spikes: returns its membrane sequence (a readout layer)."""

    spiking = False

    def __init__(self, tau: float | None = 2.0, **kwargs) -> None:
        for bad in ("v_threshold", "v_reset", "detach_reset"):
            if bad in kwargs:
                raise ConfigError(f"LI does not spike; {bad}= is not an option")
        super().__init__(tau, **kwargs)

    def extra_repr(self) -> str:
        return f"backend={self.backend or 'auto'}"
