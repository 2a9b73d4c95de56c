"""Synaptic operations, MACs and energy per sample, for any model built from torch layers.

Forward hooks on every synaptic layer count what the layer actually computed on the inputs it
received:

* **event input** (every value a non-negative integer: spikes, or event counts per bin): one
  synaptic operation (an accumulate) per event per *existing* synapse of the presynaptic unit,
  i.e. ``sum_j count_j * nnz(W[:, j])`` for a linear layer; for a convolution, the exact number of
  (input event, non-zero kernel tap, output position) triples, padding and stride included.
  Pruned (zero) weights are not synapses and cost nothing;
* **dense input** (anything else: analog inputs, membranes, normalized features): one
  multiply-accumulate per weight per computed output value (MACs).

Counted layers: ``nn.Linear``, ``nn.Conv1d/2d/3d`` (neuro's ``SeqLinear``/``SeqConv*`` are
subclasses; so is the ``nn.Linear`` inside :class:`~neuro.layers.Recurrent`, hooked at every
step) and :class:`~neuro.layers.delay.DelayedLinear`.  Other layer types can be added with
:func:`register_counter`.  Energy is ``synops * e_synop + macs * e_mac``; the defaults (0.9 pJ per
accumulate, 4.6 pJ per 32-bit float MAC) are the 45 nm figures of Horowitz (ISSCC 2014) that SNN
papers commonly use; pass the figures of your hardware.

    ops = count_operations(model, x)             # one forward pass, batch at dim 1
    ops.synops_per_sample, ops.energy_per_sample_nj, ops.layers["fc1"].synops

    with OpCounter(model) as counter:            # accumulate over many batches
        for x, _ in loader: model(x)
    ops = counter.result(samples=len(dataset))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from neuro.errors import ConfigError
from neuro.layers.delay import DelayedLinear

E_SYNOP_PJ = 0.9  # 32-bit float add, 45 nm (Horowitz 2014)
E_MAC_PJ = 4.6  # 32-bit float multiply (3.7 pJ) + add (0.9 pJ), 45 nm


@dataclass
class LayerOps:
    """Operations of one layer over everything it processed."""

    synops: float = 0.0
    macs: float = 0.0
    calls: int = 0


@dataclass
class Operations:
    """Operation counts of a model over ``samples`` samples, and their energy."""

    synops: float
    macs: float
    samples: int
    e_synop_pj: float = E_SYNOP_PJ
    e_mac_pj: float = E_MAC_PJ
    layers: dict[str, LayerOps] = field(default_factory=dict)

    @property
    def synops_per_sample(self) -> float:
        return self.synops / self.samples

    @property
    def macs_per_sample(self) -> float:
        return self.macs / self.samples

    @property
    def energy_per_sample_nj(self) -> float:
        return (self.synops * self.e_synop_pj + self.macs * self.e_mac_pj) / self.samples / 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "synops_per_sample": self.synops_per_sample,
            "macs_per_sample": self.macs_per_sample,
            "energy_per_sample_nJ": self.energy_per_sample_nj,
            "e_synop_pJ": self.e_synop_pj,
            "e_mac_pJ": self.e_mac_pj,
            "layers": {k: {"synops_per_sample": v.synops / self.samples, "macs_per_sample": v.macs / self.samples}
                       for k, v in self.layers.items()},
        }


def is_event_tensor(x: torch.Tensor) -> bool:
    """True when every value is a non-negative integer (spikes or event counts)."""
    if not x.is_floating_point():
        return bool((x >= 0).all())
    return bool(((x >= 0) & (x == torch.round(x))).all())


# ---------------------------------------------------------------------------- per-layer counters
Counter = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[float, float]]


def _linear_ops(weight: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    if is_event_tensor(x):
        counts = x.detach().reshape(-1, x.shape[-1]).to(torch.float64).sum(0)  # events per input unit
        fan_out = (weight.detach() != 0).sum(0).to(torch.float64)  # existing synapses per input unit
        return float((counts * fan_out).sum()), 0.0
    return 0.0, float(out.numel()) * float(weight.shape[1])


def _count_linear(m: nn.Module, x: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    return _linear_ops(m.weight, x, out)  # type: ignore[arg-type]


def _count_conv(m: nn.Module, x: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    assert isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)
    w = m.weight.detach()
    if is_event_tensor(x):
        # The same convolution, with event counts for inputs and 1 for each existing synapse, counts
        # (event, synapse) pairs exactly: borders, padding, stride, dilation and groups included.
        nd = w.dim() - 2
        xs = x.detach().to(torch.float64).reshape(-1, *x.shape[-(nd + 1):])
        taps = (w != 0).to(torch.float64)
        return float(m._conv_forward(xs, taps, None).sum()), 0.0  # type: ignore[operator]
    return 0.0, float(out.numel()) * float(w[0].numel())


def _count_delayed(m: nn.Module, x: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    # every event crosses each of its synapses once, whatever that synapse's delay
    return _linear_ops(m.weight, x, out) if is_event_tensor(x) else (0.0, float(out.numel()) * m.in_features)


_COUNTERS: dict[type, Counter] = {nn.Linear: _count_linear, nn.Conv1d: _count_conv, nn.Conv2d: _count_conv,
                                  nn.Conv3d: _count_conv}


def register_counter(layer_type: type, counter: Counter) -> None:
    """Count ``layer_type`` with ``counter(module, input, output) -> (synops, macs)``."""
    if not (isinstance(layer_type, type) and issubclass(layer_type, nn.Module)):
        raise ConfigError(f"register_counter needs an nn.Module subclass, got {layer_type!r}")
    _COUNTERS[layer_type] = counter


def _counter_for(m: nn.Module) -> Counter | None:
    for cls in type(m).__mro__:
        if cls in _COUNTERS:
            return _COUNTERS[cls]
    return None


def _register_neuro_layers() -> None:
    _COUNTERS.setdefault(DelayedLinear, _count_delayed)


# ---------------------------------------------------------------------------- counting
class OpCounter:
    """Context manager that hooks every synaptic layer of ``model`` and accumulates its operations."""

    def __init__(self, model: nn.Module, e_synop_pj: float = E_SYNOP_PJ, e_mac_pj: float = E_MAC_PJ) -> None:
        for name, v in (("e_synop_pj", e_synop_pj), ("e_mac_pj", e_mac_pj)):
            if not v >= 0:
                raise ConfigError(f"{name} (energy per operation in pJ) must be >= 0, got {v}")
        _register_neuro_layers()
        self.model, self.e_synop_pj, self.e_mac_pj = model, float(e_synop_pj), float(e_mac_pj)
        self.layers: dict[str, LayerOps] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> OpCounter:
        for name, m in self.model.named_modules():
            fn = _counter_for(m)
            if fn is None:
                continue
            rec = self.layers.setdefault(name or type(m).__name__, LayerOps())

            def hook(mod: nn.Module, args: tuple, out: Any, fn: Counter = fn, rec: LayerOps = rec) -> None:
                if not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
                    return
                s, m_ = fn(mod, args[0], out)
                rec.synops += s
                rec.macs += m_
                rec.calls += 1

            self._handles.append(m.register_forward_hook(hook))
        if not self._handles:
            raise ConfigError(f"{type(self.model).__name__} has no synaptic layer to count (Linear, Conv, "
                              "DelayedLinear); add one with register_counter()")
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def result(self, samples: int) -> Operations:
        if samples <= 0:
            raise ConfigError(f"samples must be > 0, got {samples}")
        return Operations(sum(v.synops for v in self.layers.values()), sum(v.macs for v in self.layers.values()),
                          int(samples), self.e_synop_pj, self.e_mac_pj, dict(self.layers))


@torch.no_grad()
def count_operations(model: nn.Module, *inputs: torch.Tensor, batch_dim: int = 1, e_synop_pj: float = E_SYNOP_PJ,
                     e_mac_pj: float = E_MAC_PJ, **kwargs: Any) -> Operations:
    """Synaptic operations and MACs of one forward pass ``model(*inputs, **kwargs)``.

    The number of samples is ``inputs[0].shape[batch_dim]`` (time-major ``[T, B, ...]``: dim 1).
    """
    if not inputs or not isinstance(inputs[0], torch.Tensor):
        raise ConfigError("count_operations needs at least one input tensor")
    with OpCounter(model, e_synop_pj, e_mac_pj) as counter:
        model(*inputs, **kwargs)
    return counter.result(int(inputs[0].shape[batch_dim]))

