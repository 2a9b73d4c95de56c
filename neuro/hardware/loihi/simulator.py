"""Loihi-style fixed-point simulator, bit-exact with Lava's ``fixed_pt`` (bit-accurate) CPU models.

A :class:`LoihiNetwork` is a feed-forward chain of :class:`LoihiLayer` s.  Each layer is one Lava
``Dense`` (or ``DelayDense`` when it has delays) followed by one Lava ``LIF`` (CUBA) population;
the input spikes (binary, or integer payloads for graded spikes) enter the first synapses.
Per time step ``t`` (all integers, as in ``lava.proc.lif.models.PyLifModelBitAcc`` and
``lava.proc.dense.models.Py{Delay,}DenseModelBitAcc``)::

    W      = truncate(clip(weight, sign_mode, 8 bits), num_weight_bits)     (once)
    a[t]   = sum_d shift(sum_{j: D[i,j]=d} W[i,j] s[t-1-d, j], weight_exp)  (Dense: one step late)
    u[t]   = trunc(u[t-1] * (4096 - (du + 1)) / 4096) + (a[t] << 6)          (round toward zero)
             wrapped once into (-2^23, 2^23]
    v[t]   = clip(trunc(v[t-1] * (4096 - dv) / 4096) + u[t] + bias, -(2^23-1), 2^23-1)
    bias   = bias_mant << bias_exp                                          (not shifted by 6)
    s[t]   = v[t] > vth << 6;  v[t] = 0 where s[t]                          (u is not reset)

``shift`` is ``<< e`` for ``e > 0`` and an arithmetic (floor) ``>> -e`` otherwise, applied to the
sum per delay slot; numpy's int32 wrap-around at the points Lava computes in int32 is reproduced.
A spike of layer ``l-1`` (or an input) at step ``t`` reaches layer ``l``'s neurons at ``t + 1 + d``.

A layer may also be **recurrent**: a second Dense/DelayDense from the population's own spikes back
to its input (``rec_weights [N, N]``, its own delays, weight exponent, weight bits and sign mode),
as in Lava when a LIF's ``s_out`` is connected to a Dense whose ``a_out`` goes back to the LIF's
``a_in``.  The Dense sends what it accumulated in the previous step before it receives this step's
spikes, so the population's spike at step ``t`` is in its own input at ``t + 1 + d`` (the same
latency as a feed-forward synapse).  The two synapses are shifted by their own exponents and their
outputs are summed (int32, wrapping) at the neurons' input port.

The simulator runs layer by layer over the whole sequence, with every sample of the batch and every
neuron in parallel: synaptic input is an event-driven integer scatter (numba) on CPU or one exact
float64 matmul per delay value on other devices (GPU); the neuron recurrence is a fused numba loop
on CPU and vectorized int64 torch ops elsewhere.  A recurrent layer's feed-forward input is computed
the same way for the whole sequence first; its neurons and its recurrent scatter are then stepped
together in one fused numba loop per sample (or one matmul per step and delay value in torch).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from neuro.errors import ConfigError, DTypeError, HardwareLimitError, ShapeError

# Sign modes, numbered as in lava.utils.weightutils.SignMode.
MIXED, EXCITATORY, INHIBITORY = 1, 2, 3
SIGN_MODES = {"mixed": MIXED, "excitatory": EXCITATORY, "inhibitory": INHIBITORY}
MAX_DELAY = 62  # lava-dl / netx export limit (Lava's DelayDense model accepts up to 63)
MAX_VTH = 131071  # 17-bit threshold mantissa
UV_MAX = 1 << 23  # u and v are 24-bit
DECAY_UNITY = 4096


def determine_sign_mode(weight: np.ndarray) -> int:
    """Lava's rule: all >= 0 is excitatory, all <= 0 inhibitory, else mixed."""
    if weight.size == 0 or weight.min() >= 0:
        return EXCITATORY
    if weight.max() <= 0:
        return INHIBITORY
    return MIXED


def effective_weights(weight: np.ndarray, sign_mode: int | None = None, num_weight_bits: int = 8) -> np.ndarray:
    """The weights a bit-accurate Dense uses: clipped to 8 bits per sign mode, then LSB-truncated.

    Mixed: ``[-256, 255]`` then floored to a multiple of ``2^(9 - num_weight_bits)`` (even values by
    default); excitatory ``[0, 255]``, inhibitory ``[-255, 0]`` floored to ``2^(8 - num_weight_bits)``.
    """
    w = np.trunc(np.asarray(weight, dtype=np.float64)).astype(np.int64)
    mode = determine_sign_mode(w) if sign_mode is None else sign_mode
    mixed = int(mode == MIXED)
    if mode == INHIBITORY:
        w = -w
    w = np.clip(w, -256 * mixed, 255)
    k = 8 - num_weight_bits + mixed
    w = (w >> k) << k
    return -w if mode == INHIBITORY else w


