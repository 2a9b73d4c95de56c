"""``neuro bench loihi``: the fixed-point simulator vs Lava's CPU simulator on the same network and inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from neuro.bench.timing import time_it
from neuro.hardware.loihi import LoihiLayer, LoihiNetwork, lava_status, run_lava_many, simulate


def bench_network(seed: int = 0, max_delay: int = 24) -> LoihiNetwork:
    """140-256-256-20 (the SHD delay model's size): mixed-sign 8-bit weights, delays 0..``max_delay``,
    per-neuron biases, a CUBA current decay and a voltage decay."""
    rng = np.random.default_rng(seed)
    sizes = [140, 256, 256, 20]
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(LoihiLayer(
            rng.integers(-128, 128, (b, a)), du=1024, dv=256, vth=int(rng.integers(250, 350)),
            bias_mant=rng.integers(-10, 20, b), bias_exp=6, delays=rng.integers(0, max_delay + 1, (b, a)),
            name=f"layer{k}"))
    return LoihiNetwork(layers)


def run_loihi_bench(steps: int = 200, seed: int = 0, repeat: int = 3, batch: int = 64) -> dict[str, Any]:
    """Time neuro's simulator at batch 1 and ``batch`` and Lava at batch 1; check they agree bit for bit.

    Lava's time excludes its compilation and process start-up (its first step); its spikes (every
    layer, every step) and states come from a second, monitored run of the same network and input.
    """
    net = bench_network(seed)
    rng = np.random.default_rng(seed + 1)
    x = torch.from_numpy((rng.random((steps, batch, 140)) < 0.05).astype(np.int64))
    simulate(net, x[:, :2])  # compile the kernels
    runs: dict[str, dict[str, float]] = {}
    for B in (1, batch):
        dt = min(time_it(lambda B=B: simulate(net, x[:, :B]), repeat, warmup=0))
        runs[f"neuro loihi, batch {B}"] = {"batch": B, "seconds": dt, "sample_steps_per_s": B * steps / dt}
    result: dict[str, Any] = {"steps": steps, "network": "140-256-256-20, delays 0..24, input rate 0.05",
                              "threads": torch.get_num_threads(), "runs": runs}
    ok, why = lava_status()
    if not ok:
        result.update({"bit_exact": None, "speedup": None, "lava": why})
        return result
    timed, recorded = run_lava_many([(net, x[:, :1].numpy())], record=False, timing=True) + \
        run_lava_many([(net, x[:, :1].numpy())], record=True)
    lava_s = float(timed.run_s[0])  # type: ignore[index]
    lava_rate = (steps - 1) / lava_s
    runs["Lava 0.10 CPU fixed_pt, batch 1"] = {"batch": 1, "seconds": lava_s * steps / (steps - 1),
                                               "sample_steps_per_s": lava_rate}
    ours = simulate(net, x[:, :1], record=True)
    exact = all(
        np.array_equal(ours.spikes[k].numpy().astype(np.int64), recorded.spikes[k])
        and np.array_equal(ours.spikes[k].numpy().astype(np.int64), timed.spikes[k])
        and np.array_equal(ours.u[k].numpy(), recorded.u[k]) and np.array_equal(ours.v[k].numpy(), recorded.v[k])
        and np.array_equal(ours.final_u[k].numpy(), timed.final_u[k])
        and np.array_equal(ours.final_v[k].numpy(), timed.final_v[k])
        for k in range(len(net.layers)))
    result["bit_exact"] = bool(exact)
    result["spikes_per_layer"] = [int(s.sum()) for s in ours.spikes]
    result["lava_compile_s"] = float(timed.compile_s[0])  # type: ignore[index]
    result["speedup"] = runs[f"neuro loihi, batch {batch}"]["sample_steps_per_s"] / lava_rate
    result["speedup_batch1"] = runs["neuro loihi, batch 1"]["sample_steps_per_s"] / lava_rate
    return result
