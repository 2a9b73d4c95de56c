"""Fused GPU kernels (Triton) for two-point neurons (CUDA; Triton's interpreter runs them on CPU).

One program handles a block of neurons and walks over time with the state in registers; it
saves the pre-reset membrane ``h`` and the apical potential ``p`` for backward, exactly like the
numba kernel, and follows :mod:`neuro.core.twopoint` in float32.
"""

from __future__ import annotations

import torch

from neuro.core.checks import report_bad
from neuro.core.twopoint import EXP_MAX, TwoPointSpec, TwoPointState
from neuro.errors import ConfigError
from neuro.kernels.triton_common import INTERPRET, TRITON_ERROR, tl, triton

if triton is not None:
    from neuro.kernels.triton_common import sg as _sg

    @triton.jit
    def _drive(r, p, k1, k2, MOD: tl.constexpr, EMAX: tl.constexpr):
        if MOD == 0:
            z = r * p
            e = tl.exp(tl.minimum(z, EMAX))
            lin = tl.where(z <= EMAX, e, 0.0)
            d = (0.5 * r) * (1 + e)
            dr = 0.5 * (1 + e) + 0.5 * r * lin * p
            dp = 0.5 * r * lin * r
        elif MOD == 1:
            z = k2 * r * p
            e = tl.exp(tl.minimum(z, EMAX))
            lin = tl.where(z <= EMAX, e, 0.0)
            m = 1 - k1
            d = r * (k1 + m * e)
            dr = k1 + m * e + r * m * lin * k2 * p
            dp = r * m * lin * k2 * r
        elif MOD == 2:
            sgn = tl.where(r > 0, 1.0, tl.where(r < 0, -1.0, 0.0))
            d = r * r + 2 * r + p * (1 + tl.abs(r))
            dr = 2 * r + 2 + p * sgn
            dp = 1 + tl.abs(r)
        else:
            q = 1 / (1 + tl.exp(-p))
            d = r * (1 + q)
            dr = 1 + q
            dp = r * q * (1 - q)
        return d, dr, dp

    @triton.jit
    def _fwd(r_ptr, c_ptr, v_ptr, p_ptr, av_ptr, ac_ptr, out_ptr, hs_ptr, ps_ptr, bad_ptr, T, M, vth, vr, k1, k2,
             MOD: tl.constexpr, EMAX: tl.constexpr, HARD: tl.constexpr, DECAY_INPUT: tl.constexpr,
             BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        v = tl.load(v_ptr + offs, mask=mask, other=0.0)
        p = tl.load(p_ptr + offs, mask=mask, other=0.0)
        av = tl.load(av_ptr + offs, mask=mask, other=0.0)
        ac = tl.load(ac_ptr + offs, mask=mask, other=0.0)
        bad = tl.zeros([BLOCK], dtype=tl.int32)
        for t in range(T):
            r = tl.load(r_ptr + t * M + offs, mask=mask, other=0.0)
            c = tl.load(c_ptr + t * M + offs, mask=mask, other=0.0)
            bad = bad | ((r != r) | (tl.abs(r) == float("inf")) | (c != c) | (tl.abs(c) == float("inf"))).to(tl.int32)
            p = ac * p + (1 - ac) * c
            tl.store(ps_ptr + t * M + offs, p, mask=mask)
            d, _dr, _dp = _drive(r, p, k1, k2, MOD, EMAX)
            if DECAY_INPUT:
                h = av * v + (1 - av) * d
            else:
                h = av * v + d
            tl.store(hs_ptr + t * M + offs, h, mask=mask)
            s = tl.where(h - vth > 0, 1.0, 0.0)
            if HARD:
                v = h * (1 - s) + vr * s
            else:
                v = h - vth * s
            tl.store(out_ptr + t * M + offs, s, mask=mask)
        tl.store(v_ptr + offs, v, mask=mask)
        tl.store(p_ptr + offs, p, mask=mask)
        tl.store(bad_ptr + pid, tl.max(bad, axis=0))

    @triton.jit
    def _bwd(gout_ptr, gv_ptr, gp_ptr, r_ptr, c_ptr, hs_ptr, ps_ptr, v0_ptr, p0_ptr, av_ptr, ac_ptr,
             gr_ptr, gc_ptr, gav_ptr, gac_ptr, T, M, vth, vr, alpha, k1, k2, GSTRIDE,
             MOD: tl.constexpr, EMAX: tl.constexpr, HARD: tl.constexpr, DECAY_INPUT: tl.constexpr,
             DETACH: tl.constexpr, CODE: tl.constexpr, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        g = tl.load(gv_ptr + offs, mask=mask, other=0.0)
        gp = tl.load(gp_ptr + offs, mask=mask, other=0.0)
        av = tl.load(av_ptr + offs, mask=mask, other=0.0)
        ac = tl.load(ac_ptr + offs, mask=mask, other=0.0)
        gav = tl.zeros([BLOCK], dtype=tl.float32)
        gac = tl.zeros([BLOCK], dtype=tl.float32)
        for k in range(T):
            t = T - 1 - k
            h = tl.load(hs_ptr + t * M + offs, mask=mask, other=0.0)
            u = h - vth
            s = tl.where(u > 0, 1.0, 0.0)
            gs = tl.load(gout_ptr + t * GSTRIDE + offs, mask=mask, other=0.0)
            if not DETACH:
                if HARD:
                    gs = gs + g * (vr - h)
                else:
                    gs = gs - g * vth
            gu = gs * _sg(u, CODE, alpha)
            if HARD:
                gh = gu + g * (1 - s)
            else:
                gh = gu + g
            if t == 0:
                vp = tl.load(v0_ptr + offs, mask=mask, other=0.0)
                pp = tl.load(p0_ptr + offs, mask=mask, other=0.0)
            else:
                hp = tl.load(hs_ptr + (t - 1) * M + offs, mask=mask, other=0.0)
                if HARD:
                    vp = tl.where(hp - vth > 0, vr, hp)
                else:
                    vp = tl.where(hp - vth > 0, hp - vth, hp)
                pp = tl.load(ps_ptr + (t - 1) * M + offs, mask=mask, other=0.0)
            p = tl.load(ps_ptr + t * M + offs, mask=mask, other=0.0)
            r = tl.load(r_ptr + t * M + offs, mask=mask, other=0.0)
            c = tl.load(c_ptr + t * M + offs, mask=mask, other=0.0)
            d, dr, dp = _drive(r, p, k1, k2, MOD, EMAX)
            if DECAY_INPUT:
                gd = (1 - av) * gh
                gav += gh * vp - gh * d
            else:
                gd = gh
                gav += gh * vp
            tl.store(gr_ptr + t * M + offs, gd * dr, mask=mask)
            gpt = gp + gd * dp
            tl.store(gc_ptr + t * M + offs, (1 - ac) * gpt, mask=mask)
            gac += gpt * (pp - c)
            gp = ac * gpt
            g = av * gh
        tl.store(gv_ptr + offs, g, mask=mask)
        tl.store(gp_ptr + offs, gp, mask=mask)
        tl.store(gav_ptr + offs, gav, mask=mask)
        tl.store(gac_ptr + offs, gac, mask=mask)


_BLOCK = 256


def gpu_available() -> tuple[bool, str]:
    if triton is None:
        return False, TRITON_ERROR
    if not (torch.cuda.is_available() or INTERPRET):
        return False, "no CUDA device (set TRITON_INTERPRET=1 to run the kernels in Triton's interpreter)"
    return True, ""


def _grid(M: int) -> tuple[int]:
    return (triton.cdiv(M, _BLOCK),)


class _TwoPointScanGpu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec: TwoPointSpec, r, c, v0, p0, av, ac):  # type: ignore[override]
        T, M = r.shape
        v, p = v0.detach().clone(), p0.detach().clone()
        out, hs, ps = torch.empty_like(r), torch.empty_like(r), torch.empty_like(r)
        bad = torch.zeros(_grid(M)[0], dtype=torch.int32, device=r.device)
        _fwd[_grid(M)](r, c, v, p, av, ac, out, hs, ps, bad, T, M, spec.v_th, spec.v_reset, spec.k1, spec.k2,
                       MOD=spec.modulation, EMAX=EXP_MAX, HARD=spec.hard_reset, DECAY_INPUT=spec.decay_input,
                       BLOCK=_BLOCK)
        report_bad(bad, "two-point neuron input (receptive field or context) contains NaN or inf; "
                   "check the layers feeding it")
        ctx.spec = spec
        ctx.save_for_backward(r, c, hs, ps, v0, p0, av, ac)
        return out, v, p

    @staticmethod
    def backward(ctx, gout, gvT, gpT):  # type: ignore[override]
        r, c, hs, ps, v0, p0, av, ac = ctx.saved_tensors
        spec: TwoPointSpec = ctx.spec
        T, M = r.shape
        if gout is None:
            gout, gstride = torch.zeros((1, M), dtype=r.dtype, device=r.device), 0
        elif gout.stride(0) == 0:  # the same gradient at every step: read one row
            gout, gstride = gout[:1].contiguous(), 0
        else:
            gout, gstride = gout.contiguous(), M
        gv = gvT.clone().contiguous() if gvT is not None else torch.zeros_like(v0)
        gp = gpT.clone().contiguous() if gpT is not None else torch.zeros_like(p0)
        gr, gc = torch.empty_like(r), torch.empty_like(r)
        gav, gac = torch.zeros_like(av), torch.zeros_like(ac)
        _bwd[_grid(M)](gout, gv, gp, r, c, hs, ps, v0, p0, av, ac, gr, gc, gav, gac, T, M, spec.v_th, spec.v_reset,
                       spec.alpha, spec.k1, spec.k2, gstride, MOD=spec.modulation, EMAX=EXP_MAX,
                       HARD=spec.hard_reset, DECAY_INPUT=spec.decay_input, DETACH=spec.detach_reset,
                       CODE=spec.surrogate, BLOCK=_BLOCK)
        return None, gr, gc, gv, gp, gav, gac


def gpu_scan(spec: TwoPointSpec, r: torch.Tensor, c: torch.Tensor, state: TwoPointState, a_v: torch.Tensor,
             a_c: torch.Tensor) -> tuple[torch.Tensor, TwoPointState]:
    """The fused Triton scan over ``r, c [T, M]`` (computed in float32)."""
    ok, why = gpu_available()
    if not ok:
        raise ConfigError(f"the two-point GPU kernel is not available: {why}")
    dtype = r.dtype

    def prep(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.float32).contiguous()

    out, v, p = _TwoPointScanGpu.apply(spec, prep(r), prep(c), prep(state.v), prep(state.p), prep(a_v), prep(a_c))
    return out.to(dtype), TwoPointState(v.to(dtype), p.to(dtype))
