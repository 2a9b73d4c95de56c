"""Quantization of a trained float network to Xylo's integer model (:func:`quantize`).

The model must be one hidden population and one readout: ``Linear -> LIF/CubaLIF`` or a
``Recurrent`` layer, then ``Linear -> LI/CubaLI`` (non-spiking readout, its membrane is the output)
or ``Linear -> LIF/CubaLIF`` (spiking outputs).  The rules:

* **decays**: Xylo decays by bit shifts, ``x <- x - x >> dash`` (about ``x (1 - 2^-dash)``), so each
  decay ``beta`` becomes the ``dash`` whose ``1 - 2^-dash`` is nearest (``dash_mem`` in ``0..15``,
  ``dash_syn`` in ``1..15``: a shift of 0 would empty the current before it reaches the membrane).
  A neuron without a synaptic current (``LIF``) gets ``dash_syn = 1``, the fastest current Xylo
  has: this differs from the float model (reported);
* **weights**: Xylo adds a spike's weight into the current and decays it in the same step, so a
  weight ``w`` becomes ``w / (1 - 2^-dash_syn)``; one float unit of membrane is ``S`` integer units,
  ``S = vth_target / v_threshold`` (lowered when the largest weight would not fit ``127 << 7``);
  each matrix keeps 8 significant bits: mantissas ``round(w S / 2^shift)`` in ``[-128, 127]`` with
  the smallest shift in ``0..7`` that fits.  Input and recurrent matrices share ``S`` (one current),
  each with its own shift;
* **thresholds**: ``round(v_threshold * S)`` in ``[1, 32767]``; Xylo subtracts the threshold at a
  spike (train with ``v_reset=None``; a hard reset is reported as a difference) and fires
  ``v // threshold`` spikes, at most 31 per step (the float model fires one);
* **readout**: a non-spiking readout gets the largest threshold; its scale keeps ``readout_max``
  (the largest float membrane expected, e.g. from a float run) at half the 16-bit range, or
  without it a bound from its weights and decays;
* **biases** add to the membrane each step on Xylo: exact for ``LIF``, refused for a ``CubaLIF``
  whose current decays (the float bias enters the current);
* **limits**: at most 16 inputs, 992 hidden and 16 output neurons, input weights only into the
  first 128 and readout weights only from the last 128 hidden neurons (hidden neurons are ordered
  to fit), no synaptic delays (refused, or dropped with ``clip=True`` and reported).  Thresholds
  out of range raise :class:`~neuro.errors.HardwareLimitError` unless ``clip=True``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from torch import nn

from neuro.errors import ConfigError, HardwareLimitError
from neuro.hardware.float_layers import FloatLayer, float_layers
from neuro.hardware.xylo.network import (
    MAX_DASH,
    MAX_SHIFT,
    STATE_MAX,
    W_MAX,
    W_MIN,
    XYLO_AUDIO3,
    XyloNetwork,
    XyloSpec,
    resource_problems,
)


@dataclass
class PopulationReport:
    """What quantization did to one population (float values in the float network's units)."""

    name: str
    n_in: int
    n_out: int
    scale: float
    weight_shift: int
    weight_rel_error: float
    threshold: int
    v_threshold: float | None
    dash_mem: int
    dash_syn: int
    beta_mem: float
    beta_mem_quantized: float
    beta_syn: float | None
    beta_syn_quantized: float
    rec_weight_shift: int | None = None
    rec_weight_rel_error: float | None = None
    clipped_thresholds: int = 0
    dropped_delays: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class XyloReport:
    populations: list[PopulationReport]
    resources: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"populations": [asdict(p) for p in self.populations], "resources": self.resources}

    HEADER = ["population", "size", "shift", "weight rel err", "rec shift", "rec rel err", "threshold", "dash_mem",
              "dash_syn", "clipped"]

    def rows(self) -> list[list[Any]]:
        return [[p.name, f"{p.n_in}->{p.n_out}", p.weight_shift, f"{p.weight_rel_error:.4f}",
                 "-" if p.rec_weight_shift is None else p.rec_weight_shift,
                 "-" if p.rec_weight_rel_error is None else f"{p.rec_weight_rel_error:.4f}", p.threshold, p.dash_mem,
                 p.dash_syn, p.clipped_thresholds + p.dropped_delays] for p in self.populations]

    def __str__(self) -> str:
        lines = ["  ".join(self.HEADER)] + ["  ".join(str(c) for c in r) for r in self.rows()]
        for p in self.populations:
            lines += [f"{p.name}: {n}" for n in p.notes]
        return "\n".join(lines)


