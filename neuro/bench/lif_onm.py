"""``neuro bench lif --workload open-neuromorphic``: one Linear(n, n) + LIF layer, the field's public sizes.

The Open Neuromorphic library benchmark: batch 16, 500 steps, n = 4096 / 8192 / 16384, forward and
forward+backward, float32 and half precision.  Here every implementation gets the same seeded
0/1 input spikes (10% density; data, so no input gradient) and a Linear with the same weights,
runs in this process on one device, and is timed with device synchronization (median of
``repeat`` runs after a warm-up).  Each row's spikes are compared with neuro's torch reference
(dense Linear + the reference LIF) in the same dtype.

Two limits frame the numbers: the same Linear alone (the dense GEMM forward + weight gradient,
MKL/oneDNN on CPU, cuBLAS on CUDA) and the LIF's memory traffic at the device's bandwidth
(six passes over ``[T, B, n]``: forward reads the drive, writes spikes and the saved membrane;
backward reads the gradient and the membrane and writes the drive's gradient), measured with a
large tensor copy.  ``ratio_to_limit`` is neuro's forward+backward time over their sum; below 1
means neuro beats the dense GEMM (on CPU the product with 0/1 input runs as exact int8 GEMMs or
as sums of the rows that spiked; the forced rows show each path).
"""

from __future__ import annotations

import copy
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuro.bench.lif import _norse, _snntorch, tune_allocator
from neuro.bench.timing import cuda_peak_memory, median, peak_memory, time_it
from neuro.errors import ConfigError
from neuro.layers import SeqLinear
from neuro.neurons import LIF

WORKLOAD = "open-neuromorphic"
SIZES = (4096, 8192, 16384)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TAU = 2.0
#: Passes over a ``[T, B, n]`` tensor that any LIF forward+backward makes (3 forward, 3 backward).
LIF_PASSES_FWD, LIF_PASSES_FWD_BWD = 3, 6

Run = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Impl:
    """One row: ``make(linear)`` returns the layer's forward (or ``why`` says why it cannot run)."""

    name: str
    kind: str  # "neuro", "peer" or "limit"
    make: Callable[[nn.Linear], Run] | None = None
    why: str = ""


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def spike_input(T: int, B: int, n: int, density: float, seed: int, dtype: torch.dtype,
                dev: torch.device) -> torch.Tensor:
    """Seeded 0/1 spikes ``[T, B, n]`` (drawn on the CPU, so every device gets the same ones)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n, generator=g) < density).to(dtype).to(dev)


def base_linear(n: int, density: float, seed: int, dtype: torch.dtype, dev: torch.device) -> nn.Linear:
    """Linear(n, n) with seeded uniform weights scaled so the drive's spread is about 1.5 (the LIF fires)."""
    g = torch.Generator().manual_seed(seed + 1)
    lin = nn.Linear(n, n)
    a = 1.5 * math.sqrt(3.0 / (density * n))
    with torch.no_grad():
        lin.weight.copy_((torch.rand(n, n, generator=g) * 2 - 1) * a)
        lin.bias.copy_((torch.rand(n, generator=g) * 2 - 1) * 0.1)
    return lin.to(device=dev, dtype=dtype)


