"""The Xylo integer network: one hidden population with recurrent weights and a readout population.

Xylo (SynSense) runs one network per chip: up to 16 input channels feed a population of hidden
integrate-and-fire neurons through 8-bit input weights, the hidden neurons feed each other through
8-bit recurrent weights and an output population through 8-bit readout weights.  Each weight matrix
has one left shift (``weight_shift_*``) applied to all its weights.  Every neuron has a 16-bit
synaptic current per synapse (one or two synapses per hidden neuron, one per output neuron) and a
16-bit membrane, both decayed by bit shifts (``dash``): ``x <- x - max(x >> dash, sign(x))``.

One step, as the vendor's simulator (``xylosim``) computes it:

1. input counts (at most 15 per channel) and the hidden spikes of the previous step (at most 31 per
   neuron) are added into the currents, one weight per spike, each addition saturating at the
   16-bit range, inputs first, then presynaptic neurons in index order;
2. every current decays; the membrane decays, then gains the sum of the currents and the bias
   (saturating);
3. a hidden neuron emits ``n = min(31, v // threshold)`` spikes and subtracts ``n * threshold``
   (output neurons at most 1 spike).

Spikes of the hidden population reach the readout one step later (they are delivered at the start
of the next step), and the recurrent weights likewise.

:data:`XYLO_AUDIO3` holds the limits of the XyloAudio 3 core (SYNS65302), read from its RAM map:
16 inputs, 992 hidden neurons, 16 outputs; input weights reach the first 128 hidden neurons (input
expansion RAM 16 x 128), readout weights leave the last 128 (output RAM 128 x 32), and the
recurrent weight RAM holds 31 744 synapses per synapse slot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuro.errors import ConfigError, DataError, HardwareLimitError, ShapeError

STATE_MIN, STATE_MAX = -(1 << 15), (1 << 15) - 1  # 16-bit currents and membranes
W_MIN, W_MAX = -128, 127  # 8-bit weights
MAX_SHIFT = 7  # weight << shift stays in the 16-bit range for every 8-bit weight
MAX_DASH = 15  # 4-bit decay shifts
MAX_INPUT_SPIKES = 15  # per channel and step
MAX_SPIKES = 31  # per hidden neuron and step
MAX_OUT_SPIKES = 1  # per output neuron and step


@dataclass(frozen=True)
class XyloSpec:
    """Resource limits of one Xylo core."""

    name: str = "XyloAudio 3 (SYNS65302)"
    n_inputs: int = 16
    n_hidden: int = 992
    n_outputs: int = 16
    input_expansion: int = 128  # hidden neurons that input weights can reach (the first ones)
    output_expansion: int = 128  # hidden neurons that readout weights can leave (the last ones)
    rec_synapses: int = 31744  # non-zero recurrent weights per synapse slot


XYLO_AUDIO3 = XyloSpec()


def _ints(a: Any, shape: tuple[int, ...], what: str, lo: int, hi: int) -> np.ndarray:
    x = np.asarray(a)
    if x.shape != shape:
        raise ShapeError(f"{what}: expected shape {shape}, got {x.shape}")
    if x.size and (not np.issubdtype(x.dtype, np.number) or not np.array_equal(x, np.round(x))):
        raise ConfigError(f"{what}: must hold integers")
    x = x.astype(np.int64)
    if x.size and (x.min() < lo or x.max() > hi):
        raise HardwareLimitError(f"{what}: values must lie in [{lo}, {hi}], found [{x.min()}, {x.max()}]")
    return x


@dataclass
class XyloNetwork:
    """A network in Xylo's integer model (weights are ``[pre, post(, synapse)]`` as in Rockpool's spec).

    ``w_in [n_in, N, S]``, ``w_rec [N, N, S]`` (``S`` = 1 or 2 synapses per hidden neuron),
    ``w_out [N, n_out]``; ``dash_syn [N, S]``; ``state_scale_out``: integer membrane units per float
    unit of the readout (what :func:`~neuro.hardware.xylo.evaluate.evaluate_xylo` divides by).
    """

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    threshold: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    threshold_out: np.ndarray
    bias: np.ndarray | None = None
    bias_out: np.ndarray | None = None
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    state_scale_out: float = 1.0
    dt: float = 1e-3
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_in(self) -> int:
        return int(np.shape(self.w_in)[0])

    @property
    def n_hidden(self) -> int:
        return int(np.shape(self.w_in)[1])

    @property
    def n_out(self) -> int:
        return int(np.shape(self.w_out)[1])

    @property
    def n_syn(self) -> int:
        return int(np.shape(self.w_in)[2])

    @property
    def has_bias(self) -> bool:
        return bool(np.any(self.bias)) or bool(np.any(self.bias_out))

    def validate(self, spec: XyloSpec | None = XYLO_AUDIO3) -> XyloNetwork:
        """Check shapes, integer ranges and (unless ``spec`` is ``None``) the core's resources; normalizes
        every array to int64 in place.  Raises :class:`ShapeError`, :class:`ConfigError` or
        :class:`HardwareLimitError` naming the field."""
        w_in = np.asarray(self.w_in)
        if w_in.ndim == 2:
            w_in = w_in[:, :, None]
        if w_in.ndim != 3 or w_in.shape[2] not in (1, 2):
            raise ShapeError(f"w_in: expected [n_in, N, 1 or 2], got shape {w_in.shape}")
        n_in, n, s = w_in.shape
        w_rec = np.asarray(self.w_rec)
        if w_rec.ndim == 2:
            w_rec = w_rec[:, :, None]
        if w_rec.shape[:2] == (n, n) and w_rec.shape[2] < s:
            w_rec = np.concatenate([w_rec, np.zeros((n, n, s - w_rec.shape[2]), w_rec.dtype)], 2)
        n_out = int(np.shape(self.w_out)[1]) if np.ndim(self.w_out) == 2 else -1
        if n_out < 1:
            raise ShapeError(f"w_out: expected [N, n_out] with N = {n}, got shape {np.shape(self.w_out)}")
        self.w_in = _ints(w_in, (n_in, n, s), "w_in", W_MIN, W_MAX)
        self.w_rec = _ints(w_rec, (n, n, s), "w_rec", W_MIN, W_MAX)
        self.w_out = _ints(self.w_out, (n, n_out), "w_out", W_MIN, W_MAX)
        self.dash_mem = _ints(self.dash_mem, (n,), "dash_mem", 0, MAX_DASH)
        self.dash_syn = _ints(np.reshape(self.dash_syn, (n, -1)) if np.size(self.dash_syn) == n * s else self.dash_syn,
                              (n, s), "dash_syn", 0, MAX_DASH)
        self.threshold = _ints(self.threshold, (n,), "threshold", 1, STATE_MAX)
        self.dash_mem_out = _ints(self.dash_mem_out, (n_out,), "dash_mem_out", 0, MAX_DASH)
        self.dash_syn_out = _ints(self.dash_syn_out, (n_out,), "dash_syn_out", 0, MAX_DASH)
        self.threshold_out = _ints(self.threshold_out, (n_out,), "threshold_out", 1, STATE_MAX)
        self.bias = _ints(np.zeros(n) if self.bias is None else self.bias, (n,), "bias", STATE_MIN, STATE_MAX)
        self.bias_out = _ints(np.zeros(n_out) if self.bias_out is None else self.bias_out, (n_out,), "bias_out",
                              STATE_MIN, STATE_MAX)
        for k in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
            v = getattr(self, k)
            if int(v) != v or not 0 <= int(v) <= MAX_SHIFT:
                raise HardwareLimitError(f"{k}: must be an integer in [0, {MAX_SHIFT}], got {v}")
            setattr(self, k, int(v))
        if not (np.isfinite(self.state_scale_out) and self.state_scale_out > 0):
            raise ConfigError(f"state_scale_out must be positive and finite, got {self.state_scale_out}")
        if spec is not None:
            for msg in resource_problems(self, spec):
                raise HardwareLimitError(f"{msg} ({spec.name})")
        return self

    # ----- file format -----------------------------------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        """The network as Rockpool's Xylo specification (keyword arguments of ``XyloSim.from_specification``
        and ``config_from_specification``), lists of Python ints."""
        s = {
            "weights_in": self.w_in.tolist(), "weights_rec": self.w_rec.tolist(), "weights_out": self.w_out.tolist(),
            "dash_mem": self.dash_mem.tolist(), "dash_mem_out": self.dash_mem_out.tolist(),
            "dash_syn": self.dash_syn[:, 0].tolist(), "dash_syn_out": self.dash_syn_out.tolist(),
            "threshold": self.threshold.tolist(), "threshold_out": self.threshold_out.tolist(),
            "weight_shift_in": self.weight_shift_in, "weight_shift_rec": self.weight_shift_rec,
            "weight_shift_out": self.weight_shift_out, "dt": self.dt,
        }
        if self.n_syn == 2:
            s["dash_syn_2"] = self.dash_syn[:, 1].tolist()
        if self.has_bias:
            s["bias"], s["bias_out"] = self.bias.tolist(), self.bias_out.tolist()
        return s

    @classmethod
    def from_spec(cls, spec: dict[str, Any], *, state_scale_out: float = 1.0, where: str = "spec") -> XyloNetwork:
        """Rebuild a network from :meth:`to_spec`'s dictionary (validated; errors name ``where``)."""
        need = ("weights_in", "weights_rec", "weights_out", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_out",
                "threshold", "threshold_out")
        missing = [k for k in need if k not in spec]
        if missing:
            raise DataError(f"{where}: missing {', '.join(missing)}")
        try:
            w_in = np.asarray(spec["weights_in"])
            if w_in.ndim == 2:
                w_in = w_in[:, :, None]
            dash_syn = np.asarray(spec["dash_syn"])[:, None]
            if w_in.shape[2] == 2:
                dash_syn = np.concatenate([dash_syn, np.asarray(spec.get("dash_syn_2", spec["dash_syn"]))[:, None]], 1)
            net = cls(w_in=w_in, w_rec=np.asarray(spec["weights_rec"]), w_out=np.asarray(spec["weights_out"]),
                      dash_mem=np.asarray(spec["dash_mem"]), dash_syn=dash_syn,
                      threshold=np.asarray(spec["threshold"]), dash_mem_out=np.asarray(spec["dash_mem_out"]),
                      dash_syn_out=np.asarray(spec["dash_syn_out"]), threshold_out=np.asarray(spec["threshold_out"]),
                      bias=spec.get("bias"), bias_out=spec.get("bias_out"),
                      weight_shift_in=spec.get("weight_shift_in", 0), weight_shift_rec=spec.get("weight_shift_rec", 0),
                      weight_shift_out=spec.get("weight_shift_out", 0), state_scale_out=state_scale_out,
                      dt=float(spec.get("dt", 1e-3)))
            return net.validate(spec=None)
        except (ValueError, TypeError, IndexError) as e:
            if isinstance(e, ConfigError | ShapeError | HardwareLimitError):
                raise DataError(f"{where}: {e}") from None
            raise DataError(f"{where}: malformed Xylo specification ({e})") from None

    def save(self, path: str | Path, report: dict[str, Any] | None = None) -> None:
        """Write the JSON deployment file: ``{"format": "neuro-xylo", "version": 1, "spec": ...,
        "state_scale_out": ..., "report": ...}`` (written to a temporary file, then renamed)."""
        path = Path(path)
        doc = {"format": "neuro-xylo", "version": 1, "target": XYLO_AUDIO3.name, "spec": self.to_spec(),
               "state_scale_out": self.state_scale_out, "meta": self.meta, "report": report or {}}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> XyloNetwork:
        """Read a file written by :meth:`save` (only data is read; malformed files raise :class:`DataError`)."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{path}: not a readable neuro Xylo file ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != "neuro-xylo" or not isinstance(doc.get("spec"), dict):
            raise DataError(f"{path}: not a neuro Xylo file (expected a JSON object with format 'neuro-xylo')")
        if doc.get("version") != 1:
            raise DataError(f"{path}: unsupported neuro Xylo file version {doc.get('version')!r} (this reads 1)")
        scale = doc.get("state_scale_out", 1.0)
        if not isinstance(scale, int | float):
            raise DataError(f"{path}: state_scale_out must be a number")
        net = cls.from_spec(doc["spec"], state_scale_out=float(scale), where=str(path))
        net.meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
        return net


def resource_problems(net: XyloNetwork, spec: XyloSpec) -> list[str]:
    """What in ``net`` exceeds the core's resources (empty when it fits)."""
    out = []
    if net.n_in > spec.n_inputs:
        out.append(f"{net.n_in} input channels, the core has {spec.n_inputs}")
    if net.n_hidden > spec.n_hidden:
        out.append(f"{net.n_hidden} hidden neurons, the core has {spec.n_hidden}")
    if net.n_out > spec.n_outputs:
        out.append(f"{net.n_out} output neurons, the core has {spec.n_outputs}")
    reached = np.nonzero(np.asarray(net.w_in).any(axis=(0, 2)))[0]
    if reached.size and reached.max() >= spec.input_expansion:
        out.append(f"input weights reach hidden neuron {reached.max()}; only the first {spec.input_expansion} "
                   "can receive input")
    read = np.nonzero(np.asarray(net.w_out).any(axis=1))[0]
    if read.size and read.min() < net.n_hidden - spec.output_expansion:
        out.append(f"readout weights leave hidden neuron {read.min()}; only the last {spec.output_expansion} "
                   f"(from {net.n_hidden - spec.output_expansion}) can feed the readout")
    n_rec = int(np.count_nonzero(net.w_rec, axis=(0, 1)).max(initial=0))
    if n_rec > spec.rec_synapses:
        out.append(f"{n_rec} recurrent synapses, the core holds {spec.rec_synapses}")
    return out
