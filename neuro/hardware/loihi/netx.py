"""Loihi deployment files (:func:`export_loihi`, :func:`load_loihi`) in lava-dl netx's HDF5 layout.

A file holds a ``layer`` group with one group per layer (``'0'..'n-1'``, input to output) holding the datasets
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

import os
from typing import Any

import numpy as np
from torch import nn

from neuro.errors import ConfigError, DataError, NeuroError
from neuro.hardware.loihi.network import MAX_VTH, LoihiLayer, LoihiNetwork
from neuro.hardware.loihi.quantize import QuantReport, quantize
from neuro.hdf5 import read_hdf5_tree

FORMAT = "neuro-loihi-netx/1"


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
    time limit (:func:`neuro.hdf5.read_hdf5_tree`).
    """
    p = os.fspath(path)
    specs = _read_netx(read_hdf5_tree(p, "Loihi network"), p)
    try:
        net = LoihiNetwork([LoihiLayer(**spec) for spec in specs])
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
