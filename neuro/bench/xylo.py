"""``neuro bench xylo``: the batched Xylo simulator vs the vendor's ``xylosim`` on the same networks and inputs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from neuro.bench.timing import time_it
from neuro.hardware.xylo import XyloNetwork, run_xylosim, simulate, xylosim_available, xylosim_layer

FIELDS = ("spikes", "out_spikes", "v", "isyn", "v_out", "isyn_out")


def random_network(kind: str, seed: int = 0, n_in: int = 16, hidden: int = 128, n_out: int = 16) -> XyloNetwork:
    """A random network of the core's size: ``feedforward`` (no recurrent weights, one synapse),
    ``recurrent`` (30 % recurrent weights, two synapses, biases), both at the scale :func:`quantize`
    gives (thresholds near 4096), or ``extreme`` (largest shifts, decay shifts 0 and 15, small
    thresholds: saturating currents and membranes, many spikes per step)."""
    g = np.random.default_rng(seed)
    s = 1 if kind == "feedforward" else 2
    w_rec = g.integers(-128, 128, (hidden, hidden, s)) * (g.random((hidden, hidden, s)) < 0.3)
    net = XyloNetwork(
        w_in=g.integers(-128, 128, (n_in, hidden, s)), w_rec=w_rec * (kind != "feedforward"),
        w_out=g.integers(-128, 128, (hidden, n_out)), dash_mem=g.integers(1, 6, hidden),
        dash_syn=g.integers(1, 4, (hidden, s)), threshold=g.integers(2000, 8000, hidden),
        dash_mem_out=g.integers(1, 6, n_out), dash_syn_out=g.integers(1, 5, n_out),
        threshold_out=g.integers(2000, 8000, n_out), weight_shift_in=1, weight_shift_rec=0, weight_shift_out=1)
    if kind == "recurrent":
        net.bias, net.bias_out = g.integers(-200, 200, hidden), g.integers(-200, 200, n_out)
    if kind == "extreme":
        net.dash_mem, net.dash_syn = g.choice([0, 15], hidden), g.choice([0, 1, 15], (hidden, s))
        net.dash_mem_out, net.dash_syn_out = g.choice([0, 15], n_out), g.choice([0, 15], n_out)
        net.threshold, net.threshold_out = g.integers(1, 300, hidden), g.integers(1, 300, n_out)
        net.weight_shift_in = net.weight_shift_rec = net.weight_shift_out = 7
        net.bias, net.bias_out = g.integers(-32768, 32768, hidden), g.integers(-32768, 32768, n_out)
    return net.validate()


def random_counts(steps: int, batch: int, n_in: int, seed: int = 0, rate: float = 0.2, top: int = 20) -> torch.Tensor:
    """Input spike counts ``[steps, batch, n_in]``: 0 with probability ``1 - rate``, else 1..``top`` (above 15
    is cut)."""
    g = np.random.default_rng(seed + 1)
    x = g.integers(1, top + 1, (steps, batch, n_in)) * (g.random((steps, batch, n_in)) < rate)
    return torch.from_numpy(x.astype(np.int64))


def bench_one(name: str, net: XyloNetwork, x: torch.Tensor, ref_samples: int, repeat: int) -> dict[str, Any]:
    """Time neuro's simulator on the batch and xylosim on ``ref_samples`` of it; compare those bit for bit."""
    T, B, _ = x.shape
    t_neuro = min(time_it(lambda: simulate(net, x), repeat, warmup=0))
    row: dict[str, Any] = {"network": name, "hidden": net.n_hidden, "steps": T, "batch": B,
                           "neuro_s": t_neuro, "neuro_sample_steps_per_s": B * T / t_neuro}
    ok, why = xylosim_available()
    if not ok:
        row.update({"bit_exact": None, "xylosim": why})
        return row
    k = min(ref_samples, B)
    layer = xylosim_layer(net)
    t0 = time.perf_counter()  # xylosim is timed on the run whose output is compared (one run: it is slow)
    theirs = run_xylosim(net, x[:, :k], layer=layer)
    t_ref = time.perf_counter() - t0
    ours = simulate(net, x[:, :k], record=True)
    row["bit_exact"] = all(torch.equal(getattr(ours, f), getattr(theirs, f)) for f in FIELDS)
    row["hidden_spikes"] = int(ours.spikes.sum())
    row["max_spikes_per_step"] = int(ours.spikes.max()) if ours.spikes.numel() else 0
    row["saturated_states"] = int(sum(int((getattr(ours, f).abs() >= 32767).sum()) for f in ("v", "isyn")))
    row["xylosim_samples"] = k
    row["xylosim_sample_steps_per_s"] = k * T / t_ref
    row["speedup"] = row["neuro_sample_steps_per_s"] / row["xylosim_sample_steps_per_s"]
    return row


def run_xylo_bench(steps: int = 100, batch: int = 64, repeat: int = 3, ref_samples: int = 8, seed: int = 0,
                   checkpoint: str | None = None, device: str | None = None) -> dict[str, Any]:
    """Random feed-forward, recurrent and extreme networks (16-128-16), and a trained checkpoint's network
    when given: neuro's simulator (the whole batch at once) vs xylosim (one sample after the other)."""
    nets = [(kind, random_network(kind, seed)) for kind in ("feedforward", "recurrent", "extreme")]
    if checkpoint is not None:
        from neuro.hardware.xylo import quantize
        from neuro.models import load_checkpoint

        model, _ = load_checkpoint(checkpoint)
        nets.append((f"trained ({checkpoint})", quantize(model, clip=True)[0]))
    rows = []
    for k, (name, net) in enumerate(nets):
        x = random_counts(steps, batch, net.n_in, seed + k, top=20 if name == "extreme" else 4)
        if device is not None:
            x = x.to(device)
        rows.append(bench_one(name, net, x, ref_samples, repeat))
    exact = [r["bit_exact"] for r in rows]
    return {"steps": steps, "batch": batch, "threads": torch.get_num_threads(), "runs": rows,
            "bit_exact": None if None in exact else all(exact),
            "speedup": min((r["speedup"] for r in rows if "speedup" in r), default=None)}
