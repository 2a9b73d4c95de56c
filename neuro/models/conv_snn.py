"""A small convolutional spiking network for event-camera frames (N-MNIST and the like)."""

from __future__ import annotations

from torch import nn

from neuro.layers import Flatten, SeqBatchNorm, SeqConv2d, SeqDropout, SeqLinear, SeqSumPool2d
from neuro.models.registry import register_model
from neuro.neurons import LI, LIF


@register_model("conv_snn")
def conv_snn(
    in_channels: int = 2,
    size: int = 34,
    n_classes: int = 10,
    channels: tuple[int, int] = (12, 32),
    tau: float = 2.0,
    dropout: float = 0.2,
    surrogate: str = "atan",
) -> nn.Sequential:
    """conv5-BN-LIF-sumpool2 x 2, then a linear layer into a non-spiking LI readout.

    Input ``[T, B, in_channels, size, size]`` (event frames); output the readout membrane
    ``[T, B, n_classes]`` (its mean over time is the logit).
    """
    c1, c2 = channels
    s1 = (size - 4) // 2
    s2 = (s1 - 4) // 2
    return nn.Sequential(
        SeqConv2d(in_channels, c1, 5),
        SeqBatchNorm(c1),
        LIF(tau=tau, surrogate=surrogate),
        SeqSumPool2d(2),
        SeqConv2d(c1, c2, 5),
        SeqBatchNorm(c2),
        LIF(tau=tau, surrogate=surrogate),
        SeqSumPool2d(2),
        Flatten(),
        SeqDropout(dropout),
        SeqLinear(c2 * s2 * s2, n_classes),
        LI(tau=tau),
    )
