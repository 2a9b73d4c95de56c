"""Synapses with a learnable delay per synapse (dilated convolution with learnable spacings, DCLS).

:class:`DelayedLinear` maps ``[T, B, in]`` to ``[T, B, out]``; synapse ``(o, i)`` has a weight
``W[o, i]`` and a delay ``D[o, i]`` in ``[0, max_delay]`` steps:

* training (``mode="learned"``): the synapse's kernel over time is a Gaussian tap centred on the
  continuous delay, ``g_d = exp(-((d - D)/sigma)^2 / 2) / sum_d' exp(...)`` for ``d = 0..max_delay``,
  and ``y[t, o] = sum_i sum_d W[o, i] g_d x[t - d, i]`` (causal: only the past).  ``sigma`` follows a
  schedule (:func:`sigma_schedule`) down to a floor, so kernels narrow to one tap during training.
  Positions and weights both get gradients.
* evaluation (``model.eval()``) and ``mode="fixed"``: integer delays ``round(D)`` and one tap per
  synapse, computed event-driven (a scatter from each non-zero input to its outputs at
  ``t + D[o, i]``), never as a dense ``max_delay``-tap convolution.
* ``mode="none"``: no delays (a plain linear layer; the paper's ablation).

With the same weights, delays and sigma the training kernel equals the ``dcls`` package's
``Dcls1d(version="gauss")`` with ``P = (K - 1) // 2 - D`` (``K = max_delay + 1``),
``SIG = sigma - 0.27`` and the input left-padded by ``K - 1`` (tested).

Export accessor: :meth:`DelayedLinear.synapses` returns ``(weight [out, in], integer delays [out, in])``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neuro.errors import ConfigError, DTypeError, HardwareLimitError, ShapeError
from neuro.layers.time import check_seq

try:
    from numba import njit, prange

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

    _NUMBA = True
except ImportError:  # pragma: no cover
    _NUMBA = False


class _DelayedMatmul(torch.autograd.Function):
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


# Above this fraction of non-zero inputs the dense convolution (oneDNN) beats the event-driven kernels.
EVENT_DENSITY_MAX = 0.3
_EPS = 1e-7  # added to the Gaussian's normalizer (as the torch kernel and dcls do)
# Taps more than exp(-_TAIL) ~ 4e-18 below a synapse's largest tap are set to exactly zero: they are
# far below float32 resolution, and left in they are subnormal numbers, which slow every
# multiplication they enter by an order of magnitude on x86 CPUs.
_TAIL = 40.0


if _NUMBA:

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
    def _gauss_kernel(w, pos, sigma, kt):  # type: ignore[no-untyped-def]
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
    def _gauss_kernel_grad(w, pos, sigma, gkt, gw, gpos):  # type: ignore[no-untyped-def]
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


class _GaussDelayConv(torch.autograd.Function):
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
        _gauss_kernel(w.numpy(), p.numpy(), np.float32(sigma), kt.numpy())
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
            _gauss_kernel_grad(w.numpy(), p.numpy(), np.float32(ctx.sigma), gkt.numpy(), gw.numpy(), gp.numpy())
        return gx, gw, gp, None, None


def _event_path(x: torch.Tensor, n_out: int) -> bool:
    """Whether the event-driven CPU kernels apply: float32 on CPU, sparse input, outputs to vectorize over."""
    return (x.device.type == "cpu" and _NUMBA and n_out >= 8 and x.dtype == torch.float32
            and torch.count_nonzero(x).item() <= EVENT_DENSITY_MAX * x.numel())


def delayed_matmul(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
    """``y[t, b, o] = sum_i W[o, i] x[t - D[o, i], b, i]`` with integer delays (causal, zero before 0).

    CPU: event-driven numba kernels (work proportional to the number of non-zero inputs).
    CUDA: a Triton gather, one tap per synapse (:mod:`neuro.kernels.delay_gpu`).
    Other devices: one masked matmul per distinct delay value.
    """
    check_seq(x, "delayed_matmul", 1)
    if weight.dim() != 2 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"delayed_matmul: weight {tuple(weight.shape)} does not match input channels {x.shape[-1]}; "
                         "weight must be [out, in]")
    if delays.shape != weight.shape:
        raise ShapeError(f"delayed_matmul: delays {tuple(delays.shape)} must have the weight's shape "
                         f"{tuple(weight.shape)}")
    if delays.is_floating_point() or delays.is_complex():
        raise DTypeError(f"delayed_matmul: delays must be integers, got {delays.dtype}; round them first "
                         "(DelayedLinear.integer_delays())")
    if delays.numel() and int(delays.min()) < 0:
        raise ConfigError(f"delayed_matmul: delays must be >= 0 (causal), got {int(delays.min())}")
    if x.device.type == "cpu" and _NUMBA:
        return _DelayedMatmul.apply(x, weight, delays)
    if x.device.type == "cuda":
        from neuro.kernels.delay_gpu import gather_delayed_matmul, triton

        if triton is not None:
            return gather_delayed_matmul(x, weight, delays)
    T = x.shape[0]
    y = x.new_zeros((T, x.shape[1], weight.shape[0]))
    for d in torch.unique(delays).tolist():
        if d >= T:
            continue
        wd = weight * (delays == d)
        y[d:] = y[d:] + x[: T - d] @ wd.t()
    return y


def sigma_schedule(epoch: int, epochs: int, sigma0: float, sigma_min: float = 0.5, fraction: float = 0.25) -> float:
    """Exponential decay from ``sigma0`` to ``sigma_min`` over the first ``fraction`` of the epochs, then flat."""
    final = max(1, int(epochs * fraction))
    if epoch >= final:
        return sigma_min
    return sigma0 * (sigma_min / sigma0) ** (epoch / final)


class DelayedLinear(nn.Module):
    """Fully connected synapses with one weight and one delay each (see the module docstring).

    Args:
        in_features, out_features: sizes.
        max_delay: largest delay in steps (kernel length ``max_delay + 1``).
        mode: ``"learned"`` (DCLS), ``"fixed"`` (random integer delays, frozen) or ``"none"``.
        sigma: initial Gaussian width in steps (``max_delay / 2`` by default).
        right_pad: zero steps appended to the input (output is that much longer), as SNN-delays does.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_delay: int = 24,
        mode: str = "learned",
        sigma: float | None = None,
        bias: bool = False,
        right_pad: int = 0,
    ) -> None:
        super().__init__()
        if mode not in ("learned", "fixed", "none"):
            raise ConfigError(f"DelayedLinear mode must be 'learned', 'fixed' or 'none', got {mode!r}")
        if max_delay < 0:
            raise ConfigError(f"max_delay must be >= 0, got {max_delay}")
        self.in_features, self.out_features, self.max_delay, self.mode = in_features, out_features, max_delay, mode
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        pos = torch.rand(out_features, in_features) * max_delay
        if mode == "learned":
            self.delay = nn.Parameter(pos)
        else:
            self.register_buffer("delay", pos.round() if mode == "fixed" else torch.zeros_like(pos))
        self.sigma = float(max_delay / 2 if sigma is None else sigma)
        self.right_pad = int(right_pad)  # zero steps appended to the input, so late spikes still arrive

    # ------------------------------------------------------------------ kernels
    def kernel(self, sigma: float | None = None) -> torch.Tensor:
        """The Gaussian kernel ``[out, in, K]`` over delays ``0..max_delay`` (weights included)."""
        s = self.sigma if sigma is None else sigma
        d = torch.arange(self.max_delay + 1, device=self.weight.device, dtype=self.weight.dtype)
        a = 0.5 * ((d - self.delay.unsqueeze(-1)) / s) ** 2
        # the far tail is exactly zero (see _TAIL): no subnormal taps
        g = torch.exp(-a.masked_fill(a > a.detach().amin(-1, keepdim=True) + _TAIL, float("inf")))
        g = g / (g.sum(-1, keepdim=True) + 1e-7)
        return self.weight.unsqueeze(-1) * g

    def integer_delays(self) -> torch.Tensor:
        """Delays rounded to integer steps in ``[0, max_delay]``."""
        return self.delay.detach().round().clamp(0, self.max_delay).to(torch.int64)

    def synapses(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weight [out, in], integer delay [out, in])``: what hardware export needs."""
        return self.weight.detach().clone(), self.integer_delays()

    def clamp_(self) -> None:
        """Keep learned positions inside ``[0, max_delay]`` (called after each optimizer step)."""
        if self.mode == "learned":
            with torch.no_grad():
                self.delay.clamp_(0, self.max_delay)

    def constrain_to_hardware(self, max_delay: int = 62) -> None:
        """Round the delays to integers (one tap per synapse) and check them against a hardware limit."""
        d = self.integer_delays()
        if int(d.max()) > max_delay:
            raise HardwareLimitError(f"delays up to {int(d.max())} steps exceed the hardware limit {max_delay}")
        with torch.no_grad():
            self.delay.copy_(d.to(self.delay.dtype))

    def _check_positions(self) -> None:
        """Raise when a delay position lies outside ``[0, max_delay]`` (or is NaN).

        Out-of-range positions would otherwise be clipped silently (rounding) or put the Gaussian
        tap partly outside the kernel.  Non-blocking on CUDA (reported at the next check).
        """
        from neuro.kernels.gpu import report_bad

        d = self.delay.detach()
        bad = ((d < 0) | (d > self.max_delay) | d.isnan()).any().reshape(1)
        message = (f"DelayedLinear({self.in_features}, {self.out_features}): delay positions must lie in "
                   f"[0, max_delay={self.max_delay}]")
        if not d.is_cuda and bool(bad):
            message += f", found values in [{float(d.min()):.4g}, {float(d.max()):.4g}]"
        report_bad(bad, message + "; call layer.clamp_() after each optimizer step (neuro's trainer does) or "
                   "load positions inside the range")

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self, 1)
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"DelayedLinear expects {self.in_features} input channels, got {x.shape[-1]}")
        if self.mode != "none":
            self._check_positions()
        if self.right_pad:
            x = F.pad(x, (0, 0, 0, 0, 0, self.right_pad))
        if self.mode == "none":
            y = x @ self.weight.t()
        elif self.mode == "learned" and self.training:
            if _event_path(x, self.out_features) and self.weight.dtype == torch.float32:
                y = _GaussDelayConv.apply(x, self.weight, self.delay, self.sigma, self.max_delay + 1)
            else:
                xp = F.pad(x.permute(1, 2, 0), (self.max_delay, 0))  # [B, in, T + K - 1]
                y = F.conv1d(xp, self.kernel().flip(-1)).permute(2, 0, 1)  # conv tap k applies delay K-1-k
        else:
            y = delayed_matmul(x, self.weight, self.integer_delays())
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, mode={self.mode}, "
                f"sigma={self.sigma:.3g}")


