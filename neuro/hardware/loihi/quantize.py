"""Quantization of trained float networks to Loihi fixed point.

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
  membrane is the output (:attr:`~neuro.hardware.loihi.network.LoihiLayer.readout`).
* a recurrent layer (``Recurrent``, or a :class:`~neuro.models.lsm.LiquidStateMachine`'s input
  projection + reservoir) becomes one population with two Dense synapses, the input's and the
  recurrent one (``s[t-1] -> input``).  Both add into the same current, so they share one state
  scale: ``s_w`` is the smaller of the two matrices' ``s_w`` and ``weight_exp`` follows from the
  threshold as above; the other matrix (usually the recurrent one, whose weights are smaller) then
  uses the smallest exponent at which its mantissas still fit, so it keeps 8 significant bits
  (``R * s_w * 2^weight_exp = mantissa * 2^rec_weight_exp``).  Its weight error, exponent and sign
  mode are reported beside the input's;

**Two quantizations.**  The rules above are ``quantization="fine"``: the finest grid Lava's
models allow.  lava-dl netx, the loader of Loihi deployment files, reads the file's integer
weights at weight exponent 0 (it picks its own exponent for the same integer values and ignores
a stored one) and the biases at bias exponent 6, so ``quantization="netx"`` (what ``neuro export
--to loihi`` writes by default) keeps to what it reads:

* every synapse (input and recurrent) has weight exponent 0, so ``scale = s_w * 64``; ``s_w`` is
  lowered where needed so that the threshold mantissa fits (``thr * s_w <= 131071``) and, for a
  readout, so that the worst-case membrane stays below ``2^22`` (fine uses a negative exponent);
* every bias is ``bias_mant << 6`` with ``bias_mant = round(b * s_w)`` in the 13-bit range;
* the threshold mantissa is ``round(v_threshold * s_w)``: usually a few hundred steps instead of
  about 4096, so thresholds, biases and the decays' rounding are coarser;
* a recurrent layer becomes netx's ``dense_rec`` (input and recurrent weights at one exponent);
  netx applies a layer's input delays to its recurrent synapses too and drops the weight exponent
  when there are delays, so a recurrent layer with input or recurrent delays is refused.

Weights never saturate (``s_w`` is chosen so that the largest fits); other out-of-range values
(delays > 62, thresholds or biases beyond their mantissas even at the extreme exponents) raise
:class:`~neuro.errors.HardwareLimitError`, or with ``clip=True`` are clipped and counted in the
report.  A note warns when enough simultaneous input spikes could wrap the 24-bit current.
:class:`QuantReport` gives, per layer, the relative weight error, the quantized threshold,
decays and bias, and what was clipped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from torch import nn

from neuro.errors import ConfigError, HardwareLimitError, ShapeError
from neuro.hardware.float_layers import FloatLayer, float_layers
from neuro.hardware.loihi.network import EXCITATORY, INHIBITORY, MAX_DELAY, MAX_VTH, MIXED, LoihiLayer, LoihiNetwork


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


QUANTIZATIONS = ("netx", "fine")


def _mantissas(w: np.ndarray, s_w: float, weight_exp: int, grid: tuple,
               finer: bool = True) -> tuple[int, np.ndarray, float, float]:
    """Integer mantissas for ``w`` at ``s_w * 2^weight_exp`` mantissa units per float unit, with the
    smallest exponent (at most ``weight_exp``; exactly ``weight_exp`` unless ``finer``) whose mantissas
    still fit: a matrix of smaller weights than the one that set ``s_w`` gets finer mantissas.
    Returns (exponent, mantissas, relative error, largest absolute error)."""
    mode, hi, lo, step, s_own = grid
    e = weight_exp
    if finer and np.any(w) and s_own > s_w:
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
    quantization: str = "fine",
) -> tuple[LoihiLayer, LayerReport]:
    """Quantize one :class:`FloatLayer` (see the module docstring for the rules and the two ``quantization`` s)."""
    name = fl.name or "layer"
    if quantization not in QUANTIZATIONS:
        raise ConfigError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {quantization!r}")
    netx = quantization == "netx"
    if netx and weight_exp not in (None, 0):
        raise ConfigError(f"{name}: the netx quantization has weight exponent 0 (lava-dl netx reads no other); "
                          f"got weight_exp={weight_exp}; use quantization='fine' to force an exponent")
    w = np.asarray(fl.weight, np.float64)
    if w.ndim != 2:
        raise ShapeError(f"{name}: weight must be [out, in], got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ConfigError(f"{name}: weights contain NaN or inf")
    n_out, n_in = w.shape
    mode, *_, s_w = _grid(w)
    thr = fl.v_threshold
    if thr is not None and fl.max_spikes > 1:
        raise ConfigError(f"{name}: Loihi's neurons fire at most one spike per step; this one fires up to "
                          f"{fl.max_spikes}")
    if thr is not None and fl.soft_reset:
        raise ConfigError(f"{name}: soft (subtractive) reset does not exist on Loihi; use v_reset=0.0")
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
    if netx:
        if rec is not None and (fl.delay is not None and np.any(fl.delay) or fl.rec_delay is not None
                                and np.any(fl.rec_delay)):
            raise HardwareLimitError(
                f"{name}: a recurrent layer with synaptic delays cannot be written for lava-dl netx (its dense_rec "
                "layer gives the recurrent synapses the input's delays and drops the weight exponent when there "
                "are delays); train it without delays, or export with --quantization fine (read by neuro and its "
                "Lava bridge, not by netx)")
        if thr is not None:  # the threshold mantissa must fit at exponent 0
            s_w = min(s_w, MAX_VTH / thr)
        else:  # readout: the worst-case membrane below 2^22, as fine's exponent does
            worst = np.abs(w).sum(1).max(initial=0.0) * 64 / max(1e-9, 1 - fl.beta_mem)
            worst += (np.abs(fl.bias).max(initial=0.0) * 64 if fl.bias is not None else 0.0)
            if worst > 0:
                s_w = min(s_w, (1 << 22) / worst)
        weight_exp = 0
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
    e_in, m, rep.weight_rel_error, rep.weight_max_abs_error = _mantissas(w, s_w, weight_exp, _grid(w), not netx)
    rec_q: dict[str, Any] = {}
    if rec is not None:
        rgrid = _grid(rec)
        e_rec, m_rec, rep.rec_weight_rel_error, rep.rec_weight_max_abs_error = _mantissas(rec, s_w, weight_exp, rgrid,
                                                                                          not netx)
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
        if netx:  # netx reads every bias at exponent 6
            need = np.full(n_out, 6, np.int64)
            n_b = int((np.abs(np.round(b / 64)) > 4095).sum())
            _limit("clipped_biases", clip, rep, n_b, f"{n_b} biases exceed 4095 << 6 (netx's bias exponent)")
        else:
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
    quantization: str = "fine",
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
        quantization: ``"fine"`` (the finest grid Lava's models allow) or ``"netx"`` (weight
            exponent 0 and bias exponent 6, what lava-dl netx reads; see the module docstring).
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
                                 num_message_bits=num_message_bits if k == 0 else 0, quantization=quantization)
        layers.append(la)
        reports.append(rep)
    net = LoihiNetwork(layers)
    net.validate()
    return net, QuantReport(reports)
