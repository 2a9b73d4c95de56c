"""``neuro bench lsm``: reservoir feature extraction on N-MNIST, neuro vs the same reservoir in SpikingJelly."""

from __future__ import annotations

import time
from typing import Any

import torch

from neuro.datasets import nmnist_inputs
from neuro.models.lsm import LiquidStateMachine


def bench_lsm(root=None, n: int = 1000, batch: int = 100, samples: int = 500) -> dict[str, Any]:
    """Reservoir feature extraction on N-MNIST: neuro vs the same reservoir written with SpikingJelly layers."""
    from spikingjelly.activation_based import functional, neuron

    x, _ = nmnist_inputs(root)
    x = x[:, :samples]
    lsm = LiquidStateMachine(x.shape[2], n=n, seed=0, input_scale=2.0)
    beta = float(lsm.neuron.decays()[0])
    sj = neuron.LIFNode(tau=1 / (1 - beta), decay_input=False, v_threshold=lsm.neuron.v_threshold, v_reset=0.0,
                        step_mode="s")
    fin = torch.nn.Linear(x.shape[2], n, bias=False)
    frec = torch.nn.Linear(n, n, bias=False)
    with torch.no_grad():
        fin.weight.copy_(lsm.w_in)
        frec.weight.copy_(lsm.w_rec)

    def run_sj(xb: torch.Tensor) -> torch.Tensor:
        functional.reset_net(sj)
        s = xb.new_zeros(xb.shape[1], n)
        out = []
        with torch.no_grad():
            for t in range(xb.shape[0]):
                s = sj(fin(xb[t]) + frec(s))
                out.append(s)
        return torch.stack(out)

    res: dict[str, Any] = {"reservoir": n, "samples": x.shape[1], "steps": x.shape[0]}
    agree = []
    for name, fn in (("neuro", lsm), ("spikingjelly", run_sj)):
        fn(x[:, :batch])  # warm-up
        t = time.perf_counter()
        outs = [fn(x[:, k : k + batch]) for k in range(0, x.shape[1], batch)]
        res[name] = {"seconds": time.perf_counter() - t, "samples_per_s": x.shape[1] / (time.perf_counter() - t)}
        agree.append(torch.cat(outs, 1))
    res["spike_agreement"] = float((agree[0] == agree[1]).float().mean())
    res["speedup"] = res["neuro"]["samples_per_s"] / res["spikingjelly"]["samples_per_s"]
    return res
