"""Fused CPU kernels (numba): the whole time loop, forward and backward, in compiled code.

The recurrence of :mod:`neuro.core.spec` runs over blocks of neurons in parallel threads;
inside a block the loop is time-outer, neuron-inner so the inner loop is contiguous in memory.
For backward only the pre-reset membrane ``h`` (plus the current ``i`` for current-based and the
adaptation ``a`` for adaptive neurons) is saved, one ``[T, M]`` array each: the reference's
autograd graph keeps several tensors per step, so the fused kernel never holds more memory.
Spikes, surrogate derivatives and post-reset membranes are recomputed from ``h`` in backward.

All arithmetic is done in the input's dtype (float32 or float64) with the same operation order
as the torch reference, so forward outputs are bitwise equal to it.
"""

from __future__ import annotations

import numpy as np
import torch

from neuro.core.checks import checks_enabled
from neuro.core.spec import NeuronSpec, State
from neuro.core.twopoint import TwoPointSpec, TwoPointState
from neuro.errors import NeuroError
from neuro.kernels.numba_common import available, block_size, make_surrogate, njit, prange
from neuro.kernels.twopoint_cpu import cpu_scan

# params array layout (dtype of x): v_th, v_reset, beta_a, rho, alpha
_P_VTH, _P_VR, _P_BA, _P_RHO, _P_ALPHA = range(5)

def _make_kernels(key: tuple, np_dtype: type) -> tuple:
    """Compile forward and backward for one neuron variant and dtype.

    The variant's flags and the dtype's constants are closed over, so numba treats them as
    compile-time constants: untaken branches disappear and the neuron-inner loop vectorizes.
    """
    spiking, cuba, adaptive, hard, decay_input, detach, code, grad_decay, gout_bcast = key
    save_i = cuba and grad_decay
    ZERO, ONE = np_dtype(0), np_dtype(1)
    sg = make_surrogate(code, np_dtype)

    # One time step for a slice of neurons: 1-D arrays only, so LLVM vectorizes the loop.
    @njit(error_model="numpy", nogil=True)
    def fwd_row(xr, v, i, a, av, ai, c, hr, ir, ar, orow, vth, vr, ba, rho):  # type: ignore[no-untyped-def]
        bad = 0
        for j in range(xr.shape[0]):
            xv = xr[j]
            bad |= (xv - xv) != ZERO  # NaN for NaN or inf inputs
            if cuba:
                iv = ai[j] * i[j] + xv
                i[j] = iv
                if save_i:
                    ir[j] = iv
                h = av[j] * v[j] + iv
            else:
                h = av[j] * v[j] + c[j] * xv
            if spiking:
                hr[j] = h
                th = vth
                if adaptive:
                    ar[j] = a[j]
                    th = vth + ba * a[j]
                s = ONE if h - th > ZERO else ZERO
                if hard:
                    v[j] = h if s == ZERO else vr
                else:
                    v[j] = h - th * s
                if adaptive:
                    a[j] = rho * a[j] + s
                orow[j] = s
            else:
                v[j] = h
                orow[j] = h
        return bad

    @njit(parallel=True, error_model="numpy", nogil=True)
    def forward(x, v, i, a, av, ai, c, p, bs, out, hs, is_, as_):  # type: ignore[no-untyped-def]
        T, M = x.shape
        nblk = (M + bs - 1) // bs
        vth, vr, ba, rho = p[_P_VTH], p[_P_VR], p[_P_BA], p[_P_RHO]
        bad = np.zeros(nblk, dtype=np.int64)
        for b in prange(nblk):
            lo = b * bs
            hi = min(M, lo + bs)
            vb, avb, cb = v[lo:hi], av[lo:hi], c[lo:hi]
            ib = i[lo:hi] if cuba else i
            aib = ai[lo:hi] if cuba else ai
            ab = a[lo:hi] if adaptive else a
            for t in range(T):
                bad[b] |= fwd_row(
                    x[t, lo:hi], vb, ib, ab, avb, aib, cb,
                    hs[t, lo:hi] if spiking else hs[0],
                    is_[t, lo:hi] if save_i else is_[0],
                    as_[t, lo:hi] if adaptive else as_[0],
                    out[t, lo:hi], vth, vr, ba, rho,
                )
        return bad.sum()

    @njit(error_model="numpy", nogil=True)
    def bwd_row(  # type: ignore[no-untyped-def]
        gor, gv, gi, ga, xr, hr, hpr, ipr, ar, apr, av, ai, c, gxr, gav, gai, vth, vthp, vr, ba, rho, alpha
    ):
        for j in range(gor.shape[0]):
            g = gv[j]
            if spiking:
                h = hr[j]
                th = vth
                if adaptive:
                    th = vth + ba * ar[j]
                u = h - th
                s = ONE if u > ZERO else ZERO
                gs = gor[j]
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
                gh = gor[j] + g
            if grad_decay:
                # membrane after the reset at t-1, recomputed from the saved h (at t = 0 the caller
                # passes the initial membrane with an infinite threshold: no reset)
                hp = hpr[j]
                vp = hp
                if spiking:
                    thp = vthp
                    if adaptive:
                        thp = vthp + ba * apr[j]
                    if hp - thp > ZERO:
                        vp = vr if hard else hp - thp
                gav[j] += gh * vp
            if cuba:
                gtot = gh + gi[j]
                gxr[j] = gtot
                if grad_decay:
                    gai[j] += gtot * ipr[j]
                gi[j] = ai[j] * gtot
            else:
                gxr[j] = c[j] * gh
                if decay_input and grad_decay:
                    gav[j] -= gh * xr[j]
            gv[j] = av[j] * gh

    @njit(parallel=True, error_model="numpy", nogil=True)
    def backward(gout, gv, gi, ga, x, hs, is_, as_, v0, i0, av, ai, c, p, bs, gx, gav, gai):  # type: ignore
        T, M = gx.shape
        nblk = (M + bs - 1) // bs
        vth, vr, ba, rho, alpha = p[_P_VTH], p[_P_VR], p[_P_BA], p[_P_RHO], p[_P_ALPHA]
        inf = vth - vth + np.inf
        for b in prange(nblk):
            lo = b * bs
            hi = min(M, lo + bs)
            gvb, avb, cb = gv[lo:hi], av[lo:hi], c[lo:hi]
            gib = gi[lo:hi] if cuba else gi
            aib = ai[lo:hi] if cuba else ai
            gaib = gai[lo:hi] if (cuba and grad_decay) else gai
            gab = ga[lo:hi] if adaptive else ga
            gavb = gav[lo:hi] if grad_decay else gav
            for t in range(T - 1, -1, -1):
                if grad_decay:
                    if t > 0:
                        hpr = hs[t - 1, lo:hi]
                        ipr = is_[t - 1, lo:hi] if cuba else is_[0]
                        apr = as_[t - 1, lo:hi] if adaptive else as_[0]
                        vthp = vth
                    else:
                        hpr = v0[lo:hi]
                        ipr = i0[lo:hi] if cuba else i0
                        apr = as_[0, lo:hi] if adaptive else as_[0]
                        vthp = inf
                else:
                    hpr, ipr, apr, vthp = hs[0], is_[0], as_[0], vth
                bwd_row(
                    gout[0 if gout_bcast else t, lo:hi], gvb, gib, gab,
                    x[t, lo:hi] if (decay_input and grad_decay) else x[0],
                    hs[t, lo:hi] if spiking else hs[0],
                    hpr, ipr,
                    as_[t, lo:hi] if adaptive else as_[0],
                    apr, avb, aib, cb, gx[t, lo:hi], gavb, gaib,
                    vth, vthp, vr, ba, rho, alpha,
                )

    return forward, backward


