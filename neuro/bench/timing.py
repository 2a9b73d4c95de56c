"""Timing, memory and table helpers for the benchmarks (never used by tests to assert speed)."""

from __future__ import annotations

import ctypes
import ctypes.util
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch


@dataclass
class BenchResult:
    """One row of a benchmark table."""

    name: str
    median_s: float
    runs: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("extra"))
        return d


def time_it(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1, budget_s: float | None = None) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls after ``warmup`` calls (fewer if over ``budget_s``)."""
    for _ in range(warmup):
        fn()
    runs: list[float] = []
    start = time.perf_counter()
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        runs.append(time.perf_counter() - t)
        if budget_s is not None and time.perf_counter() - start > budget_s and len(runs) >= 1:
            break
    return runs


def median(runs: Sequence[float]) -> float:
    return float(statistics.median(runs))


def saved_bytes(fn: Callable[[], torch.Tensor], *inputs: torch.Tensor) -> int:
    """Bytes that autograd keeps alive for backward while running ``fn``.

    Counts distinct storages saved by the graph, excluding the storages of ``inputs`` and of
    the returned output (the caller holds those anyway): the memory a backward pass costs.
    """
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            st = t.untyped_storage()
            seen[st.data_ptr()] = max(seen.get(st.data_ptr(), 0), st.nbytes())
        except RuntimeError:
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    for t in (*inputs, out):
        seen.pop(t.untyped_storage().data_ptr(), None)
    del out
    return sum(seen.values())


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _heap_in_use() -> Callable[[], int] | None:
    """A function returning glibc's allocated bytes (heap + mmapped), or None off glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        f = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    f.restype = _MallInfo2

    def in_use() -> int:
        m = f()
        return int(m.uordblks + m.hblkhd)

    return in_use


def peak_memory(fn: Callable[[], Any], interval_s: float = 0.0005) -> int:
    """Peak growth of allocated memory (glibc heap + mmapped blocks) while ``fn`` runs, in bytes.

    Sampled from a thread (the kernels release the GIL); counts what is allocated, whether or
    not the allocator reuses freed pages.  Returns 0 where glibc's mallinfo2 is unavailable.
    """
    in_use = _heap_in_use()
    if in_use is None:
        fn()
        return 0
    base = in_use()
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, in_use())
            time.sleep(interval_s)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        fn()
    finally:
        done.set()
        th.join()
    return max(0, peak - base)


def cuda_peak_memory(fn: Callable[[], Any]) -> int:
    """Peak growth of CUDA memory allocated by torch while ``fn`` runs, in bytes."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return max(0, torch.cuda.max_memory_allocated() - base)
