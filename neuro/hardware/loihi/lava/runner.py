"""Runs inside the Lava (Python 3.10, numpy < 2) environment; does not import neuro.

Usage: ``python runner.py JOBS.json`` where the file holds a list of jobs
``{"net": FILE.net, "input": X.npy, "out": OUT.npz, "record": bool, "timing": bool}``
(written and read by :func:`neuro.hardware.loihi.lava.run_lava`).  Each job loads a deployment file
(lava-dl netx HDF5 layout plus neuro's extra fields, see :mod:`neuro.hardware.loihi.netx`), builds it
as Lava processes (``RingBuffer`` source -> ``Dense``/``DelayDense`` -> ``LIF`` -> ..., and for a
recurrent layer a second ``Dense``/``DelayDense`` from the ``LIF``'s ``s_out`` back to its ``a_in``), runs every
sample of ``X [T, B, n_in]`` with the bit-accurate ``fixed_pt`` models and saves per layer
``s{k}``, and with ``record`` also ``u{k}``, ``v{k}`` (``[T, B, N]``, read by monitors after each
step), else the final ``u``/``v`` as ``u{k}_final``/``v{k}_final`` (``[B, N]``).  With ``timing``
the first step runs on its own (compilation and process start-up) and the remaining steps are
timed: ``compile_s`` and ``run_s`` are saved per sample.

A job with ``"engine": "netx"`` instead loads the file with lava-dl netx
(``lava.lib.dl.netx.hdf5.Network``, reading only netx's own fields; ``input_message_bits`` is
passed as netx takes it) and records the same per-layer arrays from its blocks' neurons.
``python runner.py --netx-check`` exits 0 when netx imports.  netx imports torch only for RF
neurons' parameters and its sequential modules, which a network of CUBA dense layers never uses;
where torch is not installed, stand-ins that raise when used are registered for those two modules
so that netx loads without a multi-GB torch.
"""

import importlib.util
import json
import os
import sys
import time
import types

import h5py
import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor
from lava.utils.weightutils import SignMode


