"""Fused CPU kernels (numba) for two-point neurons: the whole time loop, forward and backward.

Implements the recurrence of :mod:`neuro.core.twopoint` over blocks of neurons in
parallel threads (time-outer, neuron-inner inside a block, so inner loops are contiguous).
Forward saves the pre-reset membrane ``h`` and the apical potential ``p`` (one ``[T, M]`` array
each); backward recomputes spikes, surrogate derivatives, the modulated drive and its partial
derivatives from them and from the inputs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from neuro.core.checks import checks_enabled
from neuro.core.twopoint import EXP_MAX, TwoPointSpec, TwoPointState
from neuro.errors import NeuroError
from neuro.kernels.numba_common import block_size, make_surrogate, njit, prange


def _make(key: tuple, np_dtype: type) -> tuple:
    code, hard, decay_input, detach, sgc = key
    ZERO, ONE, HALF, TWO = np_dtype(0), np_dtype(1), np_dtype(0.5), np_dtype(2)
    EMAX = np_dtype(EXP_MAX)

    sg = make_surrogate(sgc, np_dtype)

    @njit(inline="always", error_model="numpy")
    def drive(r, p, k1, k2):
        """A(r, p) and its partial derivatives w.r.t. r and p."""
        if code == 0:
            z = r * p
            e = math.exp(min(z, EMAX))
            lin = e if z <= EMAX else ZERO
            return (HALF * r) * (ONE + e), HALF * (ONE + e) + HALF * r * lin * p, HALF * r * lin * r
        elif code == 1:
            z = k2 * r * p
            e = math.exp(min(z, EMAX))
            lin = e if z <= EMAX else ZERO
            m = ONE - k1
            return r * (k1 + m * e), k1 + m * e + r * m * lin * k2 * p, r * m * lin * k2 * r
        elif code == 2:
            sgn = ONE if r > ZERO else (-ONE if r < ZERO else ZERO)
            return r * r + TWO * r + p * (ONE + abs(r)), TWO * r + TWO + p * sgn, ONE + abs(r)
        else:
            q = ONE / (ONE + math.exp(-p))
            return r * (ONE + q), ONE + q, r * q * (ONE - q)

    @njit(parallel=True, error_model="numpy", nogil=True)
    def forward(r, c, v, p, av, ac, prm, bs, out, hs, ps):  # type: ignore[no-untyped-def]
        T, M = r.shape
        vth, vr, k1, k2 = prm[0], prm[1], prm[3], prm[4]
        nblk = (M + bs - 1) // bs
        bad = np.zeros(nblk, dtype=np.int64)
        for b in prange(nblk):
            lo, hi = b * bs, min(M, b * bs + bs)
            for t in range(T):
                for j in range(lo, hi):
                    rj, cj = r[t, j], c[t, j]
                    bad[b] |= ((rj - rj) != ZERO) | ((cj - cj) != ZERO)
                    pj = ac[j] * p[j] + (ONE - ac[j]) * cj
                    p[j] = pj
                    ps[t, j] = pj
                    d, _, _ = drive(rj, pj, k1, k2)
                    if decay_input:
                        h = av[j] * v[j] + (ONE - av[j]) * d
                    else:
                        h = av[j] * v[j] + d
                    hs[t, j] = h
                    s = ONE if h - vth > ZERO else ZERO
                    if hard:
                        v[j] = h * (ONE - s) + vr * s
                    else:
                        v[j] = h - vth * s
                    out[t, j] = s
        return bad.sum()

    @njit(parallel=True, error_model="numpy", nogil=True)
    def backward(gout, bcast, gv, gp, r, c, hs, ps, v0, p0, av, ac, prm, bs, gr, gc, gav, gac):  # type: ignore
        T, M = r.shape
        vth, vr, alpha, k1, k2 = prm[0], prm[1], prm[2], prm[3], prm[4]
        nblk = (M + bs - 1) // bs
        for b in prange(nblk):
            lo, hi = b * bs, min(M, b * bs + bs)
            for t in range(T - 1, -1, -1):
                tg = 0 if bcast else t
                for j in range(lo, hi):
                    h = hs[t, j]
                    u = h - vth
                    s = ONE if u > ZERO else ZERO
                    g = gv[j]
                    gs = gout[tg, j]
                    if not detach:
                        if hard:
                            gs = gs + g * (vr - h)
                        else:
                            gs = gs - g * vth
                    gu = gs * sg(u, alpha)
                    if hard:
                        gh = gu + g * (ONE - s)
                    else:
                        gh = gu + g
                    if t > 0:
                        hp = hs[t - 1, j]
                        vp = hp
                        if hp - vth > ZERO:
                            vp = vr if hard else hp - vth
                        pp = ps[t - 1, j]
                    else:
                        vp = v0[j]
                        pp = p0[j]
                    pj = ps[t, j]
                    d, dr, dp = drive(r[t, j], pj, k1, k2)
                    if decay_input:
                        gd = (ONE - av[j]) * gh
                        gav[j] += gh * vp - gh * d
                    else:
                        gd = gh
                        gav[j] += gh * vp
                    gr[t, j] = gd * dr
                    gpt = gp[j] + gd * dp
                    gc[t, j] = (ONE - ac[j]) * gpt
                    gac[j] += gpt * (pp - c[t, j])
                    gp[j] = ac[j] * gpt
                    gv[j] = av[j] * gh

    return forward, backward


_KERNELS: dict[tuple, tuple] = {}


def _kernels(spec: TwoPointSpec, dtype: torch.dtype) -> tuple:
    key = (spec.modulation, spec.hard_reset, spec.decay_input, spec.detach_reset, spec.surrogate)
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    if (key, np_dtype) not in _KERNELS:
        _KERNELS[(key, np_dtype)] = _make(key, np_dtype)
    return _KERNELS[(key, np_dtype)]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _params(spec: TwoPointSpec, dtype: torch.dtype) -> np.ndarray:
    return np.array([spec.v_th, spec.v_reset, spec.alpha, spec.k1, spec.k2],
                    dtype=np.float64 if dtype == torch.float64 else np.float32)


class _TwoPointScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec: TwoPointSpec, r, c, v0, p0, av, ac):  # type: ignore[override]
        T, M = r.shape
        fwd, _ = _kernels(spec, r.dtype)
        v, p = v0.detach().clone(), p0.detach().clone()
        out, hs, ps = torch.empty_like(r), torch.empty_like(r), torch.empty_like(r)
        bad = fwd(_np(r), _np(c), _np(v), _np(p), _np(av), _np(ac), _params(spec, r.dtype), block_size(M),
                  _np(out), _np(hs), _np(ps))
        if checks_enabled() and bad:
            raise NeuroError("two-point neuron input (receptive field or context) contains NaN or inf; "
                             "check the layers feeding it")
        ctx.spec = spec
        ctx.save_for_backward(r, c, hs, ps, v0, p0, av, ac)
        return out, v, p

    @staticmethod
    def backward(ctx, gout, gvT, gpT):  # type: ignore[override]
        r, c, hs, ps, v0, p0, av, ac = ctx.saved_tensors
        spec: TwoPointSpec = ctx.spec
        T, M = r.shape
        dt = r.dtype
        bcast = gout is not None and gout.stride(0) == 0  # e.g. from .sum(): one row for all steps
        if gout is None:
            gout = torch.zeros((1, M), dtype=dt)
            bcast = True
        gout = gout[:1].contiguous() if bcast else gout.contiguous()
        gv = gvT.clone().contiguous() if gvT is not None else torch.zeros(M, dtype=dt)
        gp = gpT.clone().contiguous() if gpT is not None else torch.zeros(M, dtype=dt)
        gr, gc = torch.empty_like(r), torch.empty_like(r)
        gav, gac = torch.zeros(M, dtype=dt), torch.zeros(M, dtype=dt)
        _, bwd = _kernels(spec, dt)
        bwd(_np(gout), bcast, _np(gv), _np(gp), _np(r), _np(c), _np(hs), _np(ps), _np(v0), _np(p0), _np(av),
            _np(ac), _params(spec, dt), block_size(M), _np(gr), _np(gc), _np(gav), _np(gac))
        return None, gr, gc, gv, gp, gav, gac


def cpu_scan(spec: TwoPointSpec, r: torch.Tensor, c: torch.Tensor, state: TwoPointState, a_v: torch.Tensor,
             a_c: torch.Tensor) -> tuple[torch.Tensor, TwoPointState]:
    """The fused numba scan over ``r, c [T, M]`` (float32/float64 CPU tensors)."""
    dtype = r.dtype
    work = dtype if dtype in (torch.float32, torch.float64) else torch.float32

    def prep(t: torch.Tensor) -> torch.Tensor:
        return t.to(work).contiguous()

    out, v, p = _TwoPointScan.apply(spec, prep(r), prep(c), prep(state.v), prep(state.p), prep(a_v), prep(a_c))
    return out.to(dtype), TwoPointState(v.to(dtype), p.to(dtype))
