"""Loihi deployment files (:func:`export_loihi`, :func:`load_loihi`) in lava-dl netx's HDF5 layout.

A file holds a ``layer`` group with one group per layer (``'0'..'n-1'``, input to output) holding the datasets
``type`` (``dense``), ``shape``, ``inFeatures``, ``outFeatures``, ``weight`` (``[out, in]``),
``delay`` (``[out, in]``, delayed layers only), ``bias`` (the bias mantissa) and ``neuron/{type
= CUBA, iDecay = du + 1, vDecay = dv, vThMant = vth, refDelay = 1, gradedSpike}``.  What netx's
layout has no field for is stored beside it: ``weightExp``, ``numWeightBits``, ``signMode``
(0 = inferred), ``numMessageBits``, ``biasExp`` (per neuron), ``readout`` and ``stateScale``.

netx itself reads the integer weights at weight exponent 0 (it picks its own exponent for the same
values) and every bias at exponent 6, so a file computes the same in netx only when each synapse's
weights, shifted by its exponent, are whole numbers in the 8-bit range and each bias
``bias_mant << biasExp`` is a multiple of 64 within ``4095 << 6`` (:func:`netx_problems` lists what
is not).  Such a network is written in **netx's layout**: ``weight`` holds those effective weights
(``weightExp`` 0), ``bias`` the mantissa at ``biasExp`` 6, and a recurrent layer has type
``dense_rec`` with its recurrent weights in ``weight_rec`` ``[out, out]`` (netx's own recurrent
layer; it has no recurrent delays).  Any other network (``quantization="fine"``) is written in
**neuro's layout**, read by neuro and its Lava bridge but computed differently by netx: the stored
``weightExp``/``biasExp`` are kept, and a recurrent layer keeps its recurrent Dense in a
``recurrent`` subgroup (``weight``, optional ``delay``, ``weightExp``, ``numWeightBits``,
``signMode``), which netx ignores.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from torch import nn

from neuro.errors import ConfigError, DataError, NeuroError
from neuro.hardware.loihi.network import MAX_VTH, LoihiLayer, LoihiNetwork
from neuro.hardware.loihi.quantize import QUANTIZATIONS, QuantReport, quantize
from neuro.hdf5 import read_hdf5_tree

FORMAT = "neuro-loihi-netx/1"


def _s10(text: str) -> np.ndarray:
    return np.array([text.encode("ascii")], dtype="S10")


def _netx_weights(w: np.ndarray, e: int) -> np.ndarray | None:
    """Effective weights ``w`` (as Lava uses them) shifted by ``e`` as netx's exponent-0 integers, or None."""
    if e < 0 and np.any(w % (1 << -e)):
        return None
    v = (w << e) if e >= 0 else (w >> -e)
    if not v.size:
        return None
    lo = -256 if v.max() > 0 else -255  # Lava infers the sign mode again: all <= 0 is inhibitory, [-255, 0]
    hi = 254 if v.min() < 0 else 255  # mixed: even values up to 254
    return v if lo <= v.min() and v.max() <= hi else None


def _netx_bias(la: LoihiLayer) -> np.ndarray | None:
    """The layer's bias as netx's mantissas at exponent 6, or None when it is not a multiple of 64 in range."""
    b = la.bias()
    if np.any(b % 64) or np.abs(b // 64).max(initial=0) > 4095 or (b // 64).min(initial=0) < -4096:
        return None
    return b // 64


def netx_problems(net: LoihiNetwork) -> list[str]:
    """Why lava-dl netx would compute something else than neuro for ``net`` (empty: it computes the same).

    netx reads integer weights at exponent 0 and biases at exponent 6 (see the module docstring);
    it has no recurrent delays, applies a ``dense_rec`` layer's input delays to its recurrent
    synapses and drops the exponent when there are delays; and it ignores a ``recurrent`` subgroup
    (a file in neuro's layout, listed in ``net.meta["recurrent_groups"]``).
    """
    out = []
    for k, la in enumerate(net.layers):
        at = f"layer {k}" + (f" ({la.name})" if la.name else "")
        if not np.any(la.effective_weight()):
            out.append(f"{at}: all weights are 0, which netx cannot read (it scales by the largest weight)")
        elif _netx_weights(la.effective_weight(), la.weight_exp) is None:
            out.append(f"{at}: weight exponent {la.weight_exp} with these weights has no exponent-0 integer form "
                       "(netx ignores weightExp)")
        if _netx_bias(la) is None:
            out.append(f"{at}: biases (bias_mant << biasExp) are not multiples of 64 within 4095 << 6 (netx reads "
                       "every bias at exponent 6)")
        if la.recurrent:
            if la.delays is not None and np.any(la.delays) or la.rec_delays is not None and np.any(la.rec_delays):
                out.append(f"{at}: a recurrent layer with delays (netx's dense_rec gives the recurrent synapses the "
                           "input's delays and drops the weight exponent)")
            if _netx_weights(la.effective_rec_weight(), la.rec_weight_exp) is None:
                out.append(f"{at}: recurrent weight exponent {la.rec_weight_exp} with these weights has no "
                           "exponent-0 integer form (netx ignores weightExp)")
    for k in net.meta.get("recurrent_groups", []):
        out.append(f"layer {k}: its recurrent synapses are in a 'recurrent' subgroup, which netx ignores (it reads "
                   "type dense_rec with weight_rec)")
    return out


def export_loihi(model: nn.Module | LoihiNetwork, path: str | os.PathLike, *, clip: bool = False,
                 num_message_bits: int = 0, quantization: str = "netx") -> QuantReport:
    """Write a Loihi deployment file (lava-dl netx HDF5 layout, see the module docstring).

    ``model`` is a quantized :class:`LoihiNetwork` or a float neuro model (quantized first, with
    ``num_message_bits`` > 0 when its input will be graded counts rather than binary spikes).
    ``quantization="netx"`` (default) writes a file that lava-dl netx runs exactly as neuro's
    simulator does and refuses a network it cannot (:func:`netx_problems`); ``"fine"`` quantizes
    on the finer grid, whose file only neuro and its Lava bridge read exactly.
    Returns the quantization report (empty for an already quantized network).  The file is
    written next to ``path`` and renamed into place: a failed export leaves nothing behind.
    """
    if quantization not in QUANTIZATIONS:
        raise ConfigError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {quantization!r}")
    net, report = quantize(model, clip=clip, num_message_bits=num_message_bits, quantization=quantization)
    net.validate()
    problems = netx_problems(net)
    if quantization == "netx" and problems:
        raise ConfigError("this network cannot be written so that lava-dl netx runs it exactly: "
                          + "; ".join(problems) + "; quantize it with quantization='netx' (neuro export --to loihi "
                          "--quantization netx), or write a file only neuro reads with quantization='fine'")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"cannot write {os.fspath(path)}: the folder {folder} does not exist; create it first")
    tmp = f"{os.fspath(path)}.tmp"
    try:
        _write_netx(net, tmp, netx_layout=not problems)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return report