@dataclass
class LoihiLayer:
    """One quantized layer: Lava ``Dense``/``DelayDense`` synapses + a ``LIF`` (CUBA) population.

    Attributes:
        weights: integer weights ``[out, in]`` as given to Lava's Dense (clipped and truncated per
            ``sign_mode`` and ``num_weight_bits`` on use, exactly as Lava does).
        delays: integer synaptic delays ``[out, in]`` in ``0..62`` (``DelayDense``), or ``None`` (``Dense``).
        du, dv: current and voltage decays (Lava units: current decays by ``(du + 1) / 4096``,
            voltage by ``dv / 4096``; ``du = -1`` keeps the current, ``du = 4095`` forgets it).
        vth: threshold mantissa ``0..131071`` (compared as ``v > vth << 6``).
        bias_mant, bias_exp: per-neuron bias ``bias_mant << bias_exp`` added to ``v`` every step.
        weight_exp: shift applied to each synaptic sum; num_weight_bits: weight mantissa bits.
        sign_mode: 1 mixed, 2 excitatory, 3 inhibitory, ``None`` = infer from ``weight`` (Lava's default).
        num_message_bits: 0 for binary spikes in, > 0 for graded integer payloads.
        readout: the layer's membrane ``v`` (not its spikes) is the network's output.
        state_scale: integer state units per float unit (for dequantizing ``v`` and ``u``).
        name: label used in reports and files.
        rec_weights: integer recurrent weights ``[out, out]`` (post, pre) of a second Dense from the
            population's spikes back to its own input, or ``None`` (feed-forward layer).
        rec_delays, rec_weight_exp, rec_num_weight_bits, rec_sign_mode: that Dense's delays
            (``DelayDense``, or ``None``), weight exponent, weight bits and sign mode.
    """

    weights: np.ndarray
    du: int = 4095
    dv: int = 0
    vth: int = 10
    bias_mant: np.ndarray | int = 0
    bias_exp: np.ndarray | int = 0
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: int | None = None
    delays: np.ndarray | None = None
    num_message_bits: int = 0
    readout: bool = False
    state_scale: float = 1.0
    name: str = ""
    rec_weights: np.ndarray | None = None
    rec_delays: np.ndarray | None = None
    rec_weight_exp: int = 0
    rec_num_weight_bits: int = 8
    rec_sign_mode: int | None = None

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights)
        n = self.weights.shape[0] if self.weights.ndim == 2 else 0
        self.bias_mant = np.broadcast_to(np.asarray(self.bias_mant, np.int64), (n,)).copy()
        if np.ndim(self.bias_exp) == 0:
            self.bias_exp = int(self.bias_exp)  # one exponent for the population (Lava broadcasts it)
        else:
            self.bias_exp = np.asarray(self.bias_exp, np.int64)
        if self.delays is not None:
            self.delays = np.asarray(self.delays)
        if self.rec_weights is not None:
            self.rec_weights = np.asarray(self.rec_weights)
        if self.rec_delays is not None:
            self.rec_delays = np.asarray(self.rec_delays)
        self.du, self.dv, self.vth = int(self.du), int(self.dv), int(self.vth)
        self.weight_exp, self.num_weight_bits = int(self.weight_exp), int(self.num_weight_bits)
        self.rec_weight_exp, self.rec_num_weight_bits = int(self.rec_weight_exp), int(self.rec_num_weight_bits)
        self.validate()

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def max_delay(self) -> int:
        return 0 if self.delays is None or self.delays.size == 0 else int(self.delays.max())

    @property
    def recurrent(self) -> bool:
        return self.rec_weights is not None

    def effective_weight(self) -> np.ndarray:
        return effective_weights(self.weights, self.sign_mode, self.num_weight_bits)

    def effective_rec_weight(self) -> np.ndarray:
        """The recurrent Dense's weights as Lava uses them (clipped and truncated like the input's)."""
        if self.rec_weights is None:
            raise ConfigError(f"{self.name or 'layer'} has no recurrent weights")
        return effective_weights(self.rec_weights, self.rec_sign_mode, self.rec_num_weight_bits)

    def rec_synapses(self) -> LoihiLayer:
        """The recurrent Dense as a feed-forward ``[out, out]`` layer (same weights, delays and exponent)."""
        if self.rec_weights is None:
            raise ConfigError(f"{self.name or 'layer'} has no recurrent weights")
        return LoihiLayer(self.rec_weights, delays=self.rec_delays, weight_exp=self.rec_weight_exp,
                          num_weight_bits=self.rec_num_weight_bits, sign_mode=self.rec_sign_mode,
                          bias_mant=np.zeros(self.n_out, np.int64), name=f"{self.name}.rec")

    def bias(self) -> np.ndarray:
        """The per-step bias added to ``v`` (``bias_mant`` shifted by ``bias_exp``, floor for negatives)."""
        m = self.bias_mant.astype(np.int64)
        e = np.broadcast_to(np.asarray(self.bias_exp, np.int64), m.shape)
        return np.where(e >= 0, m << np.maximum(e, 0), m >> np.maximum(-e, 0))

    def validate(self, where: str = "") -> None:
        """Raise :class:`HardwareLimitError` / :class:`ShapeError` when the layer does not fit Loihi."""
        at = f"{where or self.name or 'layer'}: "
        w = self.weights
        if w.ndim != 2:
            raise ShapeError(f"{at}weight must be [out, in], got shape {w.shape}")
        if not np.all(np.isfinite(w)) or not np.array_equal(w, np.trunc(w)):
            raise DTypeError(f"{at}weights must be integers (quantize a float network with neuro.export.quantize)")
        _check_delays(self.delays, w.shape, at)
        if self.rec_weights is not None:
            r = self.rec_weights
            if r.shape != (self.n_out, self.n_out):
                raise ShapeError(f"{at}recurrent weights must be [out, out] = ({self.n_out}, {self.n_out}) "
                                 f"(post, pre), got shape {r.shape}")
            if not np.all(np.isfinite(r)) or not np.array_equal(r, np.trunc(r)):
                raise DTypeError(f"{at}recurrent weights must be integers (quantize with neuro.export.quantize)")
            _check_delays(self.rec_delays, r.shape, f"{at}recurrent ")
            if not 1 <= self.rec_num_weight_bits <= 8 or not -16 <= self.rec_weight_exp <= 16:
                raise HardwareLimitError(f"{at}rec_num_weight_bits must be in [1, 8] and rec_weight_exp in [-16, 16], "
                                         f"got {self.rec_num_weight_bits} and {self.rec_weight_exp}")
            if self.rec_sign_mode not in (None, MIXED, EXCITATORY, INHIBITORY):
                raise ConfigError(f"{at}rec_sign_mode must be 1 (mixed), 2 (excitatory), 3 (inhibitory) or None")
        elif self.rec_delays is not None:
            raise ConfigError(f"{at}rec_delays given without rec_weights")
        be = np.asarray(self.bias_exp)
        if self.bias_mant.shape != (self.n_out,) or be.shape not in ((), (self.n_out,)):
            raise ShapeError(f"{at}bias_mant must have shape ({self.n_out},) and bias_exp be a scalar or the same")
        checks = [
            ("du", self.du, -1, 4095), ("dv", self.dv, 0, 4096), ("vth", self.vth, 0, MAX_VTH),
            ("num_weight_bits", self.num_weight_bits, 1, 8), ("weight_exp", self.weight_exp, -16, 16),
            ("num_message_bits", self.num_message_bits, 0, 32),
        ]
        for name, val, lo, hi in checks:
            if not lo <= val <= hi:
                raise HardwareLimitError(f"{at}{name}={val} is outside the Loihi range [{lo}, {hi}]")
        if self.n_out and (self.bias_mant.min() < -4096 or self.bias_mant.max() > 4095):
            raise HardwareLimitError(f"{at}bias_mant must be in [-4096, 4095] (13 bits)")
        if self.n_out and (be.min() < 0 or be.max() > 7):
            raise HardwareLimitError(f"{at}bias_exp must be in [0, 7] (3 bits)")
        if self.sign_mode not in (None, MIXED, EXCITATORY, INHIBITORY):
            raise ConfigError(f"{at}sign_mode must be 1 (mixed), 2 (excitatory), 3 (inhibitory) or None")