def dash_for(beta: float, lo: int = 0) -> int:
    """The bit-shift decay ``dash`` (``lo..15``) whose ``1 - 2^-dash`` is nearest to ``beta``."""
    cands = np.arange(lo, MAX_DASH + 1)
    return int(cands[np.argmin(np.abs((1 - 2.0 ** -cands) - beta))])


def _mantissas(w: np.ndarray, scale: float) -> tuple[int, np.ndarray, float]:
    """8-bit mantissas of ``w * scale`` with the smallest shift that fits; (shift, mantissas, rel. error)."""
    big = float(np.abs(w).max(initial=0.0)) * scale
    shift = 0 if big <= W_MAX else min(MAX_SHIFT, math.ceil(math.log2(big / W_MAX) - 1e-12))
    m = np.clip(np.round(w * scale / 2.0**shift), W_MIN, W_MAX).astype(np.int64)
    norm = float(np.linalg.norm(w))
    err = float(np.linalg.norm(m * 2.0**shift / scale - w) / norm) if norm > 0 else 0.0
    return shift, m, err


def _limit(clip: bool, msg: str, rep: PopulationReport) -> None:
    if not clip:
        raise HardwareLimitError(f"{rep.name}: {msg}; pass clip=True to clip and report instead")
    rep.notes.append(f"clipped: {msg}")