def measure_bandwidth(dev: torch.device, mbytes: int = 256, repeat: int = 5) -> float:
    """Copy bandwidth in bytes/s: ``dst.copy_(src)`` of ``mbytes`` MiB, counted as read + write (as
    STREAM's copy counts it; the write-allocate read on CPUs is not counted), median of ``repeat``."""
    src = torch.ones(mbytes * 2**20 // 4, device=dev)
    dst = torch.empty_like(src)

    def copy() -> None:
        dst.copy_(src)
        _sync(dev)

    return 2 * src.numel() * 4 / median(time_it(copy, repeat=repeat, warmup=1))


def _spikingjelly(dev: torch.device) -> list[Impl]:
    """SpikingJelly's multi-step LIFNode once per implementation it offers on ``dev``.

    SpikingJelly >= 2 picks its kernel per device (CPU: its torch implementation; CUDA: ``cuda``,
    ``triton`` or ``torch``, chosen by SJ_LIF_CUDA_IMPLEMENTATION, read once at import: set here per
    row on its selection object); older versions take a ``backend=`` argument (``torch``, ``cupy``).
    """
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except Exception as e:
        return [Impl("spikingjelly", "peer", why=f"not installed ({type(e).__name__})")]
    try:
        legacy = neuron.LIFNode(step_mode="m", backend="torch").supported_backends
    except TypeError:
        legacy = None
    impls = []
    if legacy is not None:  # SpikingJelly < 2
        for backend in ("torch", "cupy"):
            name = f"spikingjelly ({backend})"
            if backend not in legacy:
                impls.append(Impl(name, "peer", why="not offered by this version"))
            elif backend == "cupy" and dev.type != "cuda":
                impls.append(Impl(name, "peer", why="CUDA only"))
            else:
                impls.append(Impl(name, "peer", _legacy_sj(neuron, surrogate, backend)))
        return impls
    if dev.type == "cpu":
        return [Impl("spikingjelly (torch)", "peer", _sj2(neuron, surrogate, None)),
                Impl("spikingjelly (cuda, triton)", "peer", why="CUDA only")]
    # "auto" is what a user gets; it also covers dtypes the named kernels refuse (SpikingJelly then
    # falls back to its torch reference, which an explicit choice forbids)
    return [Impl(f"spikingjelly ({b})", "peer", _sj2(neuron, surrogate, b))
            for b in ("auto", "cuda", "triton", "torch")]


def _legacy_sj(neuron: Any, surrogate: Any, backend: str) -> Callable[[nn.Linear], Run]:
    def make(lin: nn.Linear) -> Run:
        m = neuron.LIFNode(tau=TAU, step_mode="m", surrogate_function=surrogate.ATan(), backend=backend)

        def run(x: torch.Tensor) -> torch.Tensor:
            m.reset()
            return m(lin(x))

        return run

    return make


def _sj2(neuron: Any, surrogate: Any, impl: str | None) -> Callable[[nn.Linear], Run]:
    def make(lin: nn.Linear) -> Run:
        m = neuron.LIFNode(tau=TAU, step_mode="m", surrogate_function=surrogate.ATan())
        sel = None
        if impl is not None:
            from spikingjelly._ops.lif import _selection as sel

        def run(x: torch.Tensor) -> torch.Tensor:
            if sel is not None and sel._requested != impl:
                sel._requested = impl
                sel._selections.clear()
            m.reset()
            return m(lin(x))

        return run

    return make


def _peer(name: str, factory: Callable[[], Run | None]) -> Impl:
    """A peer built when its row runs (so rows left out by ``only`` import nothing)."""

    def make(lin: nn.Linear) -> Run:
        lif = factory()
        if lif is None:
            raise ImportError("not installed")
        return lambda x: lif(lin(x))

    return Impl(name, "peer", make)


def _neuro(event_driven: bool | str | None, dev: torch.device, dtype: torch.dtype) -> Callable[[nn.Linear], Run]:
    def make(lin: nn.Linear) -> Run:
        layer = SeqLinear(lin.in_features, lin.out_features, event_driven=event_driven).to(dev, dtype)
        layer.load_state_dict(lin.state_dict())
        net = nn.Sequential(layer, LIF(tau=TAU))
        return net

    return make


def _reference(lin: nn.Linear) -> Run:
    lif = LIF(tau=TAU, backend="torch")
    return lambda x: lif(lin(x))


def implementations(dev: torch.device, dtype: torch.dtype, only: tuple[str, ...] | None = None) -> list[Impl]:
    """Every row for one device and dtype: neuro's, the peers' (those named by ``only``'s prefixes,
    all when ``None``), the GEMM limit."""
    cpu = dev.type == "cpu"

    def wanted(name: str) -> bool:
        return not only or any(name.startswith(o) or o.startswith(name) for o in only)

    rows = [Impl("neuro", "neuro", _neuro(None, dev, dtype))]
    if cpu:
        # every path for 0/1 input, whichever the default picks
        rows.append(Impl("neuro (dense GEMM)", "neuro", _neuro(False, dev, dtype)))
        rows.append(Impl("neuro (gather-sum, forced)", "neuro", _neuro("gather", dev, dtype)))
        if dtype != torch.float64:  # 53-bit significands: never split into int8
            rows.append(Impl("neuro (int8 split, forced)", "neuro", _neuro("int8", dev, dtype)))
    peers = _spikingjelly(dev) if wanted("spikingjelly") else []
    peers += [
        _peer("norse", lambda: _norse(TAU, dev)),
        _peer("norse + torch.compile", lambda: _norse(TAU, dev, compile=True)),
        _peer("snntorch", lambda: _snntorch(TAU, dev)),
    ]
    rows += [p for p in peers if not only or p.name.startswith(only)]
    gemm = "MKL/oneDNN" if cpu else "cuBLAS"
    rows.append(Impl(f"limit: Linear alone ({gemm} GEMM)", "limit", lambda lin: lin))
    return rows


def _time_row(run: Run, params: list[nn.Parameter], x: torch.Tensor, dev: torch.device,
              reps: int) -> tuple[dict[str, Any], torch.Tensor]:
    """Medians of wall-clock seconds (synchronized) and of process CPU seconds (all threads: on a
    shared machine, CPU seconds near wall seconds x threads mean the run had its cores)."""
    out: dict[str, Any] = {}

    def fwd() -> None:
        run(x)
        _sync(dev)

    def fwd_bwd() -> None:
        for p in params:
            p.grad = None
        run(x).float().sum().backward()
        _sync(dev)

    with torch.no_grad():
        spikes = run(x)
    for key, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
        cpu: list[float] = []

        def timed(fn: Callable[[], None] = fn, cpu: list[float] = cpu) -> None:
            c = time.process_time()
            fn()
            cpu.append(time.process_time() - c)

        runs = time_it(timed, repeat=reps, warmup=1)
        out[f"{key}_s"], out[f"{key}_runs"], out[f"{key}_cpu_s"] = median(runs), runs, median(cpu[1:])
    peak = cuda_peak_memory(fwd_bwd) if dev.type == "cuda" else peak_memory(fwd_bwd)
    out["peak_MB"] = peak / 2**20
    return out, spikes


def _log(msg: str) -> None:
    print(f"[bench lif] {msg}", file=sys.stderr, flush=True)


def run_onm_bench(
    sizes: tuple[int, ...] = SIZES, dtypes: tuple[str, ...] = ("float32",), device: str = "cpu",
    T: int = 500, B: int = 16, density: float = 0.1, repeat: int = 3, seed: int = 0,
    only: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """One record per size and dtype on ``device``; see the module docstring for what is measured.

    ``only`` keeps the rows whose name starts with one of its entries (plus neuro and the limit).
    """
    dev = torch.device(device)
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"bench lif runs on cpu or cuda, not {device!r} (--device)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("bench lif --device cuda needs a CUDA GPU; none is visible (run with --device cpu)")
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        raise ConfigError(f"--dtype {' '.join(bad)} is not one of {', '.join(DTYPES)}")
    if not sizes or min(sizes) < 1 or T < 1 or B < 1 or repeat < 1:
        raise ConfigError("--sizes, --T, --B and --repeat must be positive")
    if not 0 < density < 1:
        raise ConfigError(f"--density must be in (0, 1), got {density}")
    tuned = tune_allocator() if dev.type == "cpu" else False
    _log(f"measuring {dev.type} copy bandwidth")
    bw = measure_bandwidth(dev, 256 if dev.type == "cpu" else 2048)
    records = []
    for n in sizes:
        for dname in dtypes:
            dtype = DTYPES[dname]
            x = spike_input(T, B, n, density, seed, dtype, dev)
            base = base_linear(n, density, seed, dtype, dev)
            with torch.no_grad():
                ref = _reference(base)(x)
            rows = []
            for impl in implementations(dev, dtype, only):
                row: dict[str, Any] = {"name": impl.name, "kind": impl.kind}
                if impl.make is None:
                    row.update(available=False, reason=impl.why)
                    rows.append(row)
                    continue
                _log(f"n={n} {dname} {dev.type}: {impl.name}")
                lin = copy.deepcopy(base)
                try:
                    run = impl.make(lin)
                    params = list(run.parameters()) if isinstance(run, nn.Module) else list(lin.parameters())
                    timing, spikes = _time_row(run, params, x, dev, repeat)
                except Exception as e:  # e.g. a kernel without this dtype: reported as such
                    row.update(available=False, reason=f"{type(e).__name__}: {e}"[:160])
                    rows.append(row)
                    continue
                finally:
                    if dev.type == "cuda":
                        torch.cuda.empty_cache()
                row.update(available=True, **timing)
                if impl.kind != "limit":
                    row["spikes_equal"] = bool(torch.equal(spikes, ref))
                    row["spike_mismatch"] = float((spikes != ref).float().mean())
                rows.append(row)
            records.append(_summarize(n, dname, dev, T, B, density, rows, bw, ref))
    return {
        "workload": WORKLOAD,
        "config": {"T": T, "B": B, "density": density, "tau": TAU, "repeat": repeat, "seed": seed,
                   "device": dev.type, "sizes": list(sizes), "dtypes": list(dtypes)},
        "records": records,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "allocator_tuned": tuned,
            "copy_bandwidth_GBps": bw / 1e9,
        },
    }


def _summarize(n: int, dname: str, dev: torch.device, T: int, B: int, density: float,
               rows: list[dict[str, Any]], bw: float, ref: torch.Tensor) -> dict[str, Any]:
    ok = [r for r in rows if r.get("available")]
    neuro = next((r for r in ok if r["name"] == "neuro"), None)
    peers = [r for r in ok if r["kind"] == "peer"]
    fastest = min(peers, key=lambda r: r["fwd_bwd_s"], default=None)
    gemm = next((r for r in ok if r["kind"] == "limit"), None)
    elems = T * B * n
    lif_bytes = LIF_PASSES_FWD_BWD * elems * DTYPES[dname].itemsize
    limit = None
    if gemm is not None:
        limit = {
            "gemm_fwd_s": gemm["fwd_s"],
            "gemm_fwd_bwd_s": gemm["fwd_bwd_s"],
            "lif_bytes": lif_bytes,
            "bandwidth_GBps": bw / 1e9,
            "lif_traffic_fwd_s": LIF_PASSES_FWD * elems * DTYPES[dname].itemsize / bw,
            "lif_traffic_fwd_bwd_s": lif_bytes / bw,
        }
        limit["fwd_s"] = limit["gemm_fwd_s"] + limit["lif_traffic_fwd_s"]
        limit["fwd_bwd_s"] = limit["gemm_fwd_bwd_s"] + limit["lif_traffic_fwd_bwd_s"]
    for r in ok:
        if neuro is not None and r is not neuro:
            r["x_slower_than_neuro"] = r["fwd_bwd_s"] / neuro["fwd_bwd_s"]

    def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
        return a[key] / b[key] if a is not None and b is not None else None

    return {
        "size": n, "dtype": dname, "device": dev.type, "T": T, "B": B, "density": density,
        "reference_spike_rate": float(ref.float().mean()),
        "rows": rows,
        "limit": limit,
        "neuro_fwd_bwd_s": neuro["fwd_bwd_s"] if neuro else None,
        "fastest_peer": fastest["name"] if fastest else None,
        "fastest_peer_fwd_bwd_s": fastest["fwd_bwd_s"] if fastest else None,
        "speedup_vs_fastest_peer": ratio(fastest, neuro, "fwd_bwd_s"),
        "speedup_vs_fastest_peer_fwd": (min(r["fwd_s"] for r in peers) / neuro["fwd_s"]) if peers and neuro else None,
        "ratio_to_limit": ratio(neuro, limit, "fwd_bwd_s"),
        "ratio_to_limit_fwd": ratio(neuro, limit, "fwd_s"),
    }