def _check_delays(d: np.ndarray | None, shape: tuple[int, ...], at: str) -> None:
    if d is None:
        return
    if d.shape != shape:
        raise ShapeError(f"{at}delay must have the weight's shape {shape}, got {d.shape}")
    if not np.array_equal(d, np.trunc(d)) or (d.size and d.min() < 0):
        raise HardwareLimitError(f"{at}delays must be non-negative integers")
    if d.size and d.max() > MAX_DELAY:
        raise HardwareLimitError(f"{at}synaptic delays must be in [0, {MAX_DELAY}] steps (Loihi), got up to "
                                 f"{int(d.max())}; retrain with max_delay <= 62 or quantize(..., clip=True)")


@dataclass
class LoihiNetwork:
    """A chain of quantized layers (input -> layer 0 -> ... -> layer L-1); a layer may be recurrent."""

    layers: list[LoihiLayer]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layers:
            raise ConfigError("a LoihiNetwork needs at least one layer")

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def sizes(self) -> list[int]:
        return [self.n_in] + [la.n_out for la in self.layers]

    def validate(self) -> None:
        for k, la in enumerate(self.layers):
            la.validate(f"layer {k}" + (f" ({la.name})" if la.name else ""))
            if k and la.n_in != self.layers[k - 1].n_out:
                raise ShapeError(f"layer {k} expects {la.n_in} inputs but layer {k - 1} has {self.layers[k - 1].n_out}"
                                 " neurons")
            if k and la.num_message_bits:
                raise ConfigError(f"layer {k}: graded input only on the first layer (Lava's LIF emits 0/1 spikes)")


@dataclass
class LoihiResult:
    """Output of :func:`simulate`: per layer, spikes ``[T, B, N]`` (uint8) and, when recorded, the
    current ``u`` and voltage ``v`` after each step (int64, as Lava's monitors read them: post-reset)."""

    spikes: list[torch.Tensor]
    u: list[torch.Tensor] | None = None
    v: list[torch.Tensor] | None = None
    final_u: list[torch.Tensor] = field(default_factory=list)
    final_v: list[torch.Tensor] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- kernels
