"""Event-driven CPU kernels (numba) for a linear layer fed with 0/1 spikes.

With binary input ``x [R, in]`` the product ``y = x W^T + b`` is, for each row, ``b`` plus the sum
of the columns of ``W`` at the row's spikes, and the weight gradient ``gW = gy^T x`` is, for each
input ``k``, the sum of the rows of ``gy`` at the steps where ``k`` spiked.  Both are one kernel,
:func:`_gather_sum`: ``out[i, :] = sum over j in list(i) of src[j, :]``, run over column blocks of
``src`` in parallel.  Each block is first packed contiguously (``[rows, width]``): rows of a
power-of-two-strided matrix would all fall into the same few cache sets, and a packed block of
about 1 MiB stays in the core's L2 cache for every one of the ``R`` index lists that read it.

Work is ``nnz(x) * out`` additions instead of ``R * in * out`` multiply-adds, and no multiply.
The input gradient (when the input requires one) is dense, ``gy @ W``, and runs as one GEMM.
Sums run in a different order than the dense GEMM, so results equal the dense path to float
rounding (not bitwise).  :func:`spike_rows` is the cheap test that decides whether to use it.

:func:`event_linear` is the one place that picks the path for 0/1 input: this gather-sum, the
exact int8 split of :mod:`neuro.kernels.int_split_cpu` (faster for large layers from about 9%
density on CPUs with AMX), or neither (the caller's dense product).
"""

from __future__ import annotations

import numpy as np
import torch

from neuro.kernels import int_split_cpu
from neuro.kernels.numba_common import available, njit, prange

try:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - numba missing: available() says why
    intrinsic = None

__all__ = ["INT8_AUTO_DTYPES", "INT8_MIN_DENSITY", "INT8_MIN_FEATURES", "KERNELS", "EventLinear", "available",
           "chunk_rows", "event_linear", "spike_rows"]

#: Columns per packed block (a compile-time constant of the kernel: 64 float32 = 4 cache lines).
BLOCK = 64
#: Bytes of a packed source block meant to stay in one core's L2 cache.
L2_BLOCK_BYTES = 1 << 20

