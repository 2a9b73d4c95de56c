"""``neuro bench loihi``: the fixed-point simulator vs Lava's CPU simulator on the same network and inputs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from neuro.backends.loihi import LoihiLayer, LoihiNetwork, run_loihi


def bench_network(seed: int = 0) -> LoihiNetwork:
    """140-256-256-20 with mixed-sign weights and delays <= 24 (the size of the SHD delay model)."""
    rng = np.random.default_rng(seed)
    sizes = [140, 256, 256, 20]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers.append(LoihiLayer(rng.integers(-120, 128, (b, a)), du=4095, dv=40, vth=int(rng.integers(60, 120)),
                                 delays=rng.integers(0, 25, (b, a)), weight_exp=0))
    return LoihiNetwork(layers)


def run_loihi_bench(steps: int = 200, seed: int = 0) -> dict[str, Any]:
    from neuro.backends.lava import lava_status, run_lava

    net = bench_network(seed)
    rng = np.random.default_rng(seed + 1)
    x = (rng.random((steps, 64, 140)) < 0.05).astype(np.int64)
    runs: dict[str, dict[str, float]] = {}
    for B in (1, 64):
        run_loihi(net, x[:, :B])  # warm-up
        t = time.perf_counter()
        ours = run_loihi(net, x[:, :B])
        dt = time.perf_counter() - t
        runs[f"neuro loihi, batch {B}"] = {"seconds": dt, "sample_steps_per_s": B * steps / dt}
    ok, why = lava_status()
    result: dict[str, Any] = {"steps": steps, "network": "140-256-256-20, delays 0..24", "runs": runs}
    if not ok:
        result.update({"bit_exact": None, "speedup": None, "lava": why})
        return result
    t = time.perf_counter()
    theirs = run_lava(net, x[:, 0])
    dt = time.perf_counter() - t
    runs["Lava 0.10 CPU (fixed_pt), batch 1"] = {"seconds": dt, "sample_steps_per_s": steps / dt}
    exact = all(np.array_equal(ours[k][layer][:, 0].numpy(), theirs[k][layer])
                for k in ("s", "u", "v") for layer in range(3))
    result["bit_exact"] = bool(exact)
    result["speedup"] = runs["neuro loihi, batch 64"]["sample_steps_per_s"] / (steps / dt)
    result["speedup_batch1"] = runs["neuro loihi, batch 1"]["sample_steps_per_s"] / (steps / dt)
    result["lava_seconds_include_startup"] = True
    return result