def import_netx():
    """``lava.lib.dl.netx``, with stand-ins for the two torch-based modules it imports when torch is absent."""
    if importlib.util.find_spec("torch") is None and "lava.lib.dl.slayer" not in sys.modules:
        root = importlib.util.find_spec("lava.lib.dl").submodule_search_locations[0]

        def needs_torch(*args, **kwargs):
            raise RuntimeError("this part of lava-dl needs torch, which is not installed in the Lava environment")

        def _stand_in(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return needs_torch

        for name, rel in (("lava.lib.dl.slayer", "slayer/__init__.py"),
                          ("lava.lib.dl.slayer.neuron", "slayer/neuron/__init__.py"),
                          ("lava.lib.dl.slayer.neuron.rf", "slayer/neuron/rf.py"),
                          ("lava.lib.dl.netx.sequential_modules", "netx/sequential_modules.py")):
            m = types.ModuleType(name)
            m.__file__ = os.path.join(root, rel)  # Lava's compiler looks up each module's folder
            if rel.endswith("__init__.py"):
                m.__path__ = []
            m.__getattr__ = _stand_in
            sys.modules[name] = m
    import warnings

    warnings.filterwarnings("ignore", message="Cannot import module")  # the compiler's scan of netx's folder
    from lava.lib.dl import netx

    return netx


def run_netx_sample(path, x, input_message_bits):
    """One sample ``x [T, n_in]`` through the file as lava-dl netx builds it; per block ``s``, ``u``, ``v``."""
    netx = import_netx()
    T = x.shape[0]
    net = netx.hdf5.Network(net_config=path, input_message_bits=input_message_bits)
    source = Source(data=np.ascontiguousarray(x.T.astype(np.int32)))
    source.s_out.connect(net.inp)
    mons = []
    for blk in net.layers:
        m = {}
        for key, target in (("s", blk.neuron.s_out), ("u", blk.neuron.u), ("v", blk.neuron.v)):
            m[key] = Monitor()
            m[key].probe(target, T)
        mons.append(m)
    source.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    res = {}
    for k, blk in enumerate(net.layers):
        for key, var in (("s", "s_out"), ("u", "u"), ("v", "v")):
            data = mons[k][key].get_data()[blk.neuron.name][var]
            res[f"{key}{k}"] = np.asarray(data).reshape(T, -1).astype(np.int64)
    source.stop()
    return res


def read_layers(path):
    """The layers of a deployment file as plain dicts (netx field names, neuro's extras)."""
    layers = []
    with h5py.File(path, "r") as h:
        for k in sorted(h["layer"], key=int):
            g = h["layer"][k]
            n = g["neuron"]
            n_out = int(g["outFeatures"][()])

            def get(name, default, grp=g):
                return grp[name][()] if name in grp else default

            rec = None
            if "weight_rec" in g:  # netx's dense_rec: the recurrent weights at exponent 0, no delays
                rec = {"weight": np.asarray(g["weight_rec"][()]).astype(np.int32), "delay": None, "weight_exp": 0,
                       "num_weight_bits": 8, "sign_mode": 0, "num_message_bits": 0}
            if "recurrent" in g:
                r = g["recurrent"]
                rec = {"weight": np.asarray(r["weight"][()]).astype(np.int32),
                       "delay": np.asarray(r["delay"][()]).astype(int) if "delay" in r else None,
                       "weight_exp": int(get("weightExp", 0, r)), "num_weight_bits": int(get("numWeightBits", 8, r)),
                       "sign_mode": int(get("signMode", 0, r)), "num_message_bits": 0}
            layers.append({
                "recurrent": rec,
                "weight": np.asarray(g["weight"][()]).astype(np.int32),
                "delay": np.asarray(g["delay"][()]).astype(int) if "delay" in g else None,
                "du": int(n["iDecay"][()]) - 1, "dv": int(n["vDecay"][()]), "vth": int(n["vThMant"][()]),
                "bias_mant": np.broadcast_to(np.asarray(get("bias", 0)), (n_out,)).astype(np.int32),
                "bias_exp": np.broadcast_to(np.asarray(get("biasExp", 6)), (n_out,)).astype(np.int32),
                "weight_exp": int(get("weightExp", 0)), "num_weight_bits": int(get("numWeightBits", 8)),
                "sign_mode": int(get("signMode", 0)), "num_message_bits": int(get("numMessageBits", 0)),
            })
    return layers


def synapses(la):
    """A Dense (or DelayDense when the layer has delays) with the layer's weights and options."""
    kw = {"weight_exp": la["weight_exp"], "num_weight_bits": la["num_weight_bits"],
          "num_message_bits": la["num_message_bits"]}
    if la["sign_mode"]:
        kw["sign_mode"] = SignMode(la["sign_mode"])
    if la["delay"] is not None:
        return DelayDense(weights=la["weight"], delays=la["delay"], max_delay=int(la["delay"].max()), **kw)
    return Dense(weights=la["weight"], **kw)


def build(layers, x):
    """Lava processes for one sample ``x [T, n_in]``: returns (source, synapses, lifs)."""
    source = Source(data=np.ascontiguousarray(x.T.astype(np.int32)))
    prev = source.s_out
    syns, lifs = [], []
    for la in layers:
        syn = synapses(la)
        lif = LIF(shape=(la["weight"].shape[0],), du=la["du"], dv=la["dv"], vth=la["vth"],
                  bias_mant=la["bias_mant"], bias_exp=la["bias_exp"])
        prev.connect(syn.s_in)
        syn.a_out.connect(lif.a_in)
        if la["recurrent"] is not None:  # the population's spikes back into its own input port
            rec = synapses(la["recurrent"])
            lif.s_out.connect(rec.s_in)
            rec.a_out.connect(lif.a_in)
            syns.append(rec)
        prev = lif.s_out
        syns.append(syn)
        lifs.append(lif)
    return source, syns, lifs


def run_sample(layers, x, record, timing):
    T = x.shape[0]
    source, _, lifs = build(layers, x)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    res = {}
    if record:
        mons = []
        for lif in lifs:
            m = {}
            for key, target in (("s", lif.s_out), ("u", lif.u), ("v", lif.v)):
                m[key] = Monitor()
                m[key].probe(target, T)
            mons.append(m)
    else:
        sinks = []
        for lif in lifs:
            sink = Sink(shape=lif.s_out.shape, buffer=T)
            lif.s_out.connect(sink.a_in)
            sinks.append(sink)
    t0 = time.perf_counter()
    if timing and T > 1:
        source.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
        t1 = time.perf_counter()
        source.run(condition=RunSteps(num_steps=T - 1), run_cfg=cfg)
        t2 = time.perf_counter()
        res["compile_s"], res["run_s"] = t1 - t0, t2 - t1
    else:
        source.run(condition=RunSteps(num_steps=T), run_cfg=cfg)
    for k, lif in enumerate(lifs):
        if record:
            for key, var in (("s", "s_out"), ("u", "u"), ("v", "v")):
                data = mons[k][key].get_data()[lif.name][var]
                res[f"{key}{k}"] = np.asarray(data).reshape(T, -1).astype(np.int64)
        else:
            res[f"s{k}"] = np.asarray(sinks[k].data.get()).reshape(-1, T).T.astype(np.int64)
            res[f"u{k}_final"] = np.asarray(lif.u.get()).astype(np.int64)
            res[f"v{k}_final"] = np.asarray(lif.v.get()).astype(np.int64)
    source.stop()
    return res


def run_job(job):
    x = np.load(job["input"])
    if job.get("engine") == "netx":
        per = [run_netx_sample(job["net"], x[:, b], job.get("input_message_bits", 0)) for b in range(x.shape[1])]
    else:
        layers = read_layers(job["net"])
        per = [run_sample(layers, x[:, b], job.get("record", True), job.get("timing", False))
               for b in range(x.shape[1])]
    stacked = {}
    for key in per[0]:
        vals = [p[key] for p in per]
        stacked[key] = np.stack(vals, axis=1 if np.ndim(vals[0]) == 2 and not key.endswith("_final") else 0)
    np.savez(job["out"], **stacked)


def main(path):
    with open(path) as f:
        jobs = json.load(f)
    for job in jobs:
        run_job(job)


if __name__ == "__main__":
    if sys.argv[1] == "--netx-check":
        import_netx()
    else:
        main(sys.argv[1])
