"""Loihi network description: quantized layers and networks, bit-exact with Lava's ``fixed_pt`` (bit-accurate) models.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
