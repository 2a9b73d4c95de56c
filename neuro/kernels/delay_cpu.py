"""Event-driven CPU kernels (numba) for delay synapses: integer delays and the learned Gaussian taps.

:class:`DelayedMatmul` is ``y[t, b, o] = sum_i W[o, i] x[t - D[o, i], b, i]`` with integer delays,
computed as a scatter from each non-zero input (a ring of future rows per sample, like a
neuromorphic core's dendritic delay buffer), with gradients for ``x`` and ``W``.
:class:`GaussDelayConv` is the training-mode synapse of :class:`~neuro.layers.delay.DelayedLinear`
(Gaussian taps over the delays, built and differentiated in fused loops) for sparse input.
The definitions they follow are in :mod:`neuro.layers.delay`; :mod:`neuro.kernels.delay_gpu` is
the CUDA counterpart of the integer-delay product.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from neuro.core.delays import EPS as _EPS
from neuro.core.delays import TAIL as _TAIL
from neuro.kernels.numba_common import available, njit, prange

__all__ = ["DelayedMatmul", "GaussDelayConv", "available", "gauss_kernel"]

if njit is not None:

    @njit(nogil=True, inline="always")
    def _nonzero(row, idx):  # type: ignore[no-untyped-def]
        """Write the positions of ``row``'s non-zeros into ``idx``; return how many.

        Branch-free (no mispredicted branch per event), after a vectorized check that skips
        all-zero rows outright: scanning, not the events, would otherwise dominate sparse layers.
        """
        s = np.float32(0.0)
        for j in range(row.shape[0]):
            s += abs(row[j])
        if s == 0:
            return 0
        n = 0
        for j in range(row.shape[0]):
            idx[n] = j
            n += row[j] != 0
        return n

    @njit(parallel=True, nogil=True, fastmath=True, cache=True)
    def _scatter_fwd(x, wt, off, y, width, mask):  # type: ignore[no-untyped-def]
        """y[t + D[i, o], b, o] += W[i, o] * x[t, b, i] for every non-zero x (``wt`` is W as [in, out]).

        Each sample accumulates into a ring of future rows (``width`` = a power of two >= out
        columns, a power of two of rows above the largest delay; ``mask`` = its size - 1), like a
        neuromorphic core's dendritic delay buffer: the ring stays in cache, and row ``t`` is final,
        copied out and cleared once step ``t``'s events are in.  ``off[i, o] = D[i, o] * width + o``.
        """
        T, B, n_in = x.shape
        n_out = wt.shape[1]
        for b in prange(B):
            ring = np.zeros(mask + 1, np.float32)
            idx = np.empty(n_in, np.int64)
            for t in range(T):
                base = t * width
                xr = x[t, b]
                for k in range(_nonzero(xr, idx)):
                    i = idx[k]
                    v = xr[i]
                    w = wt[i]
                    f = off[i]
                    for o in range(n_out):
                        ring[(base + f[o]) & mask] += w[o] * v
                row = base & mask
                yr = y[t, b]
                for o in range(n_out):
                    yr[o] = ring[row + o]
                    ring[row + o] = 0.0

    @njit(parallel=True, nogil=True, cache=True)
    def _scatter_bwd_x(gy, wt, dt, gx):  # type: ignore[no-untyped-def]
        """gx[t, b, i] = sum_o W[i, o] gy[t + D[i, o], b, o]."""
        T, B, n_out = gy.shape
        n_in = wt.shape[0]
        for b in prange(B):
            for t in range(T):
                for i in range(n_in):
                    acc = np.float32(0.0)
                    for o in range(n_out):
                        tt = t + dt[i, o]
                        if tt < T:
                            acc += wt[i, o] * gy[tt, b, o]
                    gx[t, b, i] = acc

    @njit(parallel=True, nogil=True, cache=True)
    def _scatter_bwd_w(x, gy, dt, gwt):  # type: ignore[no-untyped-def]
        """gW[i, o] = sum_{t, b} x[t, b, i] gy[t + D[i, o], b, o] (over non-zero x)."""
        T, B, n_in = x.shape
        n_out = dt.shape[1]
        for i in prange(n_in):
            for b in range(B):
                for t in range(T):
                    v = x[t, b, i]
                    if v != 0:
                        for o in range(n_out):
                            tt = t + dt[i, o]
                            if tt < T:
                                gwt[i, o] += v * gy[tt, b, o]

    @njit(parallel=True, nogil=True, fastmath=True, cache=True)
    def _event_conv_fwd(xb, kt, y, bb):  # type: ignore[no-untyped-def]
        """y[t + d, b, :] += x[t, b, i] * K[i, d, :] for every non-zero x (xb is x as [B, in, T]).

        Blocks of ``bb`` samples per thread keep their output rows in cache while the kernel
        slab of one input channel is reused across the block's events.
        """
        B, n_in, T = xb.shape
        K = kt.shape[1]
        n_out = kt.shape[2]
        for blk in prange((B + bb - 1) // bb):
            idx = np.empty(T, np.int64)
            for i in range(n_in):
                ki = kt[i]
                for b in range(blk * bb, min(B, blk * bb + bb)):
                    xr = xb[b, i]
                    for k in range(_nonzero(xr, idx)):
                        t = idx[k]
                        v = xr[t]
                        for d in range(min(K, T - t)):
                            yr = y[t + d, b]
                            kr = ki[d]
                            for o in range(n_out):
                                yr[o] += v * kr[o]

    @njit(parallel=True, nogil=True, fastmath=True, cache=True)
    def _event_conv_grad_k(xb, gy, gk, ib):  # type: ignore[no-untyped-def]
        """gK[i, d, :] += x[t, b, i] * gy[t + d, b, :] over the non-zero x (blocks of ``ib`` inputs)."""
        B, n_in, T = xb.shape
        K = gk.shape[1]
        n_out = gk.shape[2]
        for blk in prange((n_in + ib - 1) // ib):
            idx = np.empty(T, np.int64)
            for b in range(B):
                for i in range(blk * ib, min(n_in, blk * ib + ib)):
                    xr = xb[b, i]
                    gi = gk[i]
                    for k in range(_nonzero(xr, idx)):
                        t = idx[k]
                        v = xr[t]
                        for d in range(min(K, T - t)):
                            gr = gi[d]
                            yr = gy[t + d, b]
                            for o in range(n_out):
                                gr[o] += v * yr[o]


    @njit(nogil=True, inline="always")
    def _taps(p, sigma, g):  # type: ignore[no-untyped-def]
        """Fill ``g[d] = exp(-((d - p) / sigma)^2 / 2)`` (zero in the far tail, see ``_TAIL``); return the sum."""
        K = g.shape[0]
        near = min(max(np.float32(np.floor(p + np.float32(0.5))), np.float32(0.0)), np.float32(K - 1))
        z0 = (near - p) / sigma
        cut = np.float32(0.5) * z0 * z0 + np.float32(_TAIL)
        tot = np.float32(0.0)
        for d in range(K):
            z = (d - p) / sigma
            a = np.float32(0.5) * z * z
            v = np.exp(-a) if a <= cut else np.float32(0.0)
            g[d] = v
            tot += v
        return tot

    @njit(parallel=True, nogil=True, fastmath=True, cache=True)
    def gauss_kernel(w, pos, sigma, kt):  # type: ignore[no-untyped-def]
        """kt[i, d, o] = W[o, i] g_d / (sum_d g_d + eps), g_d = exp(-((d - D[o, i]) / sigma)^2 / 2)."""
        n_out, n_in = w.shape
        K = kt.shape[1]
        for i in prange(n_in):
            g = np.empty(K, np.float32)  # per thread
            for o in range(n_out):
                tot = _taps(pos[o, i], sigma, g)
                scale = w[o, i] / (tot + np.float32(_EPS))
                for d in range(K):
                    kt[i, d, o] = g[d] * scale

    @njit(parallel=True, nogil=True, fastmath=True, cache=True)
    def gauss_kernel_grad(w, pos, sigma, gkt, gw, gpos):  # type: ignore[no-untyped-def]
        """Chain rule through the normalized Gaussian: gradients of W and D from the kernel gradient."""
        n_out, n_in = w.shape
        K = gkt.shape[1]
        for i in prange(n_in):
            g = np.empty(K, np.float32)  # per thread
            for o in range(n_out):
                p = pos[o, i]
                tot = _taps(p, sigma, g) + np.float32(_EPS)
                a = np.float32(0.0)  # sum gk g
                bq = np.float32(0.0)  # sum gk g (d - D)
                c = np.float32(0.0)  # sum g (d - D)
                for d in range(K):
                    gg = gkt[i, d, o] * g[d]
                    a += gg
                    bq += gg * (d - p)
                    c += g[d] * (d - p)
                gw[o, i] = a / tot
                gpos[o, i] = w[o, i] / (tot * sigma * sigma) * (bq - a * c / tot)




class DelayedMatmul(torch.autograd.Function):
    """Integer-delay synapses, event-driven on CPU (gradients for x and W; delays are integers)."""

    @staticmethod
    def forward(ctx, x, weight, delays):  # type: ignore[override]
        xc = x.detach().contiguous().float()
        wt = weight.detach().t().contiguous().float()
        dt = delays.t().contiguous().to(torch.int64)
        T = x.shape[0]
        y = torch.empty((T, x.shape[1], weight.shape[0]), dtype=torch.float32)
        rows = 1 << int(dt.max()).bit_length()  # a power of two > the largest delay
        width = 1 << (weight.shape[0] - 1).bit_length()  # a power of two >= the outputs
        off = (dt * width + torch.arange(weight.shape[0])).to(torch.int32)
        _scatter_fwd(xc.numpy(), wt.numpy(), off.numpy(), y.numpy(), width, rows * width - 1)
        ctx.save_for_backward(xc, wt, dt)
        return y.to(x.dtype)

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        xc, wt, dt = ctx.saved_tensors
        gyc = gy.contiguous().float()
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.empty_like(xc)
            _scatter_bwd_x(gyc.numpy(), wt.numpy(), dt.numpy(), gx.numpy())
        if ctx.needs_input_grad[1]:
            gwt = torch.zeros_like(wt)
            _scatter_bwd_w(xc.numpy(), gyc.numpy(), dt.numpy(), gwt.numpy())
            gw = gwt.t()
        return gx, gw, None


class GaussDelayConv(torch.autograd.Function):
    """Learned-delay synapses on CPU for sparse input, kernels built and differentiated in fused loops.

    Forward and the kernel gradient are event-driven (work proportional to the non-zero inputs);
    the input gradient is dense (the upstream gradient is) and runs as one oneDNN convolution.
    """

    @staticmethod
    def forward(ctx, x, weight, pos, sigma, K):  # type: ignore[override]
        T, B, _ = x.shape
        w = weight.detach().contiguous()
        p = pos.detach().contiguous()
        kt = torch.empty((w.shape[1], K, w.shape[0]), dtype=torch.float32)
        gauss_kernel(w.numpy(), p.numpy(), np.float32(sigma), kt.numpy())
        xb = x.detach().permute(1, 2, 0).contiguous()  # [B, in, T]
        y = torch.zeros((T, B, w.shape[0]), dtype=torch.float32)
        _event_conv_fwd(xb.numpy(), kt.numpy(), y.numpy(), 4)
        ctx.save_for_backward(xb, w, p, kt)
        ctx.sigma = sigma
        return y

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        xb, w, p, kt = ctx.saved_tensors
        K = kt.shape[1]
        gx = gw = gp = None
        if ctx.needs_input_grad[0]:
            # gx[t, b, i] = sum_o sum_d k[o, i, d] gy[t + d, b, o]: a correlation with the future
            gpad = F.pad(gy.permute(1, 2, 0), (0, K - 1))
            gx = F.conv1d(gpad, kt.permute(0, 2, 1)).permute(2, 0, 1)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            gkt = torch.zeros_like(kt)
            _event_conv_grad_k(xb.numpy(), gy.contiguous().numpy(), gkt.numpy(), 8)
            gw, gp = torch.empty_like(w), torch.empty_like(p)
            gauss_kernel_grad(w.numpy(), p.numpy(), np.float32(ctx.sigma), gkt.numpy(), gw.numpy(), gp.numpy())
        return gx, gw, gp, None, None
