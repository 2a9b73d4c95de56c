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

import numpy as np
from torch import nn

from neuro.errors import ConfigError, DataError
from neuro.hardware.loihi.network import LoihiLayer, LoihiNetwork
from neuro.hardware.loihi.quantize import QuantReport, quantize

FORMAT = "neuro-loihi-netx/1"


def _s10(text: str) -> np.ndarray:
    return np.array([text.encode("ascii")], dtype="S10")


def export_loihi(model: nn.Module | LoihiNetwork, path: str | os.PathLike, *, clip: bool = False) -> QuantReport:
    """Write a Loihi deployment file (lava-dl netx HDF5 layout, see the module docstring).

    ``model`` is a quantized :class:`LoihiNetwork` or a float neuro model (quantized first).
    Returns the quantization report (empty for an already quantized network).
    """
    import h5py

    net, report = quantize(model, clip=clip)
    net.validate()
    tmp = f"{os.fspath(path)}.tmp"
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
    os.replace(tmp, path)
    return report


def load_loihi(path: str | os.PathLike) -> LoihiNetwork:
    """Read a deployment file written by :func:`export_loihi` (or a netx file of dense CUBA layers)."""
    import h5py

    try:
        h = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"{path}: not an HDF5 Loihi network file ({e})") from None
    with h:
        if "layer" not in h:
            raise DataError(f"{path}: no 'layer' group; expected the lava-dl netx HDF5 layout")
        layers = []
        for k in sorted(h["layer"], key=int):
            g = h["layer"][k]
            kind = g["type"][0].decode()
            if kind != "dense":
                raise ConfigError(f"{path}: layer {k} has type {kind!r}; only dense layers are supported")
            nrn = g["neuron"] if "neuron" in g else None
            n_out = int(g["outFeatures"][()])

            def get(name, default, grp=g):
                return grp[name][()] if name in grp else default

            rec = {}
            if "recurrent" in g:
                r = g["recurrent"]
                rec = {"rec_weights": np.asarray(r["weight"][()]).astype(np.int64),
                       "rec_delays": np.asarray(r["delay"][()]).astype(np.int64) if "delay" in r else None,
                       "rec_weight_exp": int(get("weightExp", 0, r)),
                       "rec_num_weight_bits": int(get("numWeightBits", 8, r)),
                       "rec_sign_mode": int(get("signMode", 0, r)) or None}
            layers.append(LoihiLayer(
                weights=np.asarray(g["weight"][()]).astype(np.int64),
                delays=np.asarray(g["delay"][()]).astype(np.int64) if "delay" in g else None,
                du=int(get("iDecay", 0, nrn)) - 1 if nrn is not None else -1,
                dv=int(get("vDecay", 4096, nrn)) if nrn is not None else 4096,
                vth=int(get("vThMant", 1 << 17, nrn)) if nrn is not None else 1 << 17,
                bias_mant=np.broadcast_to(np.asarray(get("bias", 0)), (n_out,)).astype(np.int64),
                bias_exp=np.broadcast_to(np.asarray(get("biasExp", 6)), (n_out,)).astype(np.int64),
                weight_exp=int(get("weightExp", 0)), num_weight_bits=int(get("numWeightBits", 8)),
                sign_mode=(int(get("signMode", 0)) or None), num_message_bits=int(get("numMessageBits", 0)),
                readout=bool(get("readout", 0)), state_scale=float(get("stateScale", 1.0)),
                name=get("name", np.array([b""]))[0].decode() if "name" in g else f"layer{k}",
                **rec,
            ))
    return LoihiNetwork(layers)
