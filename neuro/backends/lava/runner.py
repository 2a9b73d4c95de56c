"""Runs inside the Lava (Python 3.10) environment: build the network as Lava processes, run it, save results.

Usage: python runner.py IN.npz OUT.npz  (written and read by neuro.backends.lava.run_lava).
"""

import sys

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor


def main(src: str, dst: str) -> None:
    f = np.load(src)
    x = f["input"]  # [T, n_in]
    T = x.shape[0]
    n = int(f["n_layers"])
    source = RingBuffer(data=x.T.astype(np.int32))
    prev = source.s_out
    lifs, monitors = [], []
    for k in range(n):
        w = f[f"w{k}"]
        du, dv, vth, bias_exp, weight_exp, nbits, sign = (int(v) for v in f[f"p{k}"])
        kw = {"weight_exp": weight_exp, "num_weight_bits": nbits}
        if sign >= 0:
            kw["sign_mode"] = sign
        if f"d{k}" in f:
            syn = DelayDense(weights=w, delays=f[f"d{k}"].astype(int), **kw)
        else:
            syn = Dense(weights=w, **kw)
        lif = LIF(shape=(w.shape[0],), du=du, dv=dv, vth=vth, bias_mant=f[f"b{k}"].astype(np.int32),
                  bias_exp=bias_exp)
        prev.connect(syn.s_in)
        syn.a_out.connect(lif.a_in)
        prev = lif.s_out
        mons = {}
        for name, port in (("s", lif.s_out), ("u", lif.u), ("v", lif.v)):
            m = Monitor()
            m.probe(port, T)
            mons[name] = m
        lifs.append(lif)
        monitors.append(mons)
    lifs[-1].run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = {}
    for k, (lif, mons) in enumerate(zip(lifs, monitors, strict=True)):
        for name, m in mons.items():
            data = m.get_data()[lif.name]
            key = "s_out" if name == "s" else name
            out[f"{name}{k}"] = np.asarray(data[key]).reshape(T, -1).astype(np.int64)
    lifs[-1].stop()
    np.savez(dst, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
