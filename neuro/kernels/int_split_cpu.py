"""Exact integer products for a linear layer fed with 0/1 spikes: int8 GEMMs on split weights.

With ``x [R, in]`` holding only 0 and 1, ``x W^T`` is exact in integers once ``W`` is.  Each row
``i`` of ``W`` gets a power-of-two scale ``s_i`` (so ``W / s`` is exact) with
``|W_i| / s_i <= 127 * 256^(d-1)``; ``q = rint(W / s)`` then splits into ``d`` balanced signed
int8 digits, ``q = sum_k D_k 256^k`` with ``D_k`` in ``[-128, 127]``, and

    y[:, i] = s_i * sum_k 256^k (x_int8 @ D_k^T)[:, i] + b_i

where every int8 GEMM (AMX/VNNI on recent x86 CPUs, many times the float32 rate) is exact in
int32, the digits combine exactly in int64 and the result is rounded once, from float64, to the
output dtype.  The weight gradient ``gW = gy^T x`` is the same with ``gy`` quantized per column
(one scale per output, over all rows).  Digits are stored digit-major (``[d, out, in]``): one
int8 GEMM per digit (cheaper than one GEMM over all digits side by side), and a fused pass that
reads the ``d`` int32 results contiguously.  Work runs in row chunks of ``CHUNK_BYTES`` of int32
per digit.

**Accuracy guard.**  The only error is the quantization of ``W`` (or ``gy``) to the grid ``s_i``:
at most ``s_i / 2`` per weight.  A row (column of ``gy``) takes the integer path only when
``s_i / 2 <= 2^-p * typical`` with ``p`` the significand bits of the layer's dtype (24 for
float32) and ``typical`` the geometric mean of the row's nonzero magnitudes (2 to the mean of
their binary exponents: one outlier cannot raise it much): the grid error is within the dtype's
rounding of a typical term.  With four digits (31 bits) a float32 row passes when its largest
magnitude is at most 64-128 times that typical magnitude (Gaussian or uniform rows: 3-8 times).
Rows that fail, and rows holding inf or NaN, are computed by the dense float product, so results
are never less accurate than float32 and non-finite values propagate as they do there.  float64
never uses this path (53-bit significands).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from neuro.kernels.numba_common import njit, prange

__all__ = ["DIGITS", "IntSplitLinear", "counts", "fast_int8", "supported"]

#: int8 digits per dtype (2 to 4): float32 needs 24 bits plus headroom, bfloat16 8, float16 11.
DIGITS = {torch.float32: 4, torch.bfloat16: 2, torch.float16: 3}
#: Significand bits of each dtype (the guard's precision target).
PRECISION = {torch.float32: 24, torch.bfloat16: 8, torch.float16: 11}
#: Bytes of one digit's int32 GEMM output per chunk: bounds the temporary memory.
CHUNK_BYTES = 16 << 20
#: Rows, outputs and columns handled by the integer path vs the guard's dense fallback (tests read these).
counts: Counter[str] = Counter()

if njit is not None:

    @njit(parallel=True, nogil=True, cache=True)
    def _row_stats(bits, amax, esum, nnz, bad):  # type: ignore[no-untyped-def]
        """Per row of ``bits`` (float32 bit patterns): the largest magnitude's pattern, the sum of the
        nonzero values' binary exponents and their count, and the count of inf/NaN.  Integer only."""
        N, K = bits.shape
        for i in prange(N):
            row = bits[i]
            m = 0
            es = 0
            c = 0
            nf = 0
            for j in range(K):
                v = row[j] & 0x7FFFFFFF
                e = v >> 23
                m = max(m, v)
                nz = v != 0
                es += e * nz
                c += nz
                nf += e == 255
            amax[i] = m
            esum[i] = es
            nnz[i] = c
            bad[i] = nf

    @njit(parallel=True, nogil=True, cache=True)
    def _col_stats(bits, vals, amax, esum, nnz, bad, csum):  # type: ignore[no-untyped-def]
        """Per column of ``bits``: as :func:`_row_stats`, and the column sums of ``vals`` (the same
        float32 values) in float64; row chunks in parallel, each with its own partial results over
        all columns (contiguous, so the loop vectorizes), then reduced."""
        R, N = bits.shape
        nch = min(R, 64) if R > 0 else 1
        sm = np.zeros((nch, N))
        m = np.zeros((nch, N), np.int32)
        es = np.zeros((nch, N), np.int64)
        c = np.zeros((nch, N), np.int64)
        nf = np.zeros((nch, N), np.int64)
        for t in prange(nch):
            mt, et, ct, ft, st = m[t], es[t], c[t], nf[t], sm[t]
            for r in range(t * R // nch, (t + 1) * R // nch):
                row = bits[r]
                vrow = vals[r]
                for j in range(N):
                    st[j] += vrow[j]
                    v = row[j] & 0x7FFFFFFF
                    e = v >> 23
                    mt[j] = max(mt[j], v)
                    nz = v != 0
                    et[j] += e * nz
                    ct[j] += nz
                    ft[j] += e == 255
        for j in prange(N):
            mm = 0
            ee = 0
            cc = 0
            ff = 0
            ss = 0.0
            for t in range(nch):
                ss += sm[t, j]
                mm = max(mm, m[t, j])
                ee += es[t, j]
                cc += c[t, j]
                ff += nf[t, j]
            amax[j] = mm
            esum[j] = ee
            nnz[j] = cc
            bad[j] = ff
            csum[j] = ss

    @njit(nogil=True, cache=True, inline="always")
    def _digits(src, f, out, d, at):  # type: ignore[no-untyped-def]
        """``out[k][at]`` (a row of digit array ``k``, ``out`` a 4-tuple of which the first ``d``
        count) = digit ``k`` of ``rint(src * f)``.

        Round half to even by the 1.5 * 2^52 shift (``|src * f| <= 127 * 256^(d-1) < 2^31``, so
        int32 holds it; vectorizes, unlike rint), then peel off balanced digits
        ``((q + 128) mod 256) - 128`` (``q`` shrinks by 256 each time; the top digit is what is
        left).  One loop per digit count, so each element's digits stay in registers.
        """
        n = src.shape[0]
        if d == 4:
            o0, o1, o2, o3 = out[0][at], out[1][at], out[2][at], out[3][at]
            for j in range(n):
                q = np.int32((np.float64(src[j]) * f[j] + 6755399441055744.0) - 6755399441055744.0)
                v = ((q + 128) & 255) - 128
                o0[j] = v
                q = (q - v) >> 8
                v = ((q + 128) & 255) - 128
                o1[j] = v
                q = (q - v) >> 8
                v = ((q + 128) & 255) - 128
                o2[j] = v
                o3[j] = (q - v) >> 8
        elif d == 3:
            o0, o1, o2 = out[0][at], out[1][at], out[2][at]
            for j in range(n):
                q = np.int32((np.float64(src[j]) * f[j] + 6755399441055744.0) - 6755399441055744.0)
                v = ((q + 128) & 255) - 128
                o0[j] = v
                q = (q - v) >> 8
                v = ((q + 128) & 255) - 128
                o1[j] = v
                o2[j] = (q - v) >> 8
        else:  # d == 2
            o0, o1 = out[0][at], out[1][at]
            for j in range(n):
                q = np.int32((np.float64(src[j]) * f[j] + 6755399441055744.0) - 6755399441055744.0)
                v = ((q + 128) & 255) - 128
                o0[j] = v
                o1[j] = (q - v) >> 8

    @njit(parallel=True, nogil=True, cache=True)
    def _split_rows(w, inv, out, d):  # type: ignore[no-untyped-def]
        """``out[k][i, :]`` = digit ``k`` of ``rint(w[i] * inv[i])`` (``inv`` is 0 where not guarded)."""
        N, K = w.shape
        for i in prange(N):
            _digits(w[i], np.full(K, inv[i]), out, d, i)

    @njit(parallel=True, nogil=True, cache=True)
    def _split_cols(g, inv, out, d):  # type: ignore[no-untyped-def]
        """``out[k][r, i]`` = digit ``k`` of ``rint(g[r, i] * inv[i])`` (``inv`` is 0 where not guarded)."""
        for r in prange(g.shape[0]):
            _digits(g[r], inv, out, d, r)

    @njit(parallel=True, nogil=True, cache=True)
    def _combine(y, d, row_scale, col_scale, bias, out):  # type: ignore[no-untyped-def]
        """``out[a, i] = row_scale[a] * col_scale[i] * sum_k y[k][a, i] 256^k + bias[i]``.

        ``y`` is a 4-tuple of which the first ``d`` count.  The digit sum runs in float64, exact
        while below 2^53 (``|sum| <= 2^31 * terms``: up to 2^22 terms; beyond, one float64
        rounding before the final one), the scales are powers of two, the bias adds in float64:
        one rounding to ``out``'s dtype that matters.  ``row_scale`` or ``col_scale`` (or
        ``bias``) of length 0 means none.
        """
        A, N = out.shape
        ones_c = np.ones(N)
        cs = col_scale if col_scale.shape[0] > 0 else ones_c
        b = bias if bias.shape[0] > 0 else np.zeros(N)
        for a in prange(A):
            rs = row_scale[a] if row_scale.shape[0] > 0 else 1.0
            oa = out[a]
            if d == 4:
                y0, y1, y2, y3 = y[0][a], y[1][a], y[2][a], y[3][a]
                for i in range(N):
                    v = ((np.float64(y3[i]) * 256.0 + y2[i]) * 256.0 + y1[i]) * 256.0 + y0[i]
                    oa[i] = v * (rs * cs[i]) + b[i]
            else:
                acc = np.zeros(N)
                for k in range(d - 1, -1, -1):
                    yk = y[k][a]
                    for i in range(N):
                        acc[i] = acc[i] * 256.0 + yk[i]
                for i in range(N):
                    oa[i] = acc[i] * (rs * cs[i]) + b[i]


def fast_int8() -> bool:
    """True when this CPU multiplies int8 matrices with AMX tiles (then four int8 GEMMs beat one float32 GEMM)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported()) and hasattr(torch, "_int_mm")
    except AttributeError:  # pragma: no cover - older torch
        return False


def supported(dtype: torch.dtype, rows: int) -> bool:
    """Whether the integer path applies: float32/bfloat16/float16, and int32 gradient sums that cannot overflow."""
    return njit is not None and dtype in DIGITS and rows < 2**24


def _split(a: torch.Tensor, per_row: bool, dtype: torch.dtype) -> tuple[list[torch.Tensor], np.ndarray,
                                                                      np.ndarray, np.ndarray | None]:
    """The ``d`` int8 digit arrays (each ``a.shape``) of ``a`` (float32) scaled per row (``per_row``) or per column,
    the power-of-two scales, the guard (which rows/columns the digits represent well enough) and,
    per column, the float64 column sums (``None`` per row).

    The scale puts the largest magnitude within ``127 * 256^(d-1)`` (so the top digit stays in
    int8 range); the guard is ``scale / 2 <= 2^-p * typical`` and finite values, ``typical`` being
    2 to the mean binary exponent of the nonzero values (their geometric mean, to a factor 2).
    """
    d, p = DIGITS[dtype], PRECISION[dtype]
    an = a.numpy()
    n = an.shape[0] if per_row else an.shape[1]
    amax_bits, esum = np.empty(n, np.int32), np.empty(n, np.int64)
    nnz, bad = np.empty(n, np.int64), np.empty(n, np.int64)
    csum = None
    if per_row:
        _row_stats(an.view(np.int32), amax_bits, esum, nnz, bad)
    else:
        csum = np.empty(n)
        _col_stats(an.view(np.int32), an, amax_bits, esum, nnz, bad, csum)
    amax = amax_bits.view(np.float32).astype(np.float64)
    top = 127.0 * 256.0 ** (d - 1)
    finite = bad == 0
    live = finite & (amax > 0)
    e = np.zeros(n, np.int64)
    e[live] = np.ceil(np.log2(amax[live] / top))
    scale = np.ldexp(1.0, e)
    scale[live & (amax / scale > top)] *= 2.0  # log2 rounded below a power of two: keep |q| <= top
    # the guard: half a grid step within 2^-p of the typical magnitude, 2^(mean binary exponent)
    typical_exp = esum / np.maximum(nnz, 1) - 127
    ok = finite & ((amax == 0) | (np.log2(scale) - 1 <= typical_exp - p))
    inv = np.where(ok, 1.0 / scale, 0.0)
    # one array per digit: each is as large as ``a`` in int8 (under glibc's mmap threshold at the
    # benchmark's sizes, so its pages are reused instead of faulted in afresh on every call)
    digits = [torch.empty(an.shape, dtype=torch.int8) for _ in range(d)]
    (_split_rows if per_row else _split_cols)(an, inv, _four([t.numpy() for t in digits]), d)
    return digits, scale, ok, csum


def _four(arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The per-digit arrays as the kernels' 4-tuple (one compiled type for every digit count), padded
    with empty arrays that are never read."""
    return (*arrays, *[arrays[0][:0, :0]] * (4 - len(arrays)))


def _rows_per_chunk(row_bytes: int) -> int:
    return max(16, CHUNK_BYTES // max(1, row_bytes))


class IntSplitLinear(torch.autograd.Function):
    """``x W^T + b`` for 0/1 ``x`` through int8 GEMMs (``x8`` is ``x`` as int8); gradients for x, W and b."""

    @staticmethod
    def forward(ctx, x, weight, bias, x8):  # type: ignore[override]
        n_out = weight.shape[0]
        R = x8.shape[0]
        w = weight.detach().float().contiguous()
        digits, scale, ok, _ = _split(w, True, weight.dtype)
        y = torch.empty((R, n_out), dtype=torch.float32)
        b = bias.detach().double().contiguous().numpy() if bias is not None else np.empty(0)
        step = _rows_per_chunk(n_out * 4)
        bufs = [torch.empty((min(step, R), n_out), dtype=torch.int32) for _ in digits]
        for r0 in range(0, R, step):
            r1 = min(R, r0 + step)
            for dk, bk in zip(digits, bufs, strict=True):
                torch._int_mm(x8[r0:r1], dk.t(), out=bk[:r1 - r0])
            _combine(_four([bk[:r1 - r0].numpy() for bk in bufs]), len(bufs), np.empty(0), scale, b, y[r0:r1].numpy())
        bad = np.flatnonzero(~ok)
        counts["forward_rows"] += n_out - bad.size
        counts["forward_fallback_rows"] += bad.size
        if bad.size:  # the guard: these outputs from the float product
            idx = torch.from_numpy(bad)
            bb = None if bias is None else bias.detach().float()[idx]
            y[:, idx] = torch.nn.functional.linear(x.detach().float(), w[idx], bb)
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x8, weight)
        return y.to(x.dtype)

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        x8, weight = ctx.saved_tensors
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = gy @ weight.to(gy.dtype)
        want_b = ctx.has_bias and ctx.needs_input_grad[2]
        if ctx.needs_input_grad[1]:
            gw, csum = _weight_grad(gy, x8, weight.dtype)
            gw = gw.to(gy.dtype)
            if want_b:  # the column sums came with the split's statistics
                gb = torch.from_numpy(csum).to(gy.dtype)
        elif want_b:
            gb = gy.sum(0)
        return gx, gw, gb, None


def _weight_grad(gy: torch.Tensor, x8: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, np.ndarray]:
    """``gy^T x`` with ``gy`` split per column into int8 digits (guard-failing columns run dense),
    and ``gy``'s column sums (the bias gradient) in float64."""
    g = gy.detach().float().contiguous()
    n_out, n_in = g.shape[1], x8.shape[1]
    digits, scale, ok, csum = _split(g, False, dtype)
    gw = torch.empty((n_out, n_in), dtype=torch.float32)
    step = _rows_per_chunk(n_in * 4)
    bufs = [torch.empty((min(step, n_out), n_in), dtype=torch.int32) for _ in digits]
    for i0 in range(0, n_out, step):
        i1 = min(n_out, i0 + step)
        for dk, bk in zip(digits, bufs, strict=True):
            torch._int_mm(dk.t()[i0:i1], x8, out=bk[:i1 - i0])
        _combine(_four([bk[:i1 - i0].numpy() for bk in bufs]), len(bufs), scale[i0:i1], np.empty(0), np.empty(0),
                 gw[i0:i1].numpy())
    bad = np.flatnonzero(~ok)
    counts["weight_grad_rows"] += n_out - bad.size
    counts["weight_grad_fallback_rows"] += bad.size
    if bad.size:  # the guard: these rows of the gradient from the float product
        idx = torch.from_numpy(bad)
        gw[idx] = g[:, idx].t() @ x8.float()
    return gw, csum