def _population(fl: FloatLayer, *, readout_pop: bool, clip: bool, vth_target: int,
                readout_max: float | None) -> tuple[dict[str, Any], PopulationReport]:
    name = fl.name
    w = np.asarray(fl.weight, np.float64)
    if not np.isfinite(w).all() or (fl.rec_weight is not None and not np.isfinite(fl.rec_weight).all()):
        raise ConfigError(f"{name}: weights contain NaN or inf")
    if not 0.0 <= fl.beta_mem <= 1.0 or (fl.beta_syn is not None and not 0.0 <= fl.beta_syn <= 1.0):
        raise ConfigError(f"{name}: decays must be in [0, 1]")
    thr = fl.v_threshold
    if thr is not None and not (math.isfinite(thr) and thr > 0):
        raise ConfigError(f"{name}: Xylo thresholds are positive, got v_threshold={thr}")
    d_mem = dash_for(fl.beta_mem)
    d_syn = dash_for(fl.beta_syn if fl.beta_syn is not None else 0.0, lo=1)
    q_syn = 1 - 2.0**-d_syn
    rep = PopulationReport(name=name, n_in=w.shape[1], n_out=w.shape[0], scale=0.0, weight_shift=0,
                           weight_rel_error=0.0, threshold=STATE_MAX, v_threshold=thr, dash_mem=d_mem, dash_syn=d_syn,
                           beta_mem=fl.beta_mem, beta_mem_quantized=1 - 2.0**-d_mem, beta_syn=fl.beta_syn,
                           beta_syn_quantized=q_syn)
    if fl.beta_syn is None:
        rep.notes.append("no synaptic current in the float model; Xylo's fastest current (dash_syn=1) carries half "
                         "of each input into the next step")
    limit = 1 if readout_pop else 31
    if thr is not None and fl.max_spikes != limit:
        rep.notes.append(f"the float neurons fire up to {fl.max_spikes} spike(s) per step, Xylo's "
                         f"{'output' if readout_pop else 'hidden'} neurons up to {limit}"
                         + ("" if readout_pop else " (train with MultiSpikeCubaLIF)"))
    if thr is not None and not fl.soft_reset:
        rep.notes.append("the float model resets to 0; Xylo subtracts the threshold (train with v_reset=None)")
    if fl.delay is not None and np.any(np.asarray(fl.delay) != 0) or fl.rec_delay is not None and np.any(
            np.asarray(fl.rec_delay) != 0):
        n_d = int(np.count_nonzero(fl.delay if fl.delay is not None else 0)) + int(
            np.count_nonzero(fl.rec_delay if fl.rec_delay is not None else 0))
        rep.dropped_delays = n_d
        _limit(clip, f"{n_d} synapses have delays, Xylo has no synaptic delays (train with --mode none)", rep)
    wf = w / q_syn  # the current is decayed in the step a spike arrives
    rf = None if fl.rec_weight is None else np.asarray(fl.rec_weight, np.float64) / q_syn
    wmax = max(float(np.abs(wf).max(initial=0.0)), float(np.abs(rf).max(initial=0.0)) if rf is not None else 0.0)
    fit = (W_MAX << MAX_SHIFT) / wmax if wmax > 0 else math.inf
    if thr is not None:
        scale = vth_target / thr
        if scale > fit:
            rep.notes.append(f"weights up to {wmax:.3g} thresholds: scale lowered to fit 127 << 7")
            scale = fit
    else:
        if readout_max is None or not readout_max > 0:
            a_i = fl.beta_syn if fl.beta_syn is not None else 0.0
            readout_max = float(np.abs(w).sum(1).max(initial=0.0)) / max(1e-6, (1 - a_i) * (1 - fl.beta_mem))
            readout_max = readout_max or 1.0
            rep.notes.append(f"readout range bound from its weights: |v| <= {readout_max:.3g}")
        scale = min(fit, (STATE_MAX // 2) / readout_max)
        if wmax > 0 and scale * wmax < W_MAX:
            scale = W_MAX / wmax  # keep 8 significant bits in the weights, at the cost of range
            if STATE_MAX / scale < readout_max:
                rep.notes.append(f"the readout saturates above |v| = {STATE_MAX / scale:.3g} (8-bit weights need "
                                 "this scale)")
        rep.notes.append("readout: non-spiking (threshold at the largest value); its membrane is the output")
    rep.scale = scale
    rep.weight_shift, m_in, rep.weight_rel_error = _mantissas(wf, scale)
    q: dict[str, Any] = {"w": m_in, "shift": rep.weight_shift, "dash_mem": d_mem, "dash_syn": d_syn,
                         "scale": scale}
    if rf is not None:
        rep.rec_weight_shift, q["rec"], rep.rec_weight_rel_error = _mantissas(rf, scale)
    if thr is not None:
        th = round(thr * scale)
        if not 1 <= th <= STATE_MAX:
            rep.clipped_thresholds = 1
            _limit(clip, f"threshold {th} outside [1, {STATE_MAX}]", rep)
        rep.threshold = int(min(STATE_MAX, max(1, th)))
    q["threshold"] = rep.threshold
    bias = np.zeros(w.shape[0], np.int64)
    if fl.bias is not None and np.any(fl.bias != 0):
        if fl.beta_syn is not None and fl.beta_syn > 0:
            raise ConfigError(f"{name}: a bias into a CubaLIF with a current decay has no exact Xylo equivalent "
                              "(Xylo adds the bias to the membrane); train without bias or use LIF")
        b = np.round(np.asarray(fl.bias, np.float64) * scale)
        n_b = int((np.abs(b) > STATE_MAX).sum())
        if n_b:
            _limit(clip, f"{n_b} biases beyond the 16-bit range", rep)
        bias = np.clip(b, -STATE_MAX - 1, STATE_MAX).astype(np.int64)
    q["bias"] = bias
    return q, rep


def _order(has_in: np.ndarray, has_out: np.ndarray) -> np.ndarray:
    """Hidden neuron order for the core: input-only, input and readout, neither, readout-only."""
    groups = [has_in & ~has_out, has_in & has_out, ~has_in & ~has_out, ~has_in & has_out]
    return np.concatenate([np.nonzero(g)[0] for g in groups])


def quantize(
    model: nn.Module | list[FloatLayer] | list[dict],
    *,
    clip: bool = False,
    spec: XyloSpec = XYLO_AUDIO3,
    vth_target: int = 1 << 12,
    readout_max: float | None = None,
    dt: float = 1e-3,
) -> tuple[XyloNetwork, XyloReport]:
    """Quantize a float network (hidden population + readout) to Xylo; returns the network and a report.

    Args:
        model: a neuro model (read with :func:`~neuro.hardware.float_layers.float_layers`) or two
            :class:`FloatLayer` (or dicts of their fields).
        clip: clip what does not fit (thresholds, biases) or drop it (delays) and report it, instead
            of raising :class:`HardwareLimitError`.
        spec: the core's resources (default XyloAudio 3).
        vth_target: the integer threshold the hidden scale aims for (``2^12``: 8 thresholds of headroom).
        readout_max: the largest float membrane the readout should represent (default: a bound).
        dt: seconds per step, recorded in the specification.
    """
    if isinstance(model, nn.Module):
        fls = float_layers(model)
    else:
        fls = [fl if isinstance(fl, FloatLayer) else FloatLayer(**fl) for fl in model]
    if len(fls) != 2:
        raise HardwareLimitError(f"Xylo runs one hidden population and one readout; the model has {len(fls)} "
                                 "synapse + neuron layers (use one Linear/Recurrent hidden layer and one readout)")
    hid, out = fls
    for k, fl in enumerate(fls):
        fl.name = fl.name or ("hidden", "readout")[k]
    if hid.v_threshold is None:
        raise ConfigError(f"{hid.name}: the hidden population must spike (LIF or CubaLIF)")
    if out.rec_weight is not None:
        raise HardwareLimitError(f"{out.name}: Xylo's output neurons cannot be recurrent")
    if np.shape(out.weight)[1] != np.shape(hid.weight)[0]:
        raise ConfigError(f"{out.name}: takes {np.shape(out.weight)[1]} inputs, the hidden population has "
                          f"{np.shape(hid.weight)[0]} neurons")
    qh, rh = _population(hid, readout_pop=False, clip=clip, vth_target=vth_target, readout_max=None)
    qo, ro = _population(out, readout_pop=True, clip=clip, vth_target=vth_target,
                         readout_max=readout_max)
    n = qh["w"].shape[0]
    w_in = qh["w"].T[:, :, None]  # [in, N, 1]
    w_rec = (qh["rec"].T if "rec" in qh else np.zeros((n, n), np.int64))[:, :, None]
    w_out = qo["w"].T  # [N, out]
    order = _order(w_in.any(axis=(0, 2)), w_out.any(axis=1))
    net = XyloNetwork(
        w_in=w_in[:, order], w_rec=w_rec[order][:, order], w_out=w_out[order],
        dash_mem=np.full(n, qh["dash_mem"]), dash_syn=np.full((n, 1), qh["dash_syn"]), threshold=np.full(n, qh[
            "threshold"]), bias=qh["bias"][order], dash_mem_out=np.full(w_out.shape[1], qo["dash_mem"]),
        dash_syn_out=np.full(w_out.shape[1], qo["dash_syn"]), threshold_out=np.full(w_out.shape[1], qo["threshold"]),
        bias_out=qo["bias"], weight_shift_in=qh["shift"], weight_shift_rec=rh.rec_weight_shift or 0,
        weight_shift_out=qo["shift"], state_scale_out=qo["scale"], dt=dt,
        meta={"hidden_order": order.tolist(), "readout": out.v_threshold is None})
    net.validate(spec=None)
    problems = resource_problems(net, spec)
    if problems:
        raise HardwareLimitError(f"the network does not fit {spec.name}: " + "; ".join(problems))
    report = XyloReport([rh, ro], {"core": spec.name, "inputs": net.n_in, "hidden": n, "outputs": net.n_out,
                                   "rec_synapses": int(np.count_nonzero(net.w_rec)),
                                   "input_synapses": int(np.count_nonzero(net.w_in)),
                                   "readout_synapses": int(np.count_nonzero(net.w_out))})
    return net, report
