"""A recurrent SNN that fits one SynSense Xylo core: the FSDD model for ``neuro eval --backend xylo``.

input (14 channels, spike counts) -> Recurrent(MultiSpikeCubaLIF) -> Linear -> CubaLI

Everything is chosen for Xylo's integer model (:mod:`neuro.hardware.xylo`): no biases and no
delays, Xylo's neuron (a subtractive reset and up to 31 spikes per step), and time constants that
are powers of two, so that the decays ``1 - 1/tau`` are exactly Xylo's bit-shift decays
``1 - 2^-dash``.  The readout's membrane sequence is the output (sum its softmax over time,
:func:`~neuro.models.delay_snn.softmax_sum_readout`).  ``input_length`` fixes the readout horizon
as in :class:`~neuro.models.delay_snn.DelaySNN`.
"""

from __future__ import annotations

import torch
from torch import nn

from neuro.errors import ConfigError
from neuro.layers import Recurrent, SeqDropout, SeqLinear
from neuro.models.delay_snn import pad_to_length
from neuro.models.registry import register_model
from neuro.neurons import CubaLI, MultiSpikeCubaLIF


class XyloSNN(nn.Module):
    """One recurrent hidden population and a leaky readout, no biases (see the module docstring)."""

    def __init__(self, n_in: int = 14, hidden: int = 128, n_out: int = 10, tau_syn: float = 2.0, tau_mem: float = 4.0,
                 tau_out: float = 8.0, dropout: float = 0.1, input_length: int = 0) -> None:
        super().__init__()
        if input_length < 0:
            raise ConfigError(f"input_length must be >= 0 (0: no fixed length), got {input_length}")
        self.input_length = int(input_length)
        self.net = nn.Sequential(
            Recurrent(n_in, hidden, MultiSpikeCubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, alpha=5.0), bias=False),
            SeqDropout(dropout),
            SeqLinear(hidden, n_out, bias=False),
            CubaLI(tau_syn=tau_syn, tau_mem=tau_out),
        )
        with torch.no_grad():  # inputs are counts up to 15 and neurons fire several spikes a step: start quiet
            self.net[0].ff.weight.mul_(0.2)
            self.net[0].rec.weight.mul_(0.5)

    def pad_input(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``x [T, B, n_in]`` at the end to ``input_length`` steps (longer inputs pass unchanged)."""
        return pad_to_length(x, self.input_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pad_input(x))


@register_model("xylo_snn")
def xylo_snn(**config) -> XyloSNN:
    return XyloSNN(**config)
