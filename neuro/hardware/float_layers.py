"""A trained model read as a chain of float layers: the one view of a model that every hardware target
and the NIR export start from.

:func:`float_layers` walks a model's modules once: synapses (``Linear``, ``DelayedLinear`` with
integer delays, a ``Recurrent`` layer's input and recurrent matrices), a batch norm folded into
them (:func:`fold_bn`), and the neuron population after them.  A model that is not a plain chain
(e.g. :class:`~neuro.models.lsm.LiquidStateMachine`) offers ``as_sequential()``, the chain of
layers it computes, so no target special-cases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError
from neuro.layers import DelayedLinear, Flatten, Recurrent, SeqBatchNorm, SeqDropout
from neuro.neurons import LI, LIF, CubaLIF, SpikingNeuron


def _f32(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32) if isinstance(t, torch.Tensor) else np.asarray(t, np.float32)


def fold_bn(weight: np.ndarray, bias: np.ndarray, bn: SeqBatchNorm) -> tuple[np.ndarray, np.ndarray]:
    """Fold a (time-major) batch norm into the preceding weights and bias (inference statistics)."""
    b = bn.bn
    scale = _f32(b.weight if b.affine else torch.ones_like(b.running_var)) / np.sqrt(_f32(b.running_var) + b.eps)
    shift = (_f32(b.bias) if b.affine else 0) - _f32(b.running_mean) * scale
    w = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    return w, bias * scale + shift


@dataclass
class FloatLayer:
    """A float synapse layer and the neurons after it: the generic input of :func:`quantize`.

    ``weight [out, in]``; ``delay [out, in]`` integer steps or ``None``; ``bias [out]`` or ``None``
    (added to the neuron's input every step); ``beta_mem`` the voltage decay; ``beta_syn`` the current
    decay (``None``: no synaptic current); ``v_threshold`` (``None``: non-spiking readout).
    ``rec_weight [out, out]`` (post, pre): the population's own spikes of the previous step, added to
    its input (``h[t] = ... + W x[t] + R s[t-1]``), with optional integer ``rec_delay`` (extra steps).
    ``soft_reset``: a spike subtracts the threshold (``v_reset=None``) instead of resetting to 0;
    each target says which it has (Loihi resets to 0, Xylo subtracts).  ``max_spikes``: spikes a
    neuron may emit per step (1, or more for :class:`~neuro.neurons.MultiSpikeCubaLIF`).
    """

    weight: np.ndarray
    beta_mem: float
    v_threshold: float | None = 1.0
    beta_syn: float | None = None
    delay: np.ndarray | None = None
    bias: np.ndarray | None = None
    name: str = ""
    rec_weight: np.ndarray | None = None
    rec_delay: np.ndarray | None = None
    soft_reset: bool = False
    max_spikes: int = 1


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, np.float64)


def _scalar_decay(value: torch.Tensor, what: str) -> float:
    v = value.detach().cpu().double().flatten()
    if v.numel() > 1 and not torch.allclose(v, v[0].expand_as(v)):
        raise ConfigError(f"{what}: per-neuron decays are not supported (Lava's LIF shares one du/dv per "
                          "population); train with shared decays")
    return float(v[0])


def float_layers(model: nn.Module) -> list[FloatLayer]:
    """Read a feed-forward neuro model into :class:`FloatLayer` s.

    Understood, in order: ``DelayedLinear`` (weights + integer delays), ``SeqLinear``/``nn.Linear``,
    an optional ``SeqBatchNorm`` right after (folded into weights and bias), then one of ``LIF``,
    ``IF``, ``CubaLIF``, ``LI``; a ``Recurrent`` layer (input projection, recurrent matrix and its
    neuron) is one recurrent layer, and a :class:`~neuro.models.lsm.LiquidStateMachine` is one
    recurrent layer (its reservoir; any model with ``as_sequential()`` is read as the chain it returns).
    ``SeqDropout``/``nn.Dropout``/``nn.Identity`` and ``Flatten``
    are skipped; anything else raises :class:`ConfigError` naming the module.
    """
    if hasattr(model, "as_sequential"):  # a model that is not a plain chain shows itself as one
        model = model.as_sequential()

    mods = [m for m in model.modules()
            if not list(m.children()) or isinstance(m, SpikingNeuron | DelayedLinear | SeqBatchNorm | Recurrent)]
    # keep leaves only (a SeqBatchNorm wraps a BatchNorm1d; neurons hold decay parameters)
    leaves: list[nn.Module] = []
    skip: set[int] = set()
    for m in mods:
        if id(m) in skip:
            continue
        if isinstance(m, SpikingNeuron | DelayedLinear | SeqBatchNorm | Recurrent):
            skip.update(id(c) for c in m.modules() if c is not m)
        leaves.append(m)
    out: list[FloatLayer] = []
    syn: dict[str, Any] | None = None
    for k, m in enumerate(leaves):
        name = f"{type(m).__name__}#{k}"
        if isinstance(m, DelayedLinear):
            w, d = m.synapses()
            syn = {"weight": _np(w), "delay": d.cpu().numpy().astype(np.int64),
                   "bias": _np(m.bias) if m.bias is not None else None, "name": name}
        elif isinstance(m, nn.Linear):
            syn = {"weight": _np(m.weight), "delay": None, "bias": _np(m.bias) if m.bias is not None else None,
                   "name": name}
        elif isinstance(m, SeqBatchNorm):
            if syn is None:
                raise ConfigError(f"{name}: batch norm must follow a linear layer to be folded")
            bias = syn["bias"] if syn["bias"] is not None else np.zeros(syn["weight"].shape[0])
            syn["weight"], syn["bias"] = (a.astype(np.float64) for a in fold_bn(syn["weight"], bias, m))
        elif isinstance(m, Recurrent):
            if syn is not None:
                raise ConfigError(f"{syn['name']}: a synapse layer followed by a Recurrent layer (two synapse "
                                  "layers in a row) has no Loihi equivalent; put a neuron population between them")
            if m.rec.bias is not None:
                raise ConfigError(f"{name}: a bias on the recurrent Linear is not supported; use the input's bias")
            out.append(_neuron_layer(m.neuron, {"weight": _np(m.ff.weight), "delay": None, "rec_weight": _np(
                m.rec.weight), "bias": _np(m.ff.bias) if m.ff.bias is not None else None, "name": name}, name))
        elif isinstance(m, SpikingNeuron):
            if syn is None:
                raise ConfigError(f"{name}: a neuron population must follow a synapse layer (Linear/DelayedLinear)")
            out.append(_neuron_layer(m, syn, name))
            syn = None
        elif isinstance(m, SeqDropout | nn.Dropout | nn.Identity | Flatten):
            continue
        elif isinstance(m, nn.BatchNorm1d):
            raise ConfigError(f"{name}: use SeqBatchNorm (time-major) so it can be folded")
        else:
            raise ConfigError(f"{name}: {type(m).__name__} is not supported by the Loihi export "
                              "(dense and delayed dense synapses with LIF/IF/CubaLIF/LI neurons only)")
    if syn is not None:
        raise ConfigError(f"{syn['name']}: the last synapse layer has no neuron population after it")
    if not out:
        raise ConfigError("no synapse + neuron layers found in the model")
    return out


def _neuron_layer(m: nn.Module, syn: dict[str, Any], name: str) -> FloatLayer:
    """A :class:`FloatLayer` from synapses ``syn`` and the neuron population ``m`` after them."""
    if not isinstance(m, LIF | CubaLIF) or getattr(m, "adaptive", False):
        raise ConfigError(f"{name}: {type(m).__name__} has no Loihi CUBA equivalent (LIF, IF, CubaLIF, LI)")
    if m.spiking and m.v_reset is not None and float(m.v_reset) != 0.0:
        raise ConfigError(f"{name}: hardware targets reset the voltage to 0 or subtract the threshold "
                          f"(v_reset=None), got v_reset={m.v_reset}")
    a_v, a_i = m.decays()
    beta_mem = _scalar_decay(a_v, name)
    beta_syn = None if a_i is None else _scalar_decay(a_i, name)
    w, b, r = syn["weight"], syn["bias"], syn.get("rec_weight")
    if isinstance(m, LIF) and not isinstance(m, CubaLIF) and m.decay_input:
        g = 1 - beta_mem
        w, b, r = w * g, (None if b is None else b * g), (None if r is None else r * g)
    return FloatLayer(weight=w, beta_mem=beta_mem, beta_syn=beta_syn, delay=syn["delay"], bias=b, rec_weight=r,
                      v_threshold=m.v_threshold if m.spiking and not isinstance(m, LI) else None, name=syn["name"],
                      soft_reset=bool(m.spiking and m.v_reset is None), max_spikes=int(getattr(m, "max_spikes", 1)))
