"""The SHD delay model of Hammouamri, Khalfaoui-Hassani and Masquelier (ICLR 2024).

input (140 channels) -> [DelayedLinear -> time-batch norm -> LIF -> dropout] x 2 -> DelayedLinear -> LI

LIF: ``tau = 1.005`` steps (10.05 ms at 10 ms bins), ``decay_input=False``, hard reset to 0,
ATan surrogate (alpha 5), detached reset.  ``neuron="alif"`` gives the hidden neurons an adaptive
threshold (:class:`~neuro.neurons.ALIF`: it rises by ``beta_a`` per spike and relaxes over ``tau_a``
steps), the only memory these nearly leak-free neurons then have beyond their delays; Loihi and NIR
have no such neuron, so those exports refuse it.  The readout is a non-spiking leaky integrator whose
membrane sequence is returned; :func:`softmax_sum_readout` sums its softmax over time (the
paper's ``loss='sum'``).  Every synapse has a weight and a delay (0..max_delay steps).

The paper's sum runs over the zero steps a batch is padded with, so a prediction would depend on
the longest other sample in its batch.  ``input_length`` fixes that horizon: shorter inputs are
zero-padded to it, so every sample up to that length is read out over the same steps, whatever
batch it is in (training sets it to the longest training sample).

Accessor for export: :meth:`DelaySNN.synapse_layers` lists ``(weight [out, in], integer delays
[out, in])`` per layer, and :meth:`DelaySNN.neuron_params` the LIF/LI parameters.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neuro.errors import ConfigError
from neuro.layers import SeqBatchNorm, SeqDropout
from neuro.layers.delay import DelayedLinear
from neuro.models.registry import register_model
from neuro.neurons import ALIF, LI, LIF

#: ``DelaySNN(neuron=...)``: the hidden neurons
NEURONS = ("lif", "alif")


def softmax_sum_readout(v: torch.Tensor) -> torch.Tensor:
    """``[T, B, C] -> [B, C]``: the sum over time of the class softmax (used as logits)."""
    return torch.softmax(v, dim=-1).sum(0)


def pad_to_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad a time-major ``x [T, ...]`` at the end to ``length`` steps (longer inputs pass unchanged):
    the fixed readout horizon of models whose readout sums over time."""
    if x.dim() >= 1 and x.shape[0] < length:
        x = F.pad(x, (0, 0) * (x.dim() - 1) + (0, length - x.shape[0]))
    return x


class DelaySNN(nn.Module):
    """Feed-forward SNN with a learnable delay per synapse (see the module docstring)."""

    def __init__(
        self,
        n_in: int = 140,
        hidden: int = 256,
        n_layers: int = 2,
        n_out: int = 20,
        max_delay: int = 24,
        tau: float = 1.005,
        dropout: float = 0.4,
        mode: str = "learned",
        right_pad: int | None = None,
        surrogate_alpha: float = 5.0,
        input_length: int = 0,
        neuron: str = "lif",
        tau_a: float = 20.0,
        beta_a: float = 0.2,
    ) -> None:
        super().__init__()
        if input_length < 0:
            raise ConfigError(f"input_length must be >= 0 (0: no fixed length), got {input_length}")
        if neuron not in NEURONS:
            raise ConfigError(f"unknown hidden neuron {neuron!r}; expected one of {', '.join(NEURONS)}")
        self.input_length = int(input_length)
        pad = max_delay // 2 if right_pad is None else right_pad
        sizes = [n_in] + [hidden] * n_layers
        blocks: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            common = {"decay_input": False, "v_reset": 0.0, "detach_reset": True, "surrogate": "atan",
                      "alpha": surrogate_alpha}
            cell = (ALIF(tau=tau, tau_a=tau_a, beta_a=beta_a, **common) if neuron == "alif"
                    else LIF(tau=tau, **common))
            blocks += [DelayedLinear(a, b, max_delay, mode, right_pad=pad), SeqBatchNorm(b), cell, SeqDropout(dropout)]
        blocks += [DelayedLinear(sizes[-1], n_out, max_delay, mode, right_pad=pad), LI(tau=tau, decay_input=False)]
        self.net = nn.Sequential(*blocks)
        self.max_delay = max_delay

    def delay_layers(self) -> list[DelayedLinear]:
        return [m for m in self.net if isinstance(m, DelayedLinear)]

    def pad_input(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``x [T, B, n_in]`` at the end to ``input_length`` steps (longer inputs pass unchanged)."""
        return pad_to_length(x, self.input_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pad_input(x))

    def set_sigma(self, sigma: float) -> None:
        for m in self.delay_layers():
            m.sigma = float(sigma)

    def after_step(self) -> None:
        """Clamp learned delays into ``[0, max_delay]`` (the training loop calls this after each step)."""
        for m in self.delay_layers():
            m.clamp_()

    def synapse_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [m.synapses() for m in self.delay_layers()]

    def neuron_params(self) -> list[dict]:
        out = []
        for m in self.net:
            if isinstance(m, LIF):
                out.append({"type": type(m).__name__, "beta": float(m.decays()[0]), "v_threshold": getattr(
                    m, "v_threshold", None), "v_reset": getattr(m, "v_reset", None)})
        return out

    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights and batch-norm parameters, delay positions): they get separate optimizers."""
        pos = [m.delay for m in self.delay_layers() if isinstance(m.delay, nn.Parameter)]
        ids = {id(p) for p in pos}
        return [p for p in self.parameters() if id(p) not in ids], pos


@register_model("delay_snn")
def delay_snn(**config) -> DelaySNN:
    return DelaySNN(**config)