if njit is not None and intrinsic is not None:

    @intrinsic
    def _prefetch_row(typingctx, arr, k):  # type: ignore[no-untyped-def]
        """Ask for the cache lines of ``arr[k, :BLOCK]`` (a 2-D float array) ahead of use.

        The rows a list names are scattered, so the hardware prefetcher cannot guess them;
        fetching the next group's rows while adding the current one hides L2 latency.
        """
        sig = types.void(arr, k)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            aty = signature.args[0]
            ary = context.make_array(aty)(context, builder, args[0])
            zero = context.get_constant(types.intp, 0)
            ptr = cgutils.get_item_pointer(context, builder, aty, ary, [args[1], zero], wraparound=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8")
            base = builder.bitcast(ptr, i8p)
            row_bytes = BLOCK * context.get_abi_sizeof(context.get_value_type(aty.dtype))
            for off in range(0, row_bytes, 64):
                addr = builder.gep(base, [ir.Constant(i32, off)])
                builder.call(fn, [addr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return sig, codegen

    @njit(parallel=True, nogil=True, cache=True)
    def _count_binary(bits, one, neg_zero, cnt, out8):  # type: ignore[no-untyped-def]
        """Ones per row into ``cnt`` and the input as int8 0/1 into ``out8``; returns the number of
        rows holding a value other than 0/1.

        ``bits`` is the input's raw bit patterns (so one kernel serves every float dtype): ``one``
        is 1.0's pattern, zero is 0 and ``neg_zero`` is -0.0's.  Branch-free, so it vectorizes.
        """
        R, n = bits.shape
        bad = np.zeros(R, np.int64)
        for r in prange(R):
            row = bits[r]
            o = out8[r]
            c = 0
            other = 0
            for k in range(n):
                v = row[k]
                is_one = v == one
                o[k] = is_one
                c += is_one
                other += (v != one) & (v != 0) & (v != neg_zero)
            cnt[r] = c
            bad[r] = other > 0
        return bad.sum()

    @njit(parallel=True, nogil=True, cache=True)
    def _fill_rows(bits, one, indptr, indices):  # type: ignore[no-untyped-def]
        """Column indices of each row's ones (CSR), rows in parallel, branch-free."""
        R, n = bits.shape
        for r in prange(R):
            row = bits[r]
            p = indptr[r]
            end = indptr[r + 1]
            for k in range(n):
                if p < end:  # the last write of a full row would land in the next row's slot
                    indices[p] = k
                p += row[k] == one

    @njit(nogil=True, cache=True)
    def _transpose(indptr, indices, n_cols, colptr, rows):  # type: ignore[no-untyped-def]
        """The column lists (CSC) of a CSR pattern: for each column, its rows in increasing order."""
        R = indptr.shape[0] - 1
        cnt = np.zeros(n_cols + 1, np.int64)
        for p in range(indices.shape[0]):
            cnt[indices[p] + 1] += 1
        for k in range(n_cols):
            cnt[k + 1] += cnt[k]
        colptr[:] = cnt
        for r in range(R):
            for p in range(indptr[r], indptr[r + 1]):
                k = indices[p]
                rows[cnt[k]] = r
                cnt[k] += 1

    @njit(parallel=True, nogil=True, cache=True)
    def _splits(indptr, indices, size, out):  # type: ignore[no-untyped-def]
        """``out[c, i]``: where list ``i`` reaches entries ``>= c * size`` (lists are sorted).

        Cuts every list into the chunks of source rows that one packed block covers.
        """
        nch = out.shape[0] - 1
        L = indptr.shape[0] - 1
        for i in prange(L):
            p = indptr[i]
            p1 = indptr[i + 1]
            out[0, i] = p
            for c in range(1, nch):
                cut = c * size
                while p < p1 and indices[p] < cut:
                    p += 1
                out[c, i] = p
            out[nch, i] = p1

    @njit(parallel=True, nogil=True, cache=True)
    def _pack(src, r0, bo, out):  # type: ignore[no-untyped-def]
        """``out[b, k, j] = src[r0 + k, b * bo + j]`` (zero past the last column): column blocks."""
        n = src.shape[1]
        nblk, rows, _ = out.shape
        for k in prange(rows):
            s = src[r0 + k]
            for b in range(nblk):
                lo = b * bo
                w = min(bo, n - lo)
                o = out[b, k]
                for j in range(w):
                    o[j] = s[lo + j]
                for j in range(w, bo):
                    o[j] = 0

    @njit(parallel=True, nogil=True, cache=True)
    def _pack_t(w_mat, r0, bo, out):  # type: ignore[no-untyped-def]
        """``out[b, k, j] = w_mat[b * bo + j, r0 + k]``: blocks of ``w_mat``'s transpose, never formed."""
        n = w_mat.shape[0]
        nblk, rows, _ = out.shape
        for b in prange(nblk):
            lo = b * bo
            w = min(bo, n - lo)
            ob = out[b]
            for j in range(w):
                s = w_mat[lo + j]
                for k in range(rows):
                    ob[k, j] = s[r0 + k]
            for j in range(w, bo):
                for k in range(rows):
                    ob[k, j] = 0

    @njit(nogil=True, cache=True, error_model="numpy", inline="always")
    def _add_list(o, pb, indices, p, p1, base, w):  # type: ignore[no-untyped-def]
        """``o[:w] += pb[k - base, :w]`` for k in ``indices[p:p1]``, eight rows as a tree at a time
        (a shorter chain of dependent additions through ``o``), the rows 16 entries ahead prefetched."""
        rows = pb.shape[0]
        end = indices.shape[0]
        while p + 7 < p1:
            for q in range(p + 16, min(p + 24, end)):
                kk = indices[q] - base
                if 0 <= kk < rows:  # entries ahead may belong to another chunk
                    _prefetch_row(pb, kk)
            s0, s1 = pb[indices[p] - base], pb[indices[p + 1] - base]
            s2, s3 = pb[indices[p + 2] - base], pb[indices[p + 3] - base]
            s4, s5 = pb[indices[p + 4] - base], pb[indices[p + 5] - base]
            s6, s7 = pb[indices[p + 6] - base], pb[indices[p + 7] - base]
            for j in range(w):
                o[j] += ((s0[j] + s1[j]) + (s2[j] + s3[j])) + ((s4[j] + s5[j]) + (s6[j] + s7[j]))
            p += 8
        while p < p1:
            s0 = pb[indices[p] - base]
            for j in range(w):
                o[j] += s0[j]
            p += 1

    @njit(parallel=True, nogil=True, cache=True, error_model="numpy")
    def _gather_sum(starts, ends, indices, base, packed, bias, out, accumulate):  # type: ignore[no-untyped-def]
        """``out[i, :] (+)= bias + sum of packed rows indices[starts[i]:ends[i]] - base``.

        ``packed`` is ``[blocks, rows, BLOCK]`` (see :func:`_pack`), the column blocks run in
        parallel; ``bias`` has ``out``'s columns or length 0 (none).  Full blocks add with the
        compile-time width ``BLOCK`` (unrolled into registers), the last partial one with its own.
        """
        L = starts.shape[0]
        nblk = packed.shape[0]
        n = out.shape[1]
        has_bias = bias.shape[0] > 0
        for b in prange(nblk):
            lo = b * BLOCK
            w = min(BLOCK, n - lo)
            pb = packed[b]
            for i in range(L):
                o = out[i, lo:lo + w]
                if not accumulate:
                    if has_bias:
                        for j in range(w):
                            o[j] = bias[lo + j]
                    else:
                        for j in range(w):
                            o[j] = 0
                if w == BLOCK:
                    _add_list(o, pb, indices, starts[i], ends[i], base, BLOCK)
                else:
                    _add_list(o, pb, indices, starts[i], ends[i], base, w)


def chunk_rows(itemsize: int) -> int:
    """Source rows per packed block: ``[rows, BLOCK]`` fills L2_BLOCK_BYTES (4096 for float32)."""
    return max(BLOCK, L2_BLOCK_BYTES // (BLOCK * itemsize))


_INT_VIEW = {torch.float64: torch.int64, torch.float32: torch.int32, torch.bfloat16: torch.int16,
             torch.float16: torch.int16}


def _bits(value: float, dtype: torch.dtype) -> int:
    return int(torch.tensor([value], dtype=dtype).view(_INT_VIEW[dtype]).item())


def _binary_counts(x2d: torch.Tensor) -> tuple[np.ndarray, np.ndarray, torch.Tensor] | None:
    """The raw bits of ``x2d``, its ones per row and ``x2d`` as int8, or ``None`` when it holds a
    value other than 0/1.

    One parallel pass that compares bit patterns, so float32, float64, bfloat16 and float16 are
    read without conversion.
    """
    dtype = x2d.dtype
    bits = x2d.detach().contiguous().view(_INT_VIEW[dtype]).numpy()
    cnt = np.empty(bits.shape[0], np.int64)
    x8 = torch.empty(bits.shape, dtype=torch.int8)
    if _count_binary(bits, _bits(1.0, dtype), _bits(-0.0, dtype), cnt, x8.numpy()):
        return None
    return bits, cnt, x8


def _fill(bits: np.ndarray, cnt: np.ndarray, dtype: torch.dtype) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.zeros(bits.shape[0] + 1, np.int64)
    np.cumsum(cnt, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), np.int32)
    _fill_rows(bits, _bits(1.0, dtype), indptr, indices)
    return indptr, indices


def spike_rows(x2d: torch.Tensor, max_density: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The CSR pattern ``(indptr, indices)`` of ``x2d`` when it holds only 0/1 values at density
    ``<= max_density``; ``None`` otherwise (the caller then runs the dense product)."""
    counted = _binary_counts(x2d)
    if counted is None or counted[1].sum() > max_density * x2d.numel():
        return None
    return _fill(counted[0], counted[1], x2d.dtype)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; float32, bfloat16 and float16 add up in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _sum_rows(indptr: np.ndarray, indices: np.ndarray, src: torch.Tensor, transposed: bool,
              bias: torch.Tensor | None, out: torch.Tensor) -> None:
    """``out[i] = bias + sum over k in list i of S[k]``, where ``S`` is ``src`` (``[rows, n]``) or,
    with ``transposed``, ``src.T`` (``src`` is ``[n, rows]``): all of ``out``'s rows at once.

    The source rows are cut into chunks whose packed ``[chunk, BLOCK]`` blocks fit in L2;
    each chunk adds onto ``out`` (the first one writes it).
    """
    rows = src.shape[1] if transposed else src.shape[0]
    n = out.shape[1]
    size = chunk_rows(src.element_size())
    nch = max(1, -(-rows // size))
    L = indptr.shape[0] - 1
    if nch == 1:
        starts, ends = indptr[:-1], indptr[1:]
        cuts = None
    else:
        cuts = np.empty((nch + 1, L), np.int64)
        _splits(indptr, indices, size, cuts)
    b = (bias.detach().to(out.dtype).contiguous() if bias is not None else torch.empty(0, dtype=out.dtype)).numpy()
    sn = src.detach().numpy()
    nblk = -(-n // BLOCK)
    for c in range(nch):
        r0 = c * size
        packed = np.empty((nblk, min(size, rows - r0), BLOCK), dtype=sn.dtype)
        (_pack_t if transposed else _pack)(sn, r0, BLOCK, packed)
        if cuts is not None:
            starts, ends = cuts[c], cuts[c + 1]
        _gather_sum(starts, ends, indices, r0, packed, b, out.numpy(), c > 0)


class EventLinear(torch.autograd.Function):
    """``x W^T + b`` for binary ``x [R, in]`` given as its CSR pattern; gradients for x, W and b.

    ``x`` itself is used only for its dtype and for whether it needs a gradient (then
    ``gy @ W``, dense); the weight gradient is event-driven over the same pattern.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, indptr, indices):  # type: ignore[override]
        n_out, n_in = weight.shape
        wd = _work_dtype(weight.dtype)
        y = torch.empty((x.shape[0], n_out), dtype=wd)
        _sum_rows(indptr, indices, weight.detach().to(wd).contiguous(), True, bias, y)
        ctx.pattern = (indptr, indices, n_in)
        ctx.has_bias = bias is not None
        ctx.save_for_backward(weight if ctx.needs_input_grad[0] else None)
        return y.to(x.dtype)

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        indptr, indices, n_in = ctx.pattern
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = gy @ weight.to(gy.dtype)
        if ctx.needs_input_grad[1]:
            g = gy.to(_work_dtype(gy.dtype)).contiguous()
            colptr = np.empty(n_in + 1, np.int64)
            rows = np.empty_like(indices)
            _transpose(indptr, indices, n_in, colptr, rows)
            gwt = torch.empty((n_in, g.shape[1]), dtype=g.dtype)
            _sum_rows(colptr, rows, g, False, None, gwt)
            gw = gwt.t().to(gy.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum(0)
        return gx, gw, gb, None, None


#: Kernels for 0/1 input: ``None`` lets :func:`event_linear` choose.
KERNELS = (None, "int8", "gather")
#: The int8 split's rule (float32 on CPUs with AMX), from 1-thread measurements of forward + weight gradient
#: on Sapphire Rapids: its four int8 GEMMs cost about 0.55 of one float32 GEMM at n = 4096 (0.8 at 2048, about
#: 1 at 1024), independent of density, while the gather-sum grows with the spikes.  It runs for layers with
#: at least INT8_MIN_FEATURES inputs and outputs at density >= INT8_MIN_DENSITY (up to 1: it replaces the
#: dense GEMM too); the gather-sum is as fast near 10% density at n = 2048 and 8% at n = 4096.
INT8_MIN_FEATURES = 2048
INT8_MIN_DENSITY = 0.09
#: The dtypes the rule gives the int8 split: float16 too (three digits; at n = 4096, 10% density, one
#: thread: 1.7 s forward + weight gradient against 3.4 s for the dense float16 GEMM, which has no AMX
#: on Sapphire Rapids), not bfloat16 (two digits cost more than its AMX GEMM: 2.3 s vs 1.3 s).
INT8_AUTO_DTYPES = (torch.float32, torch.float16)


def event_linear(
    x2d: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, max_density: float,
    kernel: str | None = None,
) -> torch.Tensor | None:
    """``F.linear(x2d, weight, bias)`` for 0/1 ``x2d`` by the integer split or the gather-sum, or
    ``None`` when neither runs (then nothing was computed and the caller runs the dense product).

    The one place that chooses between the three paths.  ``x2d`` not 0/1: ``None``.  Otherwise,
    with ``kernel=None``: the int8 split (:mod:`neuro.kernels.int_split_cpu`) for float32 and
    float16 on CPUs with AMX, at least ``INT8_MIN_FEATURES`` inputs and outputs and density ``>= INT8_MIN_DENSITY``
    (any density up to 1: it is a dense GEMM on exact integers), else the gather-sum at density
    ``<= max_density``, else ``None``.
    ``kernel="int8"`` runs the integer split at any density wherever it applies (float32, bfloat16,
    float16; not float64) and the gather-sum elsewhere; ``kernel="gather"`` only the gather-sum.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    counted = _binary_counts(x2d)
    if counted is None:
        return None
    ones = int(counted[1].sum())
    if kernel != "gather" and int_split_cpu.supported(x2d.dtype, x2d.shape[0]) and (
        kernel == "int8"
        or (x2d.dtype in INT8_AUTO_DTYPES and min(weight.shape) >= INT8_MIN_FEATURES
            and ones >= INT8_MIN_DENSITY * x2d.numel() and int_split_cpu.fast_int8())
    ):
        return int_split_cpu.IntSplitLinear.apply(x2d, weight, bias, counted[2])
    if ones > max_density * x2d.numel():
        return None
    return EventLinear.apply(x2d, weight, bias, *_fill(counted[0], counted[1], x2d.dtype))
