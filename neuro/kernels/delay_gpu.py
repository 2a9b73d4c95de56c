"""Integer-delay synapses on the GPU (Triton): one tap per synapse, gathered, never a dense conv.

``y[t, b, o] = sum_i W[o, i] x[t - D[o, i], b, i]`` (zero before ``t = 0``).  The input is
transposed once to ``[in, T * B]`` so that, for a fixed synapse, the samples a program reads are
contiguous; each program owns a block of outputs ``o`` and of flattened ``(t, b)`` positions and
walks over the inputs, gathering ``x`` at each synapse's own delay.  Work is ``out * in * T * B``
multiply-adds (one tap), against ``(max_delay + 1)`` times that for the dense convolution.

Gradients (``fixed`` delays trained on the GPU) use the same gather with the roles swapped:
``gx[t, b, i] = sum_o W[o, i] gy[t + D[o, i], b, o]`` and ``gW[o, i] = sum_{t,b} gy[t, b, o]
x[t - D[o, i], b, i]``.
"""

from __future__ import annotations

import torch

from neuro.kernels.triton_common import tl, triton

if triton is not None:

    @triton.jit
    def _gather_fwd(x_ptr, w_ptr, d_ptr, y_ptr, n_in, n_out, N, B,
                    BO: tl.constexpr, BN: tl.constexpr):
        """y[n, o] = sum_i w[o, i] xt[i, n - d[o, i] * B] for n = t * B + b (xt is [in, N])."""
        po = tl.program_id(0)
        pn = tl.program_id(1)
        o = po * BO + tl.arange(0, BO)
        n = pn * BN + tl.arange(0, BN)
        om = o < n_out
        nm = n < N
        acc = tl.zeros([BO, BN], dtype=tl.float32)
        for i in range(n_in):
            w = tl.load(w_ptr + o * n_in + i, mask=om, other=0.0)
            d = tl.load(d_ptr + o * n_in + i, mask=om, other=0)
            src = n[None, :] - (d * B)[:, None]
            m = om[:, None] & nm[None, :] & (src >= 0)
            xv = tl.load(x_ptr + i * N + src, mask=m, other=0.0)
            acc += w[:, None] * xv
        tl.store(y_ptr + n[None, :] * n_out + o[:, None], acc, mask=om[:, None] & nm[None, :])

    @triton.jit
    def _gather_bwd_x(g_ptr, w_ptr, d_ptr, gx_ptr, n_in, n_out, N, B,
                      BI: tl.constexpr, BN: tl.constexpr):
        """gx[n, i] = sum_o w[o, i] gt[o, n + d[o, i] * B] (gt is [out, N])."""
        pi = tl.program_id(0)
        pn = tl.program_id(1)
        i = pi * BI + tl.arange(0, BI)
        n = pn * BN + tl.arange(0, BN)
        im = i < n_in
        nm = n < N
        acc = tl.zeros([BI, BN], dtype=tl.float32)
        for o in range(n_out):
            w = tl.load(w_ptr + o * n_in + i, mask=im, other=0.0)
            d = tl.load(d_ptr + o * n_in + i, mask=im, other=0)
            src = n[None, :] + (d * B)[:, None]
            m = im[:, None] & nm[None, :] & (src < N)
            gv = tl.load(g_ptr + o * N + src, mask=m, other=0.0)
            acc += w[:, None] * gv
        tl.store(gx_ptr + n[None, :] * n_in + i[:, None], acc, mask=im[:, None] & nm[None, :])

    @triton.jit
    def _gather_bwd_w(x_ptr, g_ptr, d_ptr, gw_ptr, n_in, n_out, N, B,
                      BI: tl.constexpr, BN: tl.constexpr):
        """gw[o, i] = sum_n gt[o, n] xt[i, n - d[o, i] * B], one program per (o, block of i)."""
        o = tl.program_id(0)
        pi = tl.program_id(1)
        i = pi * BI + tl.arange(0, BI)
        im = i < n_in
        d = tl.load(d_ptr + o * n_in + i, mask=im, other=0)
        acc = tl.zeros([BI, BN], dtype=tl.float32)
        for n0 in range(0, N, BN):
            n = n0 + tl.arange(0, BN)
            nm = n < N
            g = tl.load(g_ptr + o * N + n, mask=nm, other=0.0)
            src = n[None, :] - (d * B)[:, None]
            m = im[:, None] & nm[None, :] & (src >= 0)
            xv = tl.load(x_ptr + i[:, None] * N + src, mask=m, other=0.0)
            acc += g[None, :] * xv
        tl.store(gw_ptr + o * n_in + i, tl.sum(acc, axis=1), mask=im)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, C]`` -> ``[C, T * B]`` contiguous float32."""
    T, B, C = x.shape
    return x.detach().float().reshape(T * B, C).t().contiguous()


class _GatherDelay(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, delays):  # type: ignore[override]
        T, B, n_in = x.shape
        n_out = weight.shape[0]
        N = T * B
        xt = _flat(x)
        w = weight.detach().float().contiguous()
        d = delays.to(torch.int32).contiguous()
        y = torch.empty((T, B, n_out), device=x.device, dtype=torch.float32)
        BO, BN = 32, 64
        _gather_fwd[(triton.cdiv(n_out, BO), triton.cdiv(N, BN))](xt, w, d, y, n_in, n_out, N, B, BO=BO, BN=BN)
        ctx.save_for_backward(xt, w, d)
        ctx.shape = (T, B)
        return y.to(x.dtype)

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        xt, w, d = ctx.saved_tensors
        T, B = ctx.shape
        n_out, n_in = w.shape
        N = T * B
        gt = _flat(gy)
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.empty((T, B, n_in), device=gy.device, dtype=torch.float32)
            BI, BN = 32, 64
            _gather_bwd_x[(triton.cdiv(n_in, BI), triton.cdiv(N, BN))](gt, w, d, gx, n_in, n_out, N, B, BI=BI, BN=BN)
            gx = gx.to(gy.dtype)
        if ctx.needs_input_grad[1]:
            gw = torch.empty((n_out, n_in), device=gy.device, dtype=torch.float32)
            BI, BN = 32, 128
            _gather_bwd_w[(n_out, triton.cdiv(n_in, BI))](xt, gt, d, gw, n_in, n_out, N, B, BI=BI, BN=BN)
        return gx, gw, None


def gather_delayed_matmul(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
    """The Triton integer-delay product (``x`` ``[T, B, in]``, ``weight`` / ``delays`` ``[out, in]``)."""
    if triton is None:
        raise RuntimeError("triton is not installed; pip install triton")
    return _GatherDelay.apply(x, weight, delays)