try:
    from numba import njit, prange

    @njit(nogil=True, cache=True)
    def _slots_one(s, ptr, idx, wv, dvals, e, binary, a, b):  # type: ignore[no-untyped-def]
        """Sample b: a[t+1+d, b, o] += shift(sum over synapses (i->o) with delay d of w * s[t, b, i], e).

        Synapses are grouped per (input i, delay slot k) in CSR form (``ptr``/``idx``/``wv``); each
        slot's sum is shifted separately, as Lava's DelayDense does.
        """
        T, _, n_in = s.shape
        nd = dvals.shape[0]
        n_out = a.shape[2]
        tmp = np.zeros((T, n_out), np.int64)
        for k in range(nd):
            d = dvals[k]
            n_t = T - 1 - d
            if n_t <= 0:
                continue
            tmp[:n_t] = 0
            for t in range(n_t):
                for i in range(n_in):
                    x = s[t, b, i]
                    if x != 0:
                        if binary:
                            x = 1
                        for p in range(ptr[i * nd + k], ptr[i * nd + k + 1]):
                            tmp[t, idx[p]] += wv[p] * x
            for t in range(n_t):
                for o in range(n_out):
                    y = tmp[t, o]
                    a[t + 1 + d, b, o] += (y << e) if e > 0 else (y >> -e)

    @njit(nogil=True, cache=True)
    def _direct_one(s, ptr, idx, wv, dl, binary, a, b):  # type: ignore[no-untyped-def]
        """Sample b: a[t+1+D[o,i], b, o] += W[o,i] * s[t, b, i] (weights pre-shifted by a non-negative
        exponent, which distributes over the sum); synapses grouped per input in CSR form."""
        T, _, n_in = s.shape
        for t in range(T - 1):
            for i in range(n_in):
                x = s[t, b, i]
                if x != 0:
                    if binary:
                        x = 1
                    for p in range(ptr[i], ptr[i + 1]):
                        tt = t + 1 + dl[p]
                        if tt < T:
                            a[tt, b, idx[p]] += wv[p] * x

    @njit(nogil=True, cache=True, inline="always")
    def _lif1(u, v, a, cu, cv, bn, vth64):  # type: ignore[no-untyped-def]
        """One bit-accurate LIF step of one neuron: returns (u, v, spiked)."""
        two31 = np.int64(1) << 31
        m32 = (np.int64(1) << 32) - 1
        mx = np.int64(1) << 23
        p = u * cu
        pd = (p >> 12) if p >= 0 else -((-p) >> 12)
        au = ((((a & m32) << 6) + two31) & m32) - two31  # int32 (a << 6)
        u1 = (((pd + au) + two31) & m32) - two31
        if u1 > mx:
            u1 -= 2 * mx
        elif u1 <= -mx:
            u1 += 2 * mx
        q = v * cv
        qd = (q >> 12) if q >= 0 else -((-q) >> 12)
        v1 = (((qd + u1 + bn) + two31) & m32) - two31
        if v1 > mx - 1:
            v1 = mx - 1
        elif v1 < -(mx - 1):
            v1 = -(mx - 1)
        spk = v1 > vth64
        if spk:
            v1 = 0
        return u1, v1, spk

    @njit(nogil=True, cache=True)
    def _cuba_one(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record, b, n):  # type: ignore[no-untyped-def]
        """The bit-accurate LIF recurrence over time for neuron n of sample b."""
        T = a.shape[0]
        u = u0[b, n]
        v = v0[b, n]
        bn = bias[n]
        for t in range(T):
            u, v, spk = _lif1(u, v, a[t, b, n], cu, cv, bn, vth64)
            s_out[t, b, n] = 1 if spk else 0
            if record:
                u_rec[t, b, n] = u
                v_rec[t, b, n] = v
        u_fin[b, n] = u
        v_fin[b, n] = v

    @njit(nogil=True, cache=True)
    def _rec_one(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin,  # type: ignore[no-untyped-def]
                 record, b):
        """Sample b of a recurrent population: each step, the LIF update of every neuron (input
        ``a[t] + r[t]``), then its spikes scattered through the recurrent synapses into
        ``r[t + 1 + d]``.  ``direct``: CSR per presynaptic neuron with pre-shifted weights and one
        delay per synapse (``extra``); else CSR per (neuron, delay slot) with the slots' delays in
        ``extra`` and each slot's sum shifted by ``e`` (floor), as Lava's Dense/DelayDense do."""
        T, _, N = a.shape
        nd = extra.shape[0]
        r = np.zeros((T, N), np.int64)
        tmp = np.zeros(N, np.int64)
        fired = np.empty(N, np.int64)
        u = u0[b].copy()
        v = v0[b].copy()
        for t in range(T):
            ns = 0
            for n in range(N):
                un, vn, spk = _lif1(u[n], v[n], a[t, b, n] + r[t, n], cu, cv, bias[n], vth64)
                u[n] = un
                v[n] = vn
                if spk:
                    s_out[t, b, n] = 1
                    fired[ns] = n
                    ns += 1
                if record:
                    u_rec[t, b, n] = un
                    v_rec[t, b, n] = vn
            if ns == 0 or t + 1 >= T:
                continue
            if direct:
                for j in range(ns):
                    i = fired[j]
                    for p in range(ptr[i], ptr[i + 1]):
                        tt = t + 1 + extra[p]
                        if tt < T:
                            r[tt, idx[p]] += wv[p]
            else:
                for k in range(nd):
                    tt = t + 1 + extra[k]
                    if tt >= T:
                        continue
                    tmp[:] = 0
                    for j in range(ns):
                        i = fired[j]
                        for p in range(ptr[i * nd + k], ptr[i * nd + k + 1]):
                            tmp[idx[p]] += wv[p]
                    for o in range(N):
                        y = tmp[o]
                        r[tt, o] += (y << e) if e > 0 else (y >> -e)
        for n in range(N):
            u_fin[b, n] = u[n]
            v_fin[b, n] = v[n]

    @njit(parallel=True, nogil=True, cache=True)
    def _rec_par(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin,  # type: ignore[no-untyped-def]
                 record):
        for b in prange(a.shape[1]):
            _rec_one(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin,
                     v_fin, record, b)

    @njit(nogil=True, cache=True)
    def _rec_ser(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin,  # type: ignore[no-untyped-def]
                 record):
        for b in range(a.shape[1]):
            _rec_one(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin,
                     v_fin, record, b)

    # drivers: parallel over samples / neurons, and serial ones for small work, where starting
    # threads costs more than it saves
    @njit(parallel=True, nogil=True, cache=True)
    def _slots_par(s, ptr, idx, wv, dvals, e, binary, a):  # type: ignore[no-untyped-def]
        for b in prange(s.shape[1]):
            _slots_one(s, ptr, idx, wv, dvals, e, binary, a, b)

    @njit(nogil=True, cache=True)
    def _slots_ser(s, ptr, idx, wv, dvals, e, binary, a):  # type: ignore[no-untyped-def]
        for b in range(s.shape[1]):
            _slots_one(s, ptr, idx, wv, dvals, e, binary, a, b)

    @njit(parallel=True, nogil=True, cache=True)
    def _direct_par(s, ptr, idx, wv, dl, binary, a):  # type: ignore[no-untyped-def]
        for b in prange(s.shape[1]):
            _direct_one(s, ptr, idx, wv, dl, binary, a, b)

    @njit(nogil=True, cache=True)
    def _direct_ser(s, ptr, idx, wv, dl, binary, a):  # type: ignore[no-untyped-def]
        for b in range(s.shape[1]):
            _direct_one(s, ptr, idx, wv, dl, binary, a, b)

    @njit(parallel=True, nogil=True, cache=True)
    def _cuba_par(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record):  # type: ignore[no-untyped-def]
        B, N = a.shape[1], a.shape[2]
        for m in prange(B * N):
            _cuba_one(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record, m // N, m % N)

    @njit(nogil=True, cache=True)
    def _cuba_ser(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record):  # type: ignore[no-untyped-def]
        B, N = a.shape[1], a.shape[2]
        for m in range(B * N):
            _cuba_one(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record, m // N, m % N)

    _NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; torch path still works
    _NUMBA = False


def _wrap32(x: torch.Tensor) -> torch.Tensor:
    return ((x + (1 << 31)) & ((1 << 32) - 1)) - (1 << 31)


def _csr(w: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group the non-zero synapses of ``w [out, in]`` by (input, delay slot): CSR arrays for the scatter."""
    dvals = np.unique(d)
    slot = np.searchsorted(dvals, d)  # [out, in]
    o_idx, i_idx = np.nonzero(w)
    key = i_idx * len(dvals) + slot[o_idx, i_idx]
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=w.shape[1] * len(dvals))
    ptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, o_idx[order].astype(np.int64), w[o_idx, i_idx][order].astype(np.int64), dvals.astype(np.int64)


def _prepared(layer: LoihiLayer, w: np.ndarray, d: np.ndarray, weight_exp: int | None = None,
              slot: str = "_csr_cache") -> tuple[np.ndarray, ...]:
    """CSR arrays for the CPU scatter, cached on the layer (attribute ``slot``) until its weights,
    delays or exponent change."""
    e = layer.weight_exp if weight_exp is None else weight_exp
    key = hashlib.blake2b(w.tobytes() + d.tobytes() + bytes([e >= 0]), digest_size=16).digest()
    hit = layer.__dict__.get(slot)
    if hit is not None and hit[0] == key:
        return hit[1]
    if e >= 0:
        ptr, idx, wv, _ = _csr(w, np.zeros_like(d))
        extra = d[idx, np.repeat(np.arange(w.shape[1]), np.diff(ptr))].astype(np.int64)  # delay per synapse
    else:
        ptr, idx, wv, extra = _csr(w, d)  # distinct delay values
    layer.__dict__[slot] = (key, (ptr, idx, wv, extra))
    return ptr, idx, wv, extra


def synaptic_input(layer: LoihiLayer, s: torch.Tensor, engine: str = "auto") -> torch.Tensor:
    """What the layer's Dense/DelayDense delivers to its neurons at each step: ``[T, B, out]`` int64,
    for presynaptic spikes/payloads ``s [T, B, in]``.  Lava's int32 channel wraps these sums; the
    neuron update applies that wrap (``(a << 6)`` modulo ``2^32``), so it is not repeated here."""
    T, B, _ = s.shape
    w = layer.effective_weight()
    d = np.zeros(w.shape, np.int64) if layer.delays is None else layer.delays.astype(np.int64)
    binary = layer.num_message_bits == 0
    e = layer.weight_exp
    use_numba = _NUMBA and s.device.type == "cpu" and engine in ("auto", "numba")
    if use_numba:
        a = np.zeros((T, B, layer.n_out), np.int64)
        sn = np.ascontiguousarray(s.cpu().numpy().astype(np.int64))
        ptr, idx, wv, dx = _prepared(layer, w, d)
        par = B > 1
        if e >= 0:  # the shift distributes over the sum: one pass over the events
            (_direct_par if par else _direct_ser)(sn, ptr, idx, wv << e, dx, binary, a)
        else:  # floor shift per delay slot, as Lava does
            (_slots_par if par else _slots_ser)(sn, ptr, idx, wv, dx, e, binary, a)
        return torch.from_numpy(a)
    x = (s != 0).to(torch.float64) if binary else s.to(torch.float64)
    wt = torch.as_tensor(w, dtype=torch.float64, device=s.device)
    dt = torch.as_tensor(d, device=s.device)
    a = torch.zeros((T, B, layer.n_out), dtype=torch.int64, device=s.device)
    for dval in np.unique(d).tolist():
        n_t = T - 1 - dval
        if n_t <= 0:
            continue
        y = torch.round(x[:n_t] @ (wt * (dt == dval)).t()).to(torch.int64)  # exact below 2^53
        a[1 + dval:] += (y << e) if e > 0 else (y >> -e)
    return a


def cuba_run(
    layer: LoihiLayer,
    a: torch.Tensor,
    record: bool = False,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
    engine: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Run the bit-accurate LIF over ``a [T, B, N]`` (synaptic input per step, int64).

    Returns spikes ``[T, B, N]`` (uint8), recorded ``u`` and ``v`` (or ``None``), final ``u`` and ``v``.
    """
    T, B, N = a.shape
    dev = a.device
    cu, cv = DECAY_UNITY - (layer.du + 1), DECAY_UNITY - layer.dv
    bias = torch.as_tensor(layer.bias(), dtype=torch.int64, device=dev)
    vth64 = layer.vth << 6
    u0 = torch.zeros((B, N), dtype=torch.int64, device=dev) if state is None else state[0].to(dev, torch.int64)
    v0 = torch.zeros((B, N), dtype=torch.int64, device=dev) if state is None else state[1].to(dev, torch.int64)
    if _NUMBA and dev.type == "cpu" and engine in ("auto", "numba"):
        s = np.zeros((T, B, N), np.uint8)
        ur = np.zeros((T, B, N) if record else (1, 1, 1), np.int64)
        vr = np.zeros_like(ur)
        uf, vf = np.zeros((B, N), np.int64), np.zeros((B, N), np.int64)
        kernel = _cuba_par if T * B * N > 1 << 17 else _cuba_ser
        kernel(np.ascontiguousarray(a.numpy()), cu, cv, bias.numpy(), vth64, u0.contiguous().numpy(),
                  v0.contiguous().numpy(), s, ur, vr, uf, vf, record)
        t = torch.from_numpy
        return t(s), (t(ur) if record else None), (t(vr) if record else None), t(uf), t(vf)
    # vectorized torch path (any device): the same integer operations, one step at a time
    au = _wrap32((a & ((1 << 32) - 1)) << 6)
    big = bool((au.abs() > UV_MAX).any())  # only then can an int32 sum overflow
    u, v = u0, v0
    s_all = torch.empty((T, B, N), dtype=torch.uint8, device=dev)
    ur = torch.empty((T, B, N), dtype=torch.int64, device=dev) if record else None
    vr = torch.empty((T, B, N), dtype=torch.int64, device=dev) if record else None
    lo, hi = -(UV_MAX - 1), UV_MAX - 1
    for t in range(T):
        u = torch.div(u * cu, DECAY_UNITY, rounding_mode="trunc") + au[t]
        if big:
            u = _wrap32(u)
        u = torch.where(u > UV_MAX, u - 2 * UV_MAX, torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u))
        v = torch.div(v * cv, DECAY_UNITY, rounding_mode="trunc") + u + bias
        if big:
            v = _wrap32(v)
        v = v.clamp_(lo, hi)
        spk = v > vth64
        v = v.masked_fill_(spk, 0)
        s_all[t] = spk
        if record:
            ur[t] = u
            vr[t] = v
    return s_all, ur, vr, u, v


def recurrent_run(
    layer: LoihiLayer,
    a: torch.Tensor,
    record: bool = False,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
    engine: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Run a recurrent population over ``a [T, B, N]`` (its feed-forward synaptic input, int64).

    Each step the LIF update of :func:`cuba_run` takes ``a[t]`` plus what the recurrent Dense
    delivers: the population's spikes of step ``t - 1 - d`` through ``rec_weights`` (delay ``d``),
    shifted by ``rec_weight_exp`` per step and delay slot.  Returns what :func:`cuba_run` returns.
    """
    if not layer.recurrent:
        return cuba_run(layer, a, record, state, engine)
    T, B, N = a.shape
    dev = a.device
    cu, cv = DECAY_UNITY - (layer.du + 1), DECAY_UNITY - layer.dv
    bias = torch.as_tensor(layer.bias(), dtype=torch.int64, device=dev)
    vth64 = layer.vth << 6
    u0 = torch.zeros((B, N), dtype=torch.int64, device=dev) if state is None else state[0].to(dev, torch.int64)
    v0 = torch.zeros((B, N), dtype=torch.int64, device=dev) if state is None else state[1].to(dev, torch.int64)
    w = layer.effective_rec_weight()
    d = np.zeros(w.shape, np.int64) if layer.rec_delays is None else layer.rec_delays.astype(np.int64)
    e = layer.rec_weight_exp
    if _NUMBA and dev.type == "cpu" and engine in ("auto", "numba"):
        ptr, idx, wv, extra = _prepared(layer, w, d, e, slot="_rec_csr_cache")
        s = np.zeros((T, B, N), np.uint8)
        ur = np.zeros((T, B, N) if record else (1, 1, 1), np.int64)
        vr = np.zeros_like(ur)
        uf, vf = np.zeros((B, N), np.int64), np.zeros((B, N), np.int64)
        kernel = _rec_par if B > 1 else _rec_ser
        kernel(np.ascontiguousarray(a.numpy()), ptr, idx, (wv << e) if e >= 0 else wv, extra, e, e >= 0, cu, cv,
               bias.numpy(), vth64, u0.contiguous().numpy(), v0.contiguous().numpy(), s, ur, vr, uf, vf, record)
        t = torch.from_numpy
        return t(s), (t(ur) if record else None), (t(vr) if record else None), t(uf), t(vf)
    # torch path (any device): one exact float64 matmul per step and delay value
    wt = torch.as_tensor(w, dtype=torch.float64, device=dev)
    dt = torch.as_tensor(d, device=dev)
    slots = [(dval, (wt * (dt == dval)).t().contiguous()) for dval in np.unique(d).tolist()]
    r = torch.zeros((T, B, N), dtype=torch.int64, device=dev)
    u, v = u0, v0
    s_all = torch.empty((T, B, N), dtype=torch.uint8, device=dev)
    ur = torch.empty((T, B, N), dtype=torch.int64, device=dev) if record else None
    vr = torch.empty((T, B, N), dtype=torch.int64, device=dev) if record else None
    for t in range(T):
        u, v, spk = lif_update(u, v, a[t] + r[t], layer.du, layer.dv, bias, layer.vth)
        s_all[t] = spk
        if record:
            ur[t] = u
            vr[t] = v
        x = spk.to(torch.float64)
        for dval, wd in slots:
            if t + 1 + dval < T:
                y = torch.round(x @ wd).to(torch.int64)  # exact below 2^53
                r[t + 1 + dval] += (y << e) if e > 0 else (y >> -e)
    return s_all, ur, vr, u, v


def _as_input(x: torch.Tensor | np.ndarray, n_in: int) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() != 3 or x.shape[-1] != n_in:
        raise ShapeError(f"input must be [T, B, {n_in}] (time-major spikes or integer payloads), got {tuple(x.shape)}")
    if x.dtype == torch.bool:
        return x.to(torch.int64)
    if x.is_floating_point():
        if not torch.isfinite(x).all() or not torch.equal(x, torch.trunc(x)):
            raise DTypeError("Loihi input must be spikes (0/1) or integer graded payloads; got non-integer values")
    return x.to(torch.int64)


def simulate(
    net: LoihiNetwork,
    x: torch.Tensor | np.ndarray,
    record: bool = False,
    device: str | torch.device | None = None,
    engine: str = "auto",
) -> LoihiResult:
    """Run ``net`` on input spikes ``x [T, B, n_in]`` exactly as Lava's bit-accurate models would.

    Args:
        net: the quantized network (validated first).
        x: binary spikes, or integer payloads when ``layers[0].num_message_bits > 0``.
        record: also return ``u`` and ``v`` of every layer at every step (memory ``2 * 8 * T*B*N`` bytes).
        device: where to compute (default: ``x``'s device); CUDA works through the torch path.
        engine: ``"auto"`` (numba on CPU), ``"numba"`` or ``"torch"`` (vectorized torch ops anywhere).
    """
    if engine not in ("auto", "numba", "torch"):
        raise ConfigError(f"engine must be 'auto', 'numba' or 'torch', got {engine!r}")
    net.validate()
    s = _as_input(x, net.n_in)
    if device is not None:
        s = s.to(device)
    out = LoihiResult(spikes=[], u=[] if record else None, v=[] if record else None)
    for layer in net.layers:
        a = synaptic_input(layer, s, engine)
        run = recurrent_run if layer.recurrent else cuba_run
        s, ur, vr, uf, vf = run(layer, a, record, engine=engine)
        out.spikes.append(s)
        out.final_u.append(uf)
        out.final_v.append(vf)
        if record:
            out.u.append(ur)  # type: ignore[union-attr]
            out.v.append(vr)  # type: ignore[union-attr]
    return out


def random_network(
    sizes: list[int],
    rng: np.random.Generator,
    max_delay: int = 0,
    extremes: bool = False,
    graded_bits: int = 0,
    recurrent: bool = False,
) -> LoihiNetwork:
    """A random network for testing and benchmarks: mixed-sign weights (sometimes beyond 8 bits, to
    exercise clipping), delays up to ``max_delay``, per-neuron biases and decays (``extremes``
    draws decays from ``{-1/0, 4095, 4096}`` and large biases/exponents too).  ``recurrent`` gives
    every layer a recurrent matrix (see :func:`random_recurrent_weights`) with delays up to ``max_delay``."""
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.integers(-300, 301, size=(n_out, n_in))
        w[rng.random(w.shape) < 0.2] = 0
        if extremes and k == 0:
            w = np.abs(w)  # exercise the excitatory sign mode
        du_choices = [-1, 0, 4095] if extremes else list(rng.integers(0, 4096, 3))
        dv_choices = [0, 4096, 4095] if extremes else list(rng.integers(0, 4097, 3))
        fan = max(1, n_in)
        layers.append(LoihiLayer(
            weights=w,
            delays=rng.integers(0, max_delay + 1, size=w.shape) if max_delay else None,
            du=int(rng.choice(du_choices)), dv=int(rng.choice(dv_choices)),
            vth=int(rng.integers(1, 40 * int(math.sqrt(fan)) + 2)) if not extremes else int(rng.choice([0, 1, 500])),
            bias_mant=rng.integers(-4096 if extremes else -200, 4096 if extremes else 200, n_out),
            bias_exp=rng.integers(0, 8 if extremes else 3, n_out),
            weight_exp=int(rng.integers(-2, 3)),
            num_weight_bits=int(rng.choice([8, 8, 7, 6])),
            num_message_bits=graded_bits if k == 0 else 0,
            name=f"random{k}",
            **(_random_rec(n_out, rng, max_delay) if recurrent else {}),
        ))
    return LoihiNetwork(layers)


def random_recurrent_weights(n: int, rng: np.random.Generator, frac_exc: float = 0.8, p: float = 0.2,
                             scale: int = 120) -> np.ndarray:
    """Sparse recurrent integer weights ``[post, pre]`` with E/I signs by presynaptic neuron (no self loops)."""
    exc = rng.random(n) < frac_exc
    w = rng.integers(1, scale + 1, (n, n)) * (rng.random((n, n)) < p)
    w[:, ~exc] *= -2  # fewer, stronger inhibitory neurons
    np.fill_diagonal(w, 0)
    return w


def _random_rec(n: int, rng: np.random.Generator, max_delay: int) -> dict:
    return {"rec_weights": random_recurrent_weights(n, rng),
            "rec_delays": rng.integers(0, max_delay + 1, (n, n)) if max_delay else None,
            "rec_weight_exp": int(rng.integers(-1, 2)), "rec_num_weight_bits": int(rng.choice([8, 8, 7]))}


def lif_update(
    u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor, du: int, dv: int, bias: torch.Tensor | int, vth: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Lava's bit-accurate LIF on int64 tensors: returns ``(u, v, spikes)``.

    ``bias`` is the already-shifted ``bias_mant << bias_exp``.  (:func:`simulate` runs whole
    sequences; this single step is the readable definition.)
    """
    u = _wrap32(torch.div(u * (DECAY_UNITY - (du + 1)), DECAY_UNITY, rounding_mode="trunc")
                + _wrap32((a_in & ((1 << 32) - 1)) << 6))
    u = torch.where(u > UV_MAX, u - 2 * UV_MAX, torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u))
    v = _wrap32(torch.div(v * (DECAY_UNITY - dv), DECAY_UNITY, rounding_mode="trunc") + u + bias)
    v = v.clamp(-(UV_MAX - 1), UV_MAX - 1)
    s = v > (vth << 6)
    return u, v.masked_fill(s, 0), s


def run_loihi(net: LoihiNetwork, spikes, device=None, record_state: bool = True) -> dict[str, list[torch.Tensor]]:
    """:func:`simulate` returning ``{"s": [...], "u": [...], "v": [...]}`` (per layer ``[T, B, N]``)."""
    r = simulate(net, spikes, record=record_state, device=device)
    return {"s": [s.to(torch.int64) for s in r.spikes], "u": r.u or [], "v": r.v or []}
