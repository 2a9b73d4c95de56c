"""Quantization of trained float networks to Loihi fixed point, and Loihi deployment files.

**From float to fixed point** (:func:`quantize`).  A network is a chain of synapse layers (weights
``[out, in]``, optional integer delays and a bias), each followed by a neuron population.  Because
every population emits binary spikes, each layer has its own scale: one float unit of membrane is
``scale = s_w * 2^weight_exp * 64`` integer state units, where

* ``s_w`` maps the largest weight onto the 8-bit mantissa with Lava's sign-mode rules: mixed-sign
  weights become even integers in ``[-256, 254]`` (``s_w = min(254 / max w, 256 / -min w)``),
  excitatory ones integers in ``[0, 255]`` and inhibitory ones ``[-255, 0]``;
* ``weight_exp`` (``-8..7``) is the largest shift that keeps the threshold mantissa
  ``vth = round(v_threshold * s_w * 2^weight_exp)`` at or below ``vth_target`` (``2^12`` by default:
  a 12-bit threshold, finer than the 8-bit weights, while ``v`` and the current can still hold 32
  thresholds before the 24-bit limit); a larger exponent makes threshold, bias and the decays'
  rounding finer at no cost in weight precision, but leaves less headroom;
* the voltage decay ``beta`` (``v <- beta v + ...``) becomes ``dv = round(4096 (1 - beta))``; a
  current decay ``beta_syn`` (CubaLIF) becomes ``du = round(4096 (1 - beta_syn)) - 1`` (Lava decays
  the current by ``du + 1``; ``du = -1`` keeps it).  Neurons without a synaptic current (LIF, IF,
  LI) get ``du = 4095``: the current then holds exactly this step's input (``u = a << 6``), so
  ``v <- beta v + W s + b`` as in neuro's ``LIF(decay_input=False)``.  ``LIF(decay_input=True)``
  scales its input by ``1 - beta``; that factor is folded into the weights and bias;
* a bias ``b`` (from a Linear bias or a folded batch norm) becomes ``bias_mant << bias_exp`` with
  ``bias_mant * 2^bias_exp = round(b * scale)``, the smallest ``bias_exp`` in ``0..7`` that fits the
  13-bit mantissa.  Loihi adds the bias to ``v``, not to the current, so a bias before a CubaLIF
  with a current decay has no exact equivalent and is refused;
* hard reset to 0 only (Loihi's reset); a soft reset, a non-zero ``v_reset``, adaptive thresholds
  and per-neuron decays (Lava shares one ``du``/``dv`` per population) are refused;
* a non-spiking readout (``LI``) is a population whose threshold is the largest mantissa and whose
  membrane is the output (:attr:`~neuro.backends.loihi.LoihiLayer.readout`).
* a recurrent layer (``Recurrent``, or a :class:`~neuro.models.lsm.LiquidStateMachine`'s input
  projection + reservoir) becomes one population with two Dense synapses, the input's and the
  recurrent one (``s[t-1] -> input``).  Both add into the same current, so they share one state
  scale: ``s_w`` is the smaller of the two matrices' ``s_w`` and ``weight_exp`` follows from the
  threshold as above; the other matrix (usually the recurrent one, whose weights are smaller) then
  uses the smallest exponent at which its mantissas still fit, so it keeps 8 significant bits
  (``R * s_w * 2^weight_exp = mantissa * 2^rec_weight_exp``).  Its weight error, exponent and sign
  mode are reported beside the input's;

Weights never saturate (``s_w`` is chosen so that the largest fits); other out-of-range values
(delays > 62, thresholds or biases beyond their mantissas even at the extreme exponents) raise
:class:`~neuro.errors.HardwareLimitError`, or with ``clip=True`` are clipped and counted in the
report.  A note warns when enough simultaneous input spikes could wrap the 24-bit current.
:class:`QuantReport` gives, per layer, the relative weight error, the quantized threshold,
decays and bias, and what was clipped.

**Timing.**  Loihi synapses deliver one step late (and ``d`` more through a delay), so layer ``l``'s
output at Loihi step ``t + l + 1`` is neuro's output at step ``t`` (:func:`evaluate_loihi` pads the
input and realigns).

**Deployment files** (:func:`export_loihi`, :func:`load_loihi`) use lava-dl netx's HDF5 layout: a
``layer`` group with one group per layer (``'0'..'n-1'``, input to output) holding the datasets
``type`` (``dense``), ``shape``, ``inFeatures``, ``outFeatures``, ``weight`` (``[out, in]``),
``delay`` (``[out, in]``, delayed layers only), ``bias`` (the bias mantissa) and ``neuron/{type
= CUBA, iDecay = du + 1, vDecay = dv, vThMant = vth, refDelay = 1, gradedSpike}``.  What netx's
layout has no field for is stored beside it: ``weightExp``, ``numWeightBits``, ``signMode``
(0 = inferred), ``numMessageBits``, ``biasExp`` (per neuron), ``readout`` and ``stateScale``.
netx itself reads the weights without ``weightExp`` and with ``bias_exp = 6``, so a file reads
the same in netx only when ``weightExp = 0`` and ``biasExp = 6``; the lava bridge reads all fields.
A recurrent layer stores its recurrent Dense in a ``recurrent`` subgroup (``weight`` ``[out, out]``,
optional ``delay``, ``weightExp``, ``numWeightBits``, ``signMode``); netx has no such field and would
read the layer as feed-forward, so such files are for neuro and its lava bridge.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from neuro.backends.loihi import (
    EXCITATORY,
    INHIBITORY,
    MAX_DELAY,
    MAX_VTH,
    MIXED,
    LoihiLayer,
    LoihiNetwork,
    simulate,
)
from neuro.errors import ConfigError, DataError, DTypeError, HardwareLimitError, NeuroError, ShapeError

FORMAT = "neuro-loihi-netx/1"


# --------------------------------------------------------------------------- float description
@dataclass
class FloatLayer:
    """A float synapse layer and the neurons after it: the generic input of :func:`quantize`.

    ``weight [out, in]``; ``delay [out, in]`` integer steps or ``None``; ``bias [out]`` or ``None``
    (added to the neuron's input every step); ``beta_mem`` the voltage decay; ``beta_syn`` the current
    decay (``None``: no synaptic current); ``v_threshold`` (``None``: non-spiking readout).
    ``rec_weight [out, out]`` (post, pre): the population's own spikes of the previous step, added to
    its input (``h[t] = ... + W x[t] + R s[t-1]``), with optional integer ``rec_delay`` (extra steps).
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
    recurrent layer (its reservoir).  ``SeqDropout``/``nn.Dropout``/``nn.Identity`` and ``Flatten``
    are skipped; anything else raises :class:`ConfigError` naming the module.
    """
    from neuro.export.nir import _fold_bn
    from neuro.layers import Flatten, Recurrent, SeqBatchNorm, SeqDropout
    from neuro.layers.delay import DelayedLinear
    from neuro.models.lsm import LiquidStateMachine
    from neuro.neurons import SpikingNeuron

    if isinstance(model, LiquidStateMachine):
        return [_neuron_layer(model.neuron, {"weight": _np(model.w_in), "delay": None, "bias": None,
                                             "rec_weight": _np(model.w_rec), "name": "reservoir"}, "reservoir")]

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
            syn["weight"], syn["bias"] = (a.astype(np.float64) for a in _fold_bn(syn["weight"], bias, m))
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
    from neuro.neurons import LI, LIF, CubaLIF

    if not isinstance(m, LIF | CubaLIF) or getattr(m, "adaptive", False):
        raise ConfigError(f"{name}: {type(m).__name__} has no Loihi CUBA equivalent (LIF, IF, CubaLIF, LI)")
    if m.spiking and m.v_reset is None:
        raise ConfigError(f"{name}: soft (subtractive) reset does not exist on Loihi; use v_reset=0.0")
    if m.spiking and float(m.v_reset) != 0.0:
        raise ConfigError(f"{name}: Loihi resets the voltage to 0, got v_reset={m.v_reset}")
    a_v, a_i = m.decays()
    beta_mem = _scalar_decay(a_v, name)
    beta_syn = None if a_i is None else _scalar_decay(a_i, name)
    w, b, r = syn["weight"], syn["bias"], syn.get("rec_weight")
    if isinstance(m, LIF) and not isinstance(m, CubaLIF) and m.decay_input:
        g = 1 - beta_mem
        w, b, r = w * g, (None if b is None else b * g), (None if r is None else r * g)
    return FloatLayer(weight=w, beta_mem=beta_mem, beta_syn=beta_syn, delay=syn["delay"], bias=b, rec_weight=r,
                      v_threshold=m.v_threshold if m.spiking and not isinstance(m, LI) else None, name=syn["name"])


# --------------------------------------------------------------------------- quantization
@dataclass
class LayerReport:
    """What quantization did to one layer (float values are in the float network's units)."""

    name: str
    n_in: int
    n_out: int
    sign_mode: str
    weight_exp: int
    scale: float
    weight_rel_error: float
    weight_max_abs_error: float
    v_threshold: float | None
    v_threshold_quantized: float | None
    vth: int
    beta_mem: float
    beta_mem_quantized: float
    beta_syn: float | None
    beta_syn_quantized: float
    du: int
    dv: int
    bias_max_abs_error: float = 0.0
    max_delay: int = 0
    clipped_thresholds: int = 0
    clipped_delays: int = 0
    clipped_biases: int = 0
    notes: list[str] = field(default_factory=list)
    rec_sign_mode: str | None = None
    rec_weight_exp: int | None = None
    rec_weight_rel_error: float | None = None
    rec_weight_max_abs_error: float | None = None
    rec_max_delay: int = 0


@dataclass
class QuantReport:
    layers: list[LayerReport]

    def to_dict(self) -> dict[str, Any]:
        return {"layers": [asdict(la) for la in self.layers]}

    def rows(self) -> list[list[Any]]:
        return [[la.name, f"{la.n_in}->{la.n_out}", la.sign_mode, la.weight_exp, f"{la.weight_rel_error:.4f}",
                 "-" if la.rec_weight_exp is None else la.rec_weight_exp,
                 "-" if la.rec_weight_rel_error is None else f"{la.rec_weight_rel_error:.4f}",
                 la.vth, la.du, la.dv, la.max_delay, la.clipped_thresholds + la.clipped_delays + la.clipped_biases]
                for la in self.layers]

    HEADER = ["layer", "size", "sign", "w_exp", "weight rel err", "rec w_exp", "rec rel err", "vth", "du", "dv",
              "max delay", "clipped"]

    def __str__(self) -> str:
        lines = ["  ".join(self.HEADER)] + ["  ".join(str(c) for c in r) for r in self.rows()]
        for la in self.layers:
            lines += [f"{la.name}: {n}" for n in la.notes]
        return "\n".join(lines)


def _limit(what: str, clip: bool, report: LayerReport, n: int, msg: str) -> None:
    if n == 0:
        return
    if not clip:
        raise HardwareLimitError(f"{report.name}: {msg}; pass clip=True to clip and report instead")
    setattr(report, what, getattr(report, what) + n)
    report.notes.append(f"clipped: {msg}")


def _grid(w: np.ndarray) -> tuple[int, int, int, int, float]:
    """Sign mode, mantissa range ``[lo, hi]`` and step, and the largest scale that fits ``w`` (Lava's rules)."""
    wmax, wmin = float(w.max(initial=0.0)), float(w.min(initial=0.0))
    if wmin >= 0:
        return EXCITATORY, 255, 0, 1, (255 / wmax if wmax > 0 else 1.0)
    if wmax <= 0:
        return INHIBITORY, 0, -255, 1, 255 / -wmin
    return MIXED, 254, -256, 2, min(254 / wmax, 256 / -wmin)


def _mantissas(w: np.ndarray, s_w: float, weight_exp: int, grid: tuple) -> tuple[int, np.ndarray, float, float]:
    """Integer mantissas for ``w`` at ``s_w * 2^weight_exp`` mantissa units per float unit, with the
    smallest exponent (at most ``weight_exp``) whose mantissas still fit: a matrix of smaller
    weights than the one that set ``s_w`` gets finer mantissas.  Returns (exponent, mantissas,
    relative error, largest absolute error)."""
    mode, hi, lo, step, s_own = grid
    e = weight_exp
    if np.any(w) and s_own > s_w:
        e = max(-8, weight_exp - math.floor(math.log2(s_own / s_w) + 1e-12))
    f = s_w * 2.0 ** (weight_exp - e)
    m = np.clip(np.round(w * f / step) * step, lo, hi).astype(np.int64)  # f <= s_own: every weight fits
    wq = m / f
    norm = float(np.linalg.norm(w))
    return e, m, float(np.linalg.norm(wq - w) / norm) if norm > 0 else 0.0, float(np.abs(wq - w).max(initial=0.0))


def quantize_layer(
    fl: FloatLayer,
    *,
    clip: bool = False,
    weight_exp: int | None = None,
    vth_target: int = 1 << 12,
    max_delay: int = MAX_DELAY,
    num_message_bits: int = 0,
) -> tuple[LoihiLayer, LayerReport]:
    """Quantize one :class:`FloatLayer` (see the module docstring for the rules)."""
    name = fl.name or "layer"
    w = np.asarray(fl.weight, np.float64)
    if w.ndim != 2:
        raise ShapeError(f"{name}: weight must be [out, in], got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ConfigError(f"{name}: weights contain NaN or inf")
    n_out, n_in = w.shape
    mode, *_, s_w = _grid(w)
    thr = fl.v_threshold
    if thr is not None and not (math.isfinite(thr) and thr > 0):
        raise ConfigError(f"{name}: Loihi thresholds are positive, got v_threshold={thr}")
    rec = None
    if fl.rec_weight is not None:
        rec = np.asarray(fl.rec_weight, np.float64)
        if rec.shape != (n_out, n_out):
            raise ShapeError(f"{name}: the recurrent weight must be [out, out] = ({n_out}, {n_out}) (post, pre), "
                             f"got shape {rec.shape}")
        if not np.isfinite(rec).all():
            raise ConfigError(f"{name}: recurrent weights contain NaN or inf")
        if thr is None:
            raise ConfigError(f"{name}: a non-spiking readout cannot be recurrent (it emits no spikes to feed back); "
                              "give the population a threshold")
        s_in = s_w if np.any(w) else math.inf
        s_rec = _grid(rec)[4] if np.any(rec) else math.inf
        s_w = min(s_in, s_rec) if min(s_in, s_rec) < math.inf else 1.0  # both matrices share the state scale
    if weight_exp is None:
        if thr is not None:
            weight_exp = math.floor(math.log2(vth_target / (thr * s_w)))
        else:  # readout: keep the worst-case membrane (all inputs every step) below 2^22
            worst = np.abs(w).sum(1).max(initial=0.0) * s_w * 64 / max(1e-9, 1 - fl.beta_mem)
            worst += (np.abs(fl.bias).max(initial=0.0) * s_w * 64 if fl.bias is not None else 0.0)
            weight_exp = math.floor(math.log2((1 << 22) / worst)) if worst > 0 else 0
        weight_exp = int(min(7, max(-8, weight_exp)))
    scale = s_w * 2.0**weight_exp * 64
    rep = LayerReport(name=name, n_in=n_in, n_out=n_out, sign_mode={1: "mixed", 2: "excitatory", 3: "inhibitory"}[mode],
                      weight_exp=weight_exp, scale=scale, weight_rel_error=0.0, weight_max_abs_error=0.0,
                      v_threshold=thr, v_threshold_quantized=None, vth=MAX_VTH, beta_mem=fl.beta_mem,
                      beta_mem_quantized=0.0, beta_syn=fl.beta_syn, beta_syn_quantized=0.0, du=0, dv=0)
    # weights: mantissas on the sign mode's grid
    e_in, m, rep.weight_rel_error, rep.weight_max_abs_error = _mantissas(w, s_w, weight_exp, _grid(w))
    rec_q: dict[str, Any] = {}
    if rec is not None:
        rgrid = _grid(rec)
        e_rec, m_rec, rep.rec_weight_rel_error, rep.rec_weight_max_abs_error = _mantissas(rec, s_w, weight_exp, rgrid)
        rep.rec_weight_exp = e_rec
        rep.rec_sign_mode = {1: "mixed", 2: "excitatory", 3: "inhibitory"}[rgrid[0]]
        rec_q = {"rec_weights": m_rec, "rec_weight_exp": e_rec, "rec_sign_mode": rgrid[0], "rec_num_weight_bits": 8}
        if fl.rec_delay is not None:
            rd = np.asarray(fl.rec_delay)
            if rd.shape != rec.shape:
                raise ShapeError(f"{name}: rec_delay must have the recurrent weight's shape {rec.shape}, "
                                 f"got {rd.shape}")
            if not np.array_equal(rd, np.round(rd)) or (rd.size and rd.min() < 0):
                raise HardwareLimitError(f"{name}: recurrent delays must be non-negative integers (round them first)")
            rd = rd.astype(np.int64)
            n_long = int((rd > max_delay).sum())
            _limit("clipped_delays", clip, rep, n_long,
                   f"{n_long} recurrent delays exceed the Loihi limit of {max_delay} steps (largest {int(rd.max())})")
            rec_q["rec_delays"] = np.minimum(rd, max_delay)
            rep.rec_max_delay = int(rec_q["rec_delays"].max(initial=0))
    # delays
    delays = None
    if fl.delay is not None:
        d = np.asarray(fl.delay)
        if d.shape != w.shape:
            raise ShapeError(f"{name}: delay must have the weight's shape {w.shape}, got {d.shape}")
        if not np.array_equal(d, np.round(d)) or (d.size and d.min() < 0):
            raise HardwareLimitError(f"{name}: delays must be non-negative integers (round them first)")
        d = d.astype(np.int64)
        n_long = int((d > max_delay).sum())
        _limit("clipped_delays", clip, rep, n_long,
               f"{n_long} delays exceed the Loihi limit of {max_delay} steps (largest {int(d.max())})")
        delays = np.minimum(d, max_delay)
        rep.max_delay = int(delays.max(initial=0))
    # threshold
    if thr is not None:
        vth = round(thr * s_w * 2.0**weight_exp)
        bad = vth > MAX_VTH or vth < 1
        _limit("clipped_thresholds", clip, rep, int(bad), f"threshold mantissa {vth} outside [1, {MAX_VTH}]")
        vth = int(min(MAX_VTH, max(1, vth)))
        rep.vth = vth
        rep.v_threshold_quantized = vth / (s_w * 2.0**weight_exp)
    else:
        vth = MAX_VTH
        rep.notes.append("readout: non-spiking (threshold at the largest mantissa); its membrane is the output")
    # decays
    if not 0.0 <= fl.beta_mem <= 1.0 or (fl.beta_syn is not None and not 0.0 <= fl.beta_syn <= 1.0):
        raise ConfigError(f"{name}: decays must be in [0, 1]")
    dv = int(round(4096 * (1 - fl.beta_mem)))
    du = 4095 if fl.beta_syn is None else int(round(4096 * (1 - fl.beta_syn))) - 1
    rep.du, rep.dv = du, dv
    rep.beta_mem_quantized = (4096 - dv) / 4096
    rep.beta_syn_quantized = (4096 - du - 1) / 4096
    # bias
    bias_mant = np.zeros(n_out, np.int64)
    bias_exp = np.zeros(n_out, np.int64)
    if fl.bias is not None and np.any(fl.bias != 0):
        if fl.beta_syn is not None and fl.beta_syn > 0:
            raise ConfigError(f"{name}: a bias into a CubaLIF with a current decay has no exact Loihi equivalent "
                              "(Loihi adds the bias to the voltage); train without bias or use LIF")
        b = np.asarray(fl.bias, np.float64) * scale
        bint = np.round(b)
        need = np.zeros(n_out, np.int64)
        big = np.abs(bint) > 4095
        need[big] = np.ceil(np.log2(np.abs(bint[big]) / 4095)).astype(np.int64)
        n_b = int((need > 7).sum())
        _limit("clipped_biases", clip, rep, n_b, f"{n_b} biases exceed 4095 << 7")
        bias_exp = np.minimum(need, 7)
        bias_mant = np.clip(np.round(b / 2.0**bias_exp), -4096, 4095).astype(np.int64)
        rep.bias_max_abs_error = float(np.abs(bias_mant * 2.0**bias_exp / scale - fl.bias).max())
    worst_in = float(np.abs(m).sum(1).max(initial=0)) * 2.0**e_in * 64
    if rec_q:
        worst_in += float(np.abs(rec_q["rec_weights"]).sum(1).max(initial=0)) * 2.0**rec_q["rec_weight_exp"] * 64
    if worst_in >= 1 << 23:
        rep.notes.append(f"the current can wrap (24 bits) if more than {int((1 << 23) / worst_in * n_in)} "
                         "inputs spike in one step")
    layer = LoihiLayer(weights=m, delays=delays, du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp,
                       weight_exp=e_in, num_weight_bits=8, sign_mode=mode, num_message_bits=num_message_bits,
                       readout=thr is None, state_scale=scale, name=name, **rec_q)
    layer.validate(name)
    return layer, rep


def quantize(
    model: nn.Module | LoihiNetwork | list[FloatLayer] | list[dict],
    *,
    clip: bool = False,
    weight_exp: int | list[int | None] | None = None,
    vth_target: int = 1 << 12,
    max_delay: int = MAX_DELAY,
    num_message_bits: int = 0,
) -> tuple[LoihiNetwork, QuantReport]:
    """Quantize a float network to Loihi fixed point; returns the network and a :class:`QuantReport`.

    Args:
        model: a neuro model (read with :func:`float_layers`), or a list of :class:`FloatLayer`
            (or dicts with its fields: ``weight``, ``delay``, ``bias``, ``beta_mem``, ``beta_syn``,
            ``v_threshold``), e.g. from another training framework.
        clip: clip what does not fit and report it, instead of raising :class:`HardwareLimitError`.
        weight_exp: force the weight exponent (one for all layers or a list), else chosen per layer.
        vth_target: largest threshold mantissa the automatic exponent aims for.
        max_delay: delay limit (62 as lava-dl/netx).
        num_message_bits: > 0 when the input carries graded integer payloads.
    """
    if isinstance(model, LoihiNetwork):
        return model, QuantReport([])
    if isinstance(model, nn.Module):
        fls = float_layers(model)
    else:
        fls = [fl if isinstance(fl, FloatLayer) else FloatLayer(**fl) for fl in model]
    exps = weight_exp if isinstance(weight_exp, list) else [weight_exp] * len(fls)
    if len(exps) != len(fls):
        raise ConfigError(f"weight_exp has {len(exps)} entries for {len(fls)} layers")
    layers, reports = [], []
    for k, (fl, e) in enumerate(zip(fls, exps, strict=True)):
        if not fl.name:
            fl.name = f"layer{k}"
        la, rep = quantize_layer(fl, clip=clip, weight_exp=e, vth_target=vth_target, max_delay=max_delay,
                                 num_message_bits=num_message_bits if k == 0 else 0)
        layers.append(la)
        reports.append(rep)
    net = LoihiNetwork(layers)
    net.validate()
    return net, QuantReport(reports)


# --------------------------------------------------------------------------- evaluation
def model_padding(model: nn.Module) -> int:
    """Zero steps a neuro model appends to its input (the ``right_pad`` of its delayed layers)."""
    return sum(int(getattr(m, "right_pad", 0)) for m in model.modules())


def graded_message_bits(x: torch.Tensor | np.ndarray) -> int:
    """0 when ``x`` holds binary spikes (only 0 and 1), else the payload width its graded values
    (spike counts) need on Loihi: at least 8 bits, more for counts above 255."""
    t = torch.as_tensor(x)
    if t.numel() == 0 or bool(((t == 0) | (t == 1)).all()):
        return 0
    return max(8, int(t.abs().max()).bit_length())


def evaluate_loihi(
    model: nn.Module | LoihiNetwork,
    inputs: torch.Tensor,
    *,
    clip: bool = False,
    device: str | torch.device | None = None,
    num_message_bits: int | None = None,
    **quantize_options: Any,
) -> dict[str, Any]:
    """Run a model the way Loihi would: quantize, simulate in fixed point, realign and dequantize.

    ``inputs`` are ``[T, B, n_in]``: binary spikes (0/1) or graded whole-number payloads such as
    spike counts per time bin.  ``num_message_bits`` is the payload width of the first layer's
    input messages: ``None`` (default) detects it from ``inputs`` (0 for binary spikes, else
    :func:`graded_message_bits`); ``0`` declares binary spikes, and then graded inputs are refused
    (Loihi would read every non-zero count as one spike); a positive width is used as given.
    A quantized :class:`LoihiNetwork` brings its own width: graded inputs need
    ``layers[0].num_message_bits > 0`` (``quantize(..., num_message_bits=8)``).

    The input is padded by the model's own padding and by the synapses' pipeline latency (one
    step per layer), and the output is realigned with neuro's timeline.  Returns ``{"output":
    [T', B, n_out] float`` (the readout membrane in float units for a non-spiking last layer, else
    its spikes), ``"spikes"``: per-layer spike counts, ``"num_message_bits"``, ``"network"`` and
    ``"report"``}; ``T'`` is the float model's output length.  Extra keyword arguments go to
    :func:`quantize` (e.g. ``weight_exp=0`` for more voltage headroom).

    The float model pads each delayed layer's input separately; here the input is padded once
    by the total, so activity during the padding can differ slightly (documented, not hidden).
    """
    x = torch.as_tensor(inputs)
    if x.dim() != 3:
        raise ShapeError(f"inputs must be [T, B, n_in] (spikes or counts), got shape {tuple(x.shape)}")
    if x.is_floating_point() and not (torch.isfinite(x).all() and torch.equal(x, x.trunc())):
        raise DTypeError("inputs must be spikes (0/1) or whole-number counts; got fractional, NaN or inf values")
    graded = graded_message_bits(x)
    fix = ("leave num_message_bits unset to detect graded input (or pass num_message_bits=8), or binarize "
           "the input yourself with (x > 0)")
    if isinstance(model, LoihiNetwork):
        net, report = model, QuantReport([])
        bits = net.layers[0].num_message_bits
        if graded and not bits:
            raise ConfigError("inputs hold graded values (counts up to "
                              f"{int(x.abs().max())}) but the network's first layer reads binary spikes "
                              "(num_message_bits=0); quantize it with num_message_bits=8, or binarize the input "
                              "with (x > 0)")
    else:
        bits = graded if num_message_bits is None else int(num_message_bits)
        if graded and not bits:
            raise ConfigError(f"inputs hold graded values (counts up to {int(x.abs().max())}) but "
                              f"num_message_bits=0 reads every non-zero value as one spike; {fix}")
        net, report = quantize(model, clip=clip, num_message_bits=bits, **quantize_options)
    if hasattr(model, "pad_input"):
        x = model.pad_input(x)  # the model's fixed readout horizon, as its forward pads
    pad = model_padding(model) if isinstance(model, nn.Module) else 0
    L = len(net.layers)
    T_out = x.shape[0] + pad
    xp = torch.cat([x.to(torch.int64).cpu(), torch.zeros((pad + L, *x.shape[1:]), dtype=torch.int64)])
    r = simulate(net, xp, record=net.layers[-1].readout, device=device)
    last = net.layers[-1]
    if last.readout:
        out = r.v[-1][L:L + T_out].double() / last.state_scale  # type: ignore[index]
    else:
        out = r.spikes[-1][L:L + T_out].double()
    return {"output": out.float(), "spikes": [int(s.sum()) for s in r.spikes], "num_message_bits": bits,
            "network": net, "report": report}


# --------------------------------------------------------------------------- deployment files
def _s10(text: str) -> np.ndarray:
    return np.array([text.encode("ascii")], dtype="S10")


def export_loihi(model: nn.Module | LoihiNetwork, path: str | os.PathLike, *, clip: bool = False,
                 num_message_bits: int = 0) -> QuantReport:
    """Write a Loihi deployment file (lava-dl netx HDF5 layout, see the module docstring).

    ``model`` is a quantized :class:`LoihiNetwork` or a float neuro model (quantized first, with
    ``num_message_bits`` > 0 when its input will be graded counts rather than binary spikes).
    Returns the quantization report (empty for an already quantized network).  The file is
    written next to ``path`` and renamed into place: a failed export leaves nothing behind.
    """
    net, report = quantize(model, clip=clip, num_message_bits=num_message_bits)
    net.validate()
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"cannot write {os.fspath(path)}: the folder {folder} does not exist; create it first")
    tmp = f"{os.fspath(path)}.tmp"
    try:
        _write_netx(net, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return report


def _write_netx(net: LoihiNetwork, tmp: str) -> None:
    import h5py

    with h5py.File(tmp, "w") as h:
        h.create_dataset("format", data=np.array([FORMAT.encode()], dtype="S32"))
        grp = h.create_group("layer")
        for k, la in enumerate(net.layers):
            g = grp.create_group(str(k))
            g.create_dataset("type", data=_s10("dense"))
            g.create_dataset("shape", data=np.array([la.n_out], np.int64))
            g.create_dataset("inFeatures", data=la.n_in)
            g.create_dataset("outFeatures", data=la.n_out)
            g.create_dataset("weight", data=la.weights.astype(np.float64))
            if la.delays is not None:
                g.create_dataset("delay", data=la.delays.astype(np.int64))
            g.create_dataset("bias", data=la.bias_mant.astype(np.float64))
            g.create_dataset("biasExp", data=np.broadcast_to(np.asarray(la.bias_exp, np.int64), (la.n_out,)))
            g.create_dataset("weightExp", data=la.weight_exp)
            g.create_dataset("numWeightBits", data=la.num_weight_bits)
            g.create_dataset("signMode", data=0 if la.sign_mode is None else la.sign_mode)
            g.create_dataset("numMessageBits", data=la.num_message_bits)
            g.create_dataset("readout", data=int(la.readout))
            g.create_dataset("stateScale", data=float(la.state_scale))
            g.create_dataset("name", data=np.array([la.name.encode()], dtype=f"S{max(1, len(la.name))}"))
            if la.recurrent:
                r = g.create_group("recurrent")
                r.create_dataset("weight", data=la.rec_weights.astype(np.float64))
                if la.rec_delays is not None:
                    r.create_dataset("delay", data=la.rec_delays.astype(np.int64))
                r.create_dataset("weightExp", data=la.rec_weight_exp)
                r.create_dataset("numWeightBits", data=la.rec_num_weight_bits)
                r.create_dataset("signMode", data=0 if la.rec_sign_mode is None else la.rec_sign_mode)
            n = g.create_group("neuron")
            n.create_dataset("type", data=_s10("CUBA"))
            n.create_dataset("iDecay", data=la.du + 1)
            n.create_dataset("vDecay", data=la.dv)
            n.create_dataset("vThMant", data=la.vth)
            n.create_dataset("refDelay", data=1)
            n.create_dataset("gradedSpike", data=0)


def load_loihi(path: str | os.PathLike) -> LoihiNetwork:
    """Read a deployment file written by :func:`export_loihi` (or a netx file of dense CUBA layers).

    Anything malformed (not HDF5, truncated, missing or mistyped datasets, values outside Loihi's
    ranges) raises :class:`DataError` naming the file; no other exception escapes.  The layers are
    validated as :meth:`LoihiNetwork.validate` does.  Only data is read, in a child process with a
    time limit (:func:`neuro.export.hdf5.read_hdf5_tree`).
    """
    from neuro.export.hdf5 import read_hdf5_tree

    p = os.fspath(path)
    specs = _read_netx(read_hdf5_tree(p, "Loihi network"), p)
    try:
        net = LoihiNetwork([LoihiLayer(**spec) for spec in specs])
        net.validate()
    except NeuroError as e:
        raise DataError(f"{p}: {e}") from None
    return net


def _read_netx(h: dict[str, Any], p: str) -> list[dict[str, Any]]:
    """The layers of a netx file's content (:func:`~neuro.export.hdf5.read_hdf5_tree`) as
    :class:`LoihiLayer` keyword arguments, types and shapes checked."""

    def group(parent: dict[str, Any], name: str, where: str, required: bool = True) -> Any:
        g = parent.get(name)
        if g is None and not required:
            return None
        if not isinstance(g, dict):
            raise DataError(f"{p}: {where} has no {name!r} group; expected the lava-dl netx HDF5 layout")
        return g

    def array(g: dict[str, Any], name: str, where: str, default: Any = None, integer: bool = True) -> np.ndarray:
        ds = g.get(name)
        if ds is None:
            if default is None:
                raise DataError(f"{p}: {where} has no {name!r} dataset")
            return np.asarray(default)
        if not isinstance(ds, np.ndarray) or ds.dtype.kind not in "biuf":
            raise DataError(f"{p}: {where}/{name} must be a numeric dataset")
        a = ds
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise DataError(f"{p}: {where}/{name} holds NaN or inf")
        if integer:
            if not np.array_equal(a, np.trunc(a)) or (a.size and np.abs(a).max() >= 2**31):
                raise DataError(f"{p}: {where}/{name} must hold whole numbers below 2^31")
            return a.astype(np.int64)
        return a.astype(np.float64)

    def scalar(g: Any, name: str, where: str, default: Any, integer: bool = True) -> Any:
        a = array(g, name, where, default, integer)
        if a.size != 1:
            raise DataError(f"{p}: {where}/{name} must be one number, got shape {a.shape}")
        return int(a.reshape(())) if integer else float(a.reshape(()))

    def text(g: dict[str, Any], name: str, where: str) -> str | None:
        ds = g.get(name)
        if ds is None:
            return None
        if not isinstance(ds, np.ndarray) or ds.dtype.kind != "U" or ds.size != 1:
            raise DataError(f"{p}: {where}/{name} must be one string")
        return str(ds.reshape(-1)[0])

    top = group(h, "layer", "the file")
    keys = list(top)
    if not keys or sorted(keys) != sorted(str(k) for k in range(len(keys))):
        raise DataError(f"{p}: the 'layer' group must hold layers '0'..'n-1', got {sorted(keys)[:10]}")
    specs = []
    for k in range(len(keys)):
        where = f"layer/{k}"
        g = group(top, str(k), "the 'layer' group")
        kind = text(g, "type", where)
        if kind != "dense":
            raise DataError(f"{p}: {where} has type {kind!r}; only dense layers are supported")
        weights = array(g, "weight", where)
        if weights.ndim != 2 or min(weights.shape) == 0:
            raise DataError(f"{p}: {where}/weight must be a non-empty [out, in] array, got shape {weights.shape}")
        n_out = weights.shape[0]
        for name, want in (("outFeatures", n_out), ("inFeatures", weights.shape[1])):
            if name in g and scalar(g, name, where, 0) != want:
                raise DataError(f"{p}: {where}/{name} = {scalar(g, name, where, 0)} does not match the weight's "
                                f"shape {weights.shape}")
        nrn = group(g, "neuron", where, required=False)
        spec: dict[str, Any] = {"weights": weights}
        if "delay" in g:
            spec["delays"] = array(g, "delay", where)
        if nrn is not None:
            spec.update(du=scalar(nrn, "iDecay", f"{where}/neuron", 0) - 1,
                        dv=scalar(nrn, "vDecay", f"{where}/neuron", 4096),
                        vth=scalar(nrn, "vThMant", f"{where}/neuron", MAX_VTH))
        else:
            spec.update(du=-1, dv=4096, vth=MAX_VTH)
        for name, field_, default in (("bias", "bias_mant", 0), ("biasExp", "bias_exp", 6)):
            a = array(g, name, where, default).reshape(-1)
            if a.size not in (1, n_out):
                raise DataError(f"{p}: {where}/{name} must have 1 or {n_out} values, got {a.size}")
            spec[field_] = np.broadcast_to(a, (n_out,)).copy()
        state_scale = scalar(g, "stateScale", where, 1.0, integer=False)
        if not state_scale > 0:
            raise DataError(f"{p}: {where}/stateScale must be > 0, got {state_scale}")
        readout = scalar(g, "readout", where, 0)
        if readout not in (0, 1):
            raise DataError(f"{p}: {where}/readout must be 0 or 1, got {readout}")
        spec.update(weight_exp=scalar(g, "weightExp", where, 0), num_weight_bits=scalar(g, "numWeightBits", where, 8),
                    sign_mode=scalar(g, "signMode", where, 0) or None,
                    num_message_bits=scalar(g, "numMessageBits", where, 0), readout=bool(readout),
                    state_scale=state_scale, name=text(g, "name", where) or f"layer{k}")
        r = group(g, "recurrent", where, required=False)
        if r is not None:
            rw = f"{where}/recurrent"
            spec.update(rec_weights=array(r, "weight", rw),
                        rec_delays=array(r, "delay", rw) if "delay" in r else None,
                        rec_weight_exp=scalar(r, "weightExp", rw, 0),
                        rec_num_weight_bits=scalar(r, "numWeightBits", rw, 8),
                        rec_sign_mode=scalar(r, "signMode", rw, 0) or None)
        specs.append(spec)
    return specs
