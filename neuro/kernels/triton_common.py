"""Triton for every GPU kernel: imported once, here, with its availability and the helpers the kernels share."""

from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl

    TRITON_ERROR = ""
except Exception as e:
    triton = None
    tl = None
    TRITON_ERROR = f"triton is not installed ({e.__class__.__name__}); pip install triton"

# Under TRITON_INTERPRET=1 Triton runs kernels on CPU tensors with numpy: the kernels' logic
# can then be tested on machines without a GPU.
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def available(interpreter_note: str = "Triton interpreter (TRITON_INTERPRET=1): CPU tensors, for testing"
              ) -> tuple[bool, str]:
    """(True, "") when the Triton kernels can run here (CUDA, or the interpreter), else (False, the reason)."""
    if triton is None:
        return False, TRITON_ERROR
    if INTERPRET:
        return True, interpreter_note
    if not torch.cuda.is_available():
        return False, "no CUDA device visible to torch"
    return True, ""


if triton is not None:

    @triton.jit
    def sg(u, CODE: tl.constexpr, alpha):
        """The surrogate derivative ``g(u)`` of surrogate ``CODE`` (see :mod:`neuro.core.surrogate`)."""
        if CODE == 0:
            k = alpha * 1.5707963267948966
            r = (alpha / 2) / (1 + (k * u) * (k * u))
        elif CODE == 1:
            e = 1 / (1 + tl.exp(-(alpha * u)))
            r = alpha * e * (1 - e)
        elif CODE == 2:
            d = 1 + alpha * tl.abs(u)
            r = 1 / (d * d)
        elif CODE == 3:
            r = tl.maximum(alpha * (1 - alpha * tl.abs(u)), 0.0)
        else:
            r = tl.where(tl.abs(u) < 0.5 / alpha, alpha, 0.0)
        return r
