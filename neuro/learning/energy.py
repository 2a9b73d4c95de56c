"""Synaptic operations and energy per sample, for any model built from torch layers.

:func:`count_operations` runs the model once with forward hooks on every ``nn.Linear``,
``nn.Conv1d`` and ``nn.Conv2d`` (neuro's ``Seq*`` layers are subclasses).  A layer whose input is
binary (spikes) performs one synaptic operation (an accumulate) per non-zero input per outgoing
synapse; any other input costs one multiply-accumulate per weight per step (MACs).  Energy is
``synops * e_synop + macs * e_mac`` (defaults: 0.9 pJ per accumulate and 4.6 pJ per MAC, 45 nm
figures commonly used in the SNN literature; pass your own).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Operations:
    synops: float
    macs: float
    samples: int
    e_synop_pj: float = 0.9
    e_mac_pj: float = 4.6

    @property
    def synops_per_sample(self) -> float:
        return self.synops / self.samples

    @property
    def macs_per_sample(self) -> float:
        return self.macs / self.samples

    @property
    def energy_per_sample_nj(self) -> float:
        return (self.synops * self.e_synop_pj + self.macs * self.e_mac_pj) / self.samples / 1000

    def as_dict(self) -> dict[str, float]:
        return {"synops_per_sample": self.synops_per_sample, "macs_per_sample": self.macs_per_sample,
                "energy_per_sample_nJ": self.energy_per_sample_nj}


def _fan_out(m: nn.Module) -> float:
    if isinstance(m, nn.Linear):
        return float(m.out_features)
    if isinstance(m, nn.Conv1d | nn.Conv2d):
        k = 1
        for s in m.kernel_size:
            k *= s
        stride = 1
        for s in m.stride:
            stride *= s
        return float(m.out_channels * k / stride / m.groups)
    return 0.0


@torch.no_grad()
def count_operations(model: nn.Module, *inputs: torch.Tensor, batch_dim: int = 1, e_synop_pj: float = 0.9,
                     e_mac_pj: float = 4.6) -> Operations:
    """Synaptic operations and MACs of one forward pass over ``inputs`` (time-major: batch at dim 1)."""
    totals = {"synops": 0.0, "macs": 0.0}

    def hook(m: nn.Module, args, _out) -> None:
        x = args[0]
        binary = bool(((x == 0) | (x == 1)).all())
        if binary:
            totals["synops"] += float((x != 0).sum()) * _fan_out(m)
        else:  # one MAC per weight of each computed output value
            totals["macs"] += float(_out.numel()) * float(m.weight[0].numel())

    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)]
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return Operations(totals["synops"], totals["macs"], int(inputs[0].shape[batch_dim]), e_synop_pj, e_mac_pj)