def _write_netx(net: LoihiNetwork, tmp: str, netx_layout: bool) -> None:
    import h5py

    with h5py.File(tmp, "w") as h:
        h.create_dataset("format", data=np.array([FORMAT.encode()], dtype="S32"))
        grp = h.create_group("layer")
        for k, la in enumerate(net.layers):
            g = grp.create_group(str(k))
            if netx_layout:  # what netx reads: exponent-0 weights, biases at exponent 6, dense_rec
                weights, weight_exp = _netx_weights(la.effective_weight(), la.weight_exp), 0
                bias_mant, bias_exp = _netx_bias(la), 6
            else:
                weights, weight_exp, bias_mant, bias_exp = la.weights, la.weight_exp, la.bias_mant, la.bias_exp
            rec_netx = netx_layout and la.recurrent
            g.create_dataset("type", data=_s10("dense_rec" if rec_netx else "dense"))
            g.create_dataset("shape", data=np.array([la.n_out], np.int64))
            g.create_dataset("inFeatures", data=la.n_in)
            g.create_dataset("outFeatures", data=la.n_out)
            g.create_dataset("weight", data=weights.astype(np.float64))
            if rec_netx:
                rec = _netx_weights(la.effective_rec_weight(), la.rec_weight_exp)
                g.create_dataset("weight_rec", data=rec.astype(np.float64))  # type: ignore[union-attr]
            if la.delays is not None and (np.any(la.delays) or not netx_layout):  # netx: zero delays = none
                g.create_dataset("delay", data=la.delays.astype(np.int64))
            g.create_dataset("bias", data=bias_mant.astype(np.float64))  # type: ignore[union-attr]
            g.create_dataset("biasExp", data=np.broadcast_to(np.asarray(bias_exp, np.int64), (la.n_out,)))
            g.create_dataset("weightExp", data=weight_exp)
            g.create_dataset("numWeightBits", data=la.num_weight_bits)
            g.create_dataset("signMode", data=0 if la.sign_mode is None else la.sign_mode)
            g.create_dataset("numMessageBits", data=la.num_message_bits)
            g.create_dataset("readout", data=int(la.readout))
            g.create_dataset("stateScale", data=float(la.state_scale))
            g.create_dataset("name", data=np.array([la.name.encode()], dtype=f"S{max(1, len(la.name))}"))
            if la.recurrent and not rec_netx:
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
    time limit (:func:`neuro.hdf5.read_hdf5_tree`).
    """
    p = os.fspath(path)
    specs = _read_netx(read_hdf5_tree(p, "Loihi network"), p)
    groups = [k for k, spec in enumerate(specs) if spec.pop("recurrent_group", False)]
    try:
        net = LoihiNetwork([LoihiLayer(**spec) for spec in specs], meta={"recurrent_groups": groups} if groups else {})
        net.validate()
    except NeuroError as e:
        raise DataError(f"{p}: {e}") from None
    return net


def _read_netx(h: dict[str, Any], p: str) -> list[dict[str, Any]]:
    """The layers of a netx file's content (:func:`~neuro.hdf5.read_hdf5_tree`) as
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
        if kind not in ("dense", "dense_rec"):
            raise DataError(f"{p}: {where} has type {kind!r}; only dense and dense_rec layers are supported")
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
        if kind == "dense_rec":
            if "recurrent" in g:
                raise DataError(f"{p}: {where} is a dense_rec layer with a 'recurrent' group too; keep one of them")
            rec = array(g, "weight_rec", where)
            if rec.shape != (n_out, n_out):
                raise DataError(f"{p}: {where}/weight_rec must be [out, out] = ({n_out}, {n_out}), got {rec.shape}")
            spec.update(rec_weights=rec, rec_weight_exp=0, rec_num_weight_bits=8)
        r = group(g, "recurrent", where, required=False)
        if r is not None:
            rw = f"{where}/recurrent"
            spec["recurrent_group"] = True
            spec.update(rec_weights=array(r, "weight", rw),
                        rec_delays=array(r, "delay", rw) if "delay" in r else None,
                        rec_weight_exp=scalar(r, "weightExp", rw, 0),
                        rec_num_weight_bits=scalar(r, "numWeightBits", rw, 8),
                        rec_sign_mode=scalar(r, "signMode", rw, 0) or None)
        specs.append(spec)
    return specs