_KERNELS: dict[tuple, tuple] = {}


def _kernels(spec: NeuronSpec, dtype: torch.dtype, grad_decay: bool, gout_bcast: bool = False) -> tuple:
    key = (
        spec.spiking,
        spec.cuba,
        spec.adaptive,
        spec.hard_reset,
        spec.decay_input and not spec.cuba,
        spec.detach_reset,
        spec.surrogate,
        grad_decay,
        gout_bcast,
    )
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    if (key, np_dtype) not in _KERNELS:
        _KERNELS[(key, np_dtype)] = _make_kernels(key, np_dtype)
    return _KERNELS[(key, np_dtype)]


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
        bad = fwd(
            _np(x), _np(v), _np(i), _np(a), _np(av), _np(ai_), _np(c), p, block_size(M),
            _np(out), _np(hs), _np(is_), _np(as_),
        )
        if checks_enabled() and bad:
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
        # The same gradient at every step (e.g. from .sum() or .mean()) is passed as one row.
        bcast = gout is not None and gout.stride(0) == 0
        if gout is None:
            gout = torch.zeros((T, M), dtype=dt)
        gout = gout[:1].contiguous() if bcast else gout.contiguous()
        _, bwd = _kernels(spec, dt, grad_decay, bcast)
        p = np.array([spec.v_th, spec.v_reset, spec.beta_a, spec.rho, spec.alpha], dtype=_np(c).dtype)
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
            _np(i0a), _np(av), _np(ai), _np(c), p, block_size(M), _np(gx), _np(gav), _np(gai),
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
        return available()

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

    def scan_twopoint(self, spec: TwoPointSpec, r: torch.Tensor, c: torch.Tensor, state: TwoPointState,
                      a_v: torch.Tensor, a_c: torch.Tensor) -> tuple[torch.Tensor, TwoPointState]:
        return cpu_scan(spec, r, c, state, a_v, a_c)
