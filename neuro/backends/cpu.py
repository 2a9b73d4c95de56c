"""Fused CPU kernels (numba): the whole time loop, forward and backward, in compiled code.

The recurrence of :mod:`neuro.backends.base` runs over blocks of neurons in parallel threads;
inside a block the loop is time-outer, neuron-inner so the inner loop is contiguous in memory.
For backward only the pre-reset membrane ``h`` (plus the current ``i`` for current-based and the
adaptation ``a`` for adaptive neurons) is saved, one ``[T, M]`` array each: the reference's
autograd graph keeps several tensors per step, so the fused kernel never holds more memory.
Spikes, surrogate derivatives and post-reset membranes are recomputed from ``h`` in backward.

All arithmetic is done in the input's dtype (float32 or float64) with the same operation order
as the torch reference, so forward outputs are bitwise equal to it.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from neuro.backends.base import NeuronSpec, State

try:  # numba is a hard dependency, but keep the reason if it fails to import
    import numba
    from numba import njit, prange

    _NUMBA_ERROR = ""
except Exception as e:  # pragma: no cover - exercised only on broken installs
    numba = None
    _NUMBA_ERROR = f"numba failed to import: {e}"

# params array layout (dtype of x): v_th, v_reset, beta_a, rho, alpha
_P_VTH, _P_VR, _P_BA, _P_RHO, _P_ALPHA = range(5)
_HALF_PI = math.pi / 2


def _make_kernels(key: tuple, np_dtype: type) -> tuple:
    """Compile forward and backward for one neuron variant and dtype.

    The variant's flags and the dtype's constants are closed over, so numba treats them as
    compile-time constants: untaken branches disappear and the neuron-inner loop vectorizes.
    """
    spiking, cuba, adaptive, hard, decay_input, detach, code, grad_decay = key
    save_h = spiking  # non-spiking neurons output h itself
    save_i = cuba and grad_decay
    ZERO, ONE, HALF = np_dtype(0), np_dtype(1), np_dtype(0.5)
    HALF_PI = np_dtype(_HALF_PI)

    @njit(inline="always", error_model="numpy")
    def sg(u, alpha):  # surrogate derivative in the dtype of u
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

    @njit(parallel=True, error_model="numpy")
    def forward(x, v, i, a, av, ai, c, p, bs, out, hs, is_, as_, chk):  # type: ignore[no-untyped-def]
        T, M = x.shape
        nblk = (M + bs - 1) // bs
        vth, vr, ba, rho = p[_P_VTH], p[_P_VR], p[_P_BA], p[_P_RHO]
        for b in prange(nblk):
            lo = b * bs
            hi = min(M, lo + bs)
            for t in range(T):
                for j in range(lo, hi):
                    xv = x[t, j]
                    chk[j] += xv - xv  # stays 0 unless xv is NaN or inf
                    if cuba:
                        iv = ai[j] * i[j] + xv
                        i[j] = iv
                        if save_i:
                            is_[t, j] = iv
                        h = av[j] * v[j] + iv
                    else:
                        h = av[j] * v[j] + c[j] * xv
                    if save_h:
                        hs[t, j] = h
                    if spiking:
                        th = vth
                        if adaptive:
                            as_[t, j] = a[j]
                            th = vth + ba * a[j]
                        s = ONE if h - th > ZERO else ZERO
                        if hard:
                            v[j] = h if s == ZERO else vr
                        else:
                            v[j] = h - th * s
                        if adaptive:
                            a[j] = rho * a[j] + s
                        out[t, j] = s
                    else:
                        v[j] = h
                        out[t, j] = h

    @njit(parallel=True, error_model="numpy")
    def backward(gout, gv, gi, ga, x, hs, is_, as_, v0, i0, av, ai, c, p, bs, gx, gav, gai):  # type: ignore
        T, M = gout.shape
        nblk = (M + bs - 1) // bs
        vth, vr, ba, rho, alpha = p[_P_VTH], p[_P_VR], p[_P_BA], p[_P_RHO], p[_P_ALPHA]
        for b in prange(nblk):
            lo = b * bs
            hi = min(M, lo + bs)
            for t in range(T - 1, -1, -1):
                for j in range(lo, hi):
                    g = gv[j]
                    h = hs[t, j] if (spiking or grad_decay) else g
                    if spiking:
                        th = vth
                        if adaptive:
                            th = vth + ba * as_[t, j]
                        u = h - th
                        s = ONE if u > ZERO else ZERO
                        gs = gout[t, j]
                        if adaptive:
                            gs = gs + ga[j]
                        if not detach:
                            if hard:
                                gs = gs + g * (vr - h)
                            else:
                                gs = gs - g * th
                        gu = gs * sg(u, alpha)
                        if hard:
                            gh = gu + g * (ONE - s)
                        else:
                            gh = gu + g
                        if adaptive:
                            gth = -gu
                            if not hard:
                                gth = gth - g * s
                            ga[j] = rho * ga[j] + ba * gth
                    else:
                        gh = gout[t, j] + g
                    if grad_decay:
                        # membrane after the reset at t-1, recomputed from the saved h
                        if t == 0:
                            vp = v0[j]
                        else:
                            hp = hs[t - 1, j]
                            vp = hp
                            if spiking:
                                thp = vth
                                if adaptive:
                                    thp = vth + ba * as_[t - 1, j]
                                if hp - thp > ZERO:
                                    vp = vr if hard else hp - thp
                        gav[j] += gh * vp
                    if cuba:
                        gtot = gh + gi[j]
                        gx[t, j] = gtot
                        if grad_decay:
                            ip = i0[j] if t == 0 else is_[t - 1, j]
                            gai[j] += gtot * ip
                        gi[j] = ai[j] * gtot
                    else:
                        gx[t, j] = c[j] * gh
                        if decay_input and grad_decay:
                            gav[j] -= gh * x[t, j]
                    gv[j] = av[j] * gh

    return forward, backward


_KERNELS: dict[tuple, tuple] = {}


def _kernels(spec: NeuronSpec, dtype: torch.dtype, grad_decay: bool) -> tuple:
    key = (
        spec.spiking,
        spec.cuba,
        spec.adaptive,
        spec.hard_reset,
        spec.decay_input and not spec.cuba,
        spec.detach_reset,
        spec.surrogate,
        grad_decay,
    )
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    if (key, np_dtype) not in _KERNELS:
        _KERNELS[(key, np_dtype)] = _make_kernels(key, np_dtype)
    return _KERNELS[(key, np_dtype)]


def _block(M: int) -> int:
    threads = numba.get_num_threads() if numba is not None else 1
    return int(max(16, min(1024, -(-M // (4 * threads)))))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


_EMPTY: dict[torch.dtype, torch.Tensor] = {}


def _empty(dtype: torch.dtype) -> torch.Tensor:
    if dtype not in _EMPTY:
        _EMPTY[dtype] = torch.zeros(1, dtype=dtype)
    return _EMPTY[dtype]


class _Scan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec: NeuronSpec, x, v0, i0, a0, av, ai):  # type: ignore[override]
        T, M = x.shape
        dt = x.dtype
        p = np.array([spec.v_th, spec.v_reset, spec.beta_a, spec.rho, spec.alpha], dtype=_np(x).dtype)
        grad_decay = bool(ctx.needs_input_grad[5] or ctx.needs_input_grad[6])
        fwd, _ = _kernels(spec, dt, grad_decay)
        decay_input = spec.decay_input and not spec.cuba
        av_saved, av = av, av.contiguous()  # a broadcast decay is saved as its (tiny) stride-0 view
        c = (1 - av) if decay_input else torch.ones_like(av)
        v = v0.detach().clone()
        i = i0.detach().clone() if spec.cuba else _empty(dt)
        a = a0.detach().clone() if spec.adaptive else _empty(dt)
        out = torch.empty_like(x)
        hs = torch.empty_like(x) if spec.spiking else out  # non-spiking: h is the output
        is_ = torch.empty_like(x) if (spec.cuba and grad_decay) else _empty(dt).view(1, 1)
        as_ = torch.empty_like(x) if spec.adaptive else _empty(dt).view(1, 1)
        ai_ = ai if spec.cuba else _empty(dt)
        chk = np.zeros(M, dtype=p.dtype)
        fwd(
            _np(x), _np(v), _np(i), _np(a), _np(av), _np(ai_), _np(c), p, _block(M),
            _np(out), _np(hs), _np(is_), _np(as_), chk,
        )
        from neuro.neurons.base import checks_enabled

        if checks_enabled() and not np.isfinite(chk.sum()):
            from neuro.errors import NeuroError

            raise NeuroError("neuron input contains NaN or inf; check the layer feeding this neuron")
        ctx.spec, ctx.grad_decay, ctx.shape = spec, grad_decay, (T, M)
        ctx.save_for_backward(
            x if (decay_input and grad_decay) else None,
            hs if (spec.spiking or grad_decay) else None,
            is_ if (spec.cuba and grad_decay) else None,
            as_ if spec.adaptive else None,
            v0 if grad_decay else None,
            i0 if grad_decay else None,
            av_saved,
            ai_ if spec.cuba else None,
        )
        return out, v, (i if spec.cuba else None), (a if spec.adaptive else None)

    @staticmethod
    def backward(ctx, gout, gvT, giT, gaT):  # type: ignore[override]
        spec: NeuronSpec = ctx.spec
        x, hs, is_, as_, v0, i0, av, ai = ctx.saved_tensors
        grad_decay = ctx.grad_decay
        av = av.contiguous()
        c = (1 - av) if (spec.decay_input and not spec.cuba) else torch.ones_like(av)
        ai = ai if ai is not None else _empty(av.dtype)
        T, M = ctx.shape
        dt = c.dtype
        e2 = _empty(dt).view(1, 1)
        hs = hs if hs is not None else e2
        is_ = is_ if is_ is not None else e2
        as_ = as_ if as_ is not None else e2
        v0 = v0 if v0 is not None else _empty(dt)
        _, bwd = _kernels(spec, dt, grad_decay)
        p = np.array([spec.v_th, spec.v_reset, spec.beta_a, spec.rho, spec.alpha], dtype=_np(c).dtype)
        # an expanded gradient (e.g. from .sum()) is read through its strides, not materialized
        gout = gout if gout is not None else torch.zeros((T, M), dtype=dt)
        gv = gvT.clone() if gvT is not None else torch.zeros(M, dtype=dt)
        gi = (giT.clone() if giT is not None else torch.zeros(M, dtype=dt)) if spec.cuba else _empty(dt)
        ga = (gaT.clone() if gaT is not None else torch.zeros(M, dtype=dt)) if spec.adaptive else _empty(dt)
        gx = torch.empty((T, M), dtype=dt)
        gav = torch.zeros(M, dtype=dt)
        gai = torch.zeros(M, dtype=dt) if spec.cuba else _empty(dt)
        xa = x if x is not None else e2
        i0a = i0 if (spec.cuba and i0 is not None) else _empty(dt)
        bwd(
            _np(gout), _np(gv), _np(gi), _np(ga), _np(xa), _np(hs), _np(is_), _np(as_), _np(v0),
            _np(i0a), _np(av), _np(ai), _np(c), p, _block(M), _np(gx), _np(gav), _np(gai),
        )
        return (
            None,
            gx,
            gv,
            gi if spec.cuba else None,
            ga if spec.adaptive else None,
            gav if grad_decay else None,
            gai if (spec.cuba and grad_decay) else None,
        )


class CpuBackend:
    """Fused numba kernels for float32/float64 tensors on the CPU."""

    name = "cpu"

    def available(self) -> tuple[bool, str]:
        if numba is None:
            return False, _NUMBA_ERROR
        return True, ""

    def scan(
        self,
        spec: NeuronSpec,
        x: torch.Tensor,
        state: State,
        a_v: torch.Tensor,
        a_i: torch.Tensor | None,
    ) -> tuple[torch.Tensor, State]:
        dtype = x.dtype
        work = dtype if dtype in (torch.float32, torch.float64) else torch.float32

        def prep(t: torch.Tensor | None, contiguous: bool = True) -> torch.Tensor:
            if t is None:
                return _empty(work)
            t = t.to(work)
            return t.contiguous() if contiguous else t

        out, v, i, a = _Scan.apply(
            spec, prep(x), prep(state.v), prep(state.i), prep(state.a), prep(a_v, False), prep(a_i)
        )
        if work != dtype:
            out, v = out.to(dtype), v.to(dtype)
            i = i.to(dtype) if i is not None else None
            a = a.to(dtype) if a is not None else None
        return out, State(v, i, a)


def set_threads(n: int | None = None) -> None:
    """Set the number of kernel threads (default: torch's intra-op thread count)."""
    if numba is not None:
        numba.set_num_threads(max(1, min(n or torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


if numba is not None and "NUMBA_NUM_THREADS" not in os.environ:
    set_threads()
