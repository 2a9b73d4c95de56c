"""``neuro bench lif``: LIF forward+backward against SpikingJelly, snnTorch, Norse and a roofline proxy."""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from neuro.bench.timing import BenchResult, cuda_peak_memory, median, peak_memory, saved_bytes, time_it
from neuro.errors import ConfigError
from neuro.neurons import LIF


def _neuro(backend: str, tau: float) -> Callable[[torch.Tensor], torch.Tensor]:
    m = LIF(tau=tau, backend=backend)
    return m


def _spikingjelly(tau: float) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """SpikingJelly's multi-step LIFNode: it dispatches to its own fused CPU / CUDA / Triton kernels."""
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except Exception:
        return None
    m = neuron.LIFNode(tau=tau, step_mode="m", surrogate_function=surrogate.ATan())

    def run(x: torch.Tensor) -> torch.Tensor:
        m.reset()
        return m(x)

    return run


def _snntorch(tau: float, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor] | None:
    try:
        import snntorch as snn
    except Exception:
        return None
    # snnTorch's Leaky has no input scaling; the same dynamics as decay_input=True use x * (1 - beta).
    beta = 1 - 1 / tau
    m = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", reset_delay=False).to(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        mem = m.init_leaky()
        out = []
        xs = x * (1 - beta)
        for t in range(x.shape[0]):
            spk, mem = m(xs[t], mem)
            out.append(spk)
        return torch.stack(out)

    return run


def _norse(tau: float, device: torch.device, compile: bool = False) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Norse's LIFBoxCell stepped over time; ``compile=True`` wraps the cell in ``torch.compile``."""
    try:
        from norse.torch import LIFBoxCell, LIFBoxParameters
    except Exception:
        return None
    # Norse integrates v += dt * tau_mem_inv * (v_leak - v + x); dt * tau_mem_inv = 1/tau gives the
    # decay_input=True LIF.
    p = LIFBoxParameters(tau_mem_inv=torch.tensor(1.0 / tau / 1e-3, device=device),
                         v_th=torch.tensor(1.0, device=device), v_reset=torch.tensor(0.0, device=device))
    cell = LIFBoxCell(p, dt=1e-3)
    if compile:
        cell = torch.compile(cell)

    def run(x: torch.Tensor) -> torch.Tensor:
        state = None
        out = []
        for t in range(x.shape[0]):
            z, state = cell(x[t], state)
            out.append(z)
        return torch.stack(out)

    return run


def _roofline(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x) * 2


def tune_allocator() -> bool:
    """Keep freed large blocks in glibc's heap instead of returning them to the OS.

    Every implementation here allocates several 30 MB tensors per call; with glibc's default
    thresholds each one is a fresh mmap whose first touch page-faults, which dominates and
    randomizes the timings.  Applied once for the whole process, so all peers benefit alike.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or platform.system() != "Linux":
        return False
    libc = ctypes.CDLL(name)
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20) and libc.mallopt(m_trim_threshold, 2**31 - 1))


def run_lif_bench(
    T: int = 500, B: int = 16, N: int = 1024, tau: float = 2.0, repeat: int = 5, quick: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Time forward+backward of each implementation on the same input; returns the JSON-able results.

    ``device="cuda"`` runs every implementation on the GPU: neuro's Triton kernels against
    SpikingJelly's CUDA kernels, snnTorch, Norse and the roofline proxy.
    """
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("bench lif --device cuda needs a CUDA GPU; none is visible (run with --device cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"bench lif runs on cpu or cuda, not {device!r}")
    tuned = tune_allocator()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(T, B, N, generator=g) * 1.5).to(dev)
    linear = nn.Linear(N, N).to(dev)
    with torch.no_grad():
        linear.weight.mul_(3.0)

    gpu = dev.type == "cuda"
    fused = "neuro gpu (fused, Triton)" if gpu else "neuro cpu (fused)"
    impls: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
        fused: _neuro("gpu" if gpu else "cpu", tau),
        "neuro torch (reference)": _neuro("torch", tau),
        "spikingjelly": _spikingjelly(tau),
    }
    impls.update({"snntorch": _snntorch(tau, dev), "norse": _norse(tau, dev), "roofline proxy sigmoid(x)*2": _roofline})
    for fn in impls.values():
        if isinstance(fn, nn.Module):
            fn.to(dev)
    loops = {"neuro torch (reference)", "snntorch", "norse"}  # Python loops over time steps
    results: dict[str, Any] = {"config": {"T": T, "B": B, "N": N, "tau": tau}, "rows": []}
    ref_spikes = None
    for name, fn in impls.items():
        if fn is None:
            results["rows"].append({"name": name, "available": False})
            continue
        row: dict[str, Any] = {"name": name, "available": True}
        for task, pre in (("lif", None), ("linear+lif", linear)):

            def step(fn=fn, pre=pre) -> torch.Tensor:
                xx = x.detach().requires_grad_()
                inp = pre(xx) if pre is not None else xx
                y = fn(inp)
                y.sum().backward()
                return y

            if quick:
                reps = 1
            elif gpu:  # millisecond kernels: more samples for a stable median
                reps = repeat if name in loops else 6 * repeat
            else:
                reps = 1 if name in loops else repeat
            runs = time_it(step, repeat=reps, warmup=1)
            row[f"{task}_s"] = median(runs)
            if task == "lif":
                xg = x.detach().requires_grad_()
                row["saved_for_backward_MB"] = saved_bytes(lambda fn=fn, xg=xg: fn(xg), xg) / 2**20
                row["peak_alloc_MB"] = (cuda_peak_memory(step) if gpu else peak_memory(step)) / 2**20
        with torch.no_grad():
            spikes = fn(x)
        if name == fused:
            ref_spikes = spikes
        if ref_spikes is not None and not name.startswith("roofline"):
            row["spikes_equal_to_neuro"] = bool(torch.equal(spikes, ref_spikes))
        results["rows"].append(BenchResult(name, row["lif_s"], extra=row).as_dict())
    base = next(r for r in results["rows"] if r["name"] == fused)
    for r in results["rows"]:
        if r.get("available", True) and "lif_s" in r:
            r["neuro_speedup_lif"] = r["lif_s"] / base["lif_s"]
            r["neuro_speedup_linear_lif"] = r["linear+lif_s"] / base["linear+lif_s"]
    sj = next((r for r in results["rows"] if r["name"] == "spikingjelly" and "lif_s" in r), None)
    roof = next(r for r in results["rows"] if r["name"].startswith("roofline"))
    results["summary"] = {
        "speedup_vs_spikingjelly": sj["lif_s"] / base["lif_s"] if sj else None,
        "ratio_to_roofline": base["lif_s"] / roof["lif_s"],
    }
    results["config"]["device"] = dev.type
    results["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if gpu else None,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "allocator_tuned": tuned,
    }
    return results
