"""numba for every CPU kernel: imported once, here, with its availability and the helpers the kernels share."""

from __future__ import annotations

import math
import os

import torch

try:  # numba is a hard dependency, but keep the reason if it fails to import
    import llvmlite.binding as _llvm
    import numba
    from numba import njit, prange

    NUMBA_ERROR = ""
    # The row loops write 3-5 arrays and read as many; numba cannot mark them non-aliasing,
    # so LLVM vectorizes only behind runtime overlap checks.  Allow enough of them.
    _llvm.set_option("", "--runtime-memory-check-threshold=128")
except Exception as e:  # pragma: no cover - exercised only on broken installs
    numba = None
    njit = prange = None
    NUMBA_ERROR = f"numba failed to import: {e}"

_HALF_PI = math.pi / 2


def available() -> tuple[bool, str]:
    """(True, "") when the numba kernels can run, else (False, the reason)."""
    return numba is not None, NUMBA_ERROR


def make_surrogate(code: int, np_dtype: type):  # noqa: ANN201 - a numba function
    """The surrogate derivative ``g(u, alpha)`` for surrogate ``code``, compiled for ``np_dtype``."""
    ZERO, ONE, HALF = np_dtype(0), np_dtype(1), np_dtype(0.5)
    HALF_PI = np_dtype(_HALF_PI)

    @njit(inline="always", error_model="numpy")
    def sg(u, alpha):
        if code == 0:
            k = alpha * HALF_PI * u
            return (alpha * HALF) / (ONE + k * k)
        elif code == 1:
            e = ONE / (ONE + math.exp(-(alpha * u)))
            return alpha * e * (ONE - e)
        elif code == 2:
            d = ONE + alpha * abs(u)
            return ONE / (d * d)
        elif code == 3:
            r = ONE - alpha * abs(u)
            return alpha * r if r > ZERO else ZERO
        else:
            return alpha if abs(u) < HALF / alpha else ZERO

    return sg


def block_size(M: int) -> int:
    """Neurons per parallel block: about four blocks per thread, between 16 and 1024."""
    threads = numba.get_num_threads() if numba is not None else 1
    return int(max(16, min(1024, -(-M // (4 * threads)))))


def set_threads(n: int | None = None) -> None:
    """Set the number of kernel threads (default: torch's intra-op thread count)."""
    if numba is not None:
        numba.set_num_threads(max(1, min(n or torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


if numba is not None and "NUMBA_NUM_THREADS" not in os.environ:
    set_threads()
