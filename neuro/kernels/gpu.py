"""Fused GPU kernels (Triton): the time loop of :mod:`neuro.core.spec` on CUDA.

One Triton program handles a block of neurons and walks over time, keeping the state in
registers.  Forward saves ``h`` (and ``i`` / ``a`` where the neuron has them), one ``[T, M]``
array each, exactly as the CPU kernel; backward recomputes spikes and surrogates from them.
Arithmetic follows the torch reference's operation order, in float32.
"""

from __future__ import annotations

import os

import torch

from neuro.core.checks import PENDING, report_bad
from neuro.core.spec import NeuronSpec, State
from neuro.core.twopoint import TwoPointSpec, TwoPointState
from neuro.kernels.triton_common import available, tl, triton
from neuro.kernels.triton_common import sg as _sg
from neuro.kernels.twopoint_gpu import gpu_scan

if triton is not None:

    @triton.jit
    def _fwd_kernel(
        x_ptr, v_ptr, i_ptr, a_ptr, av_ptr, ai_ptr, c_ptr, out_ptr, hs_ptr, is_ptr, as_ptr, bad_ptr,
        T, M, vth, vr, ba, rho,
        SPIKING: tl.constexpr, CUBA: tl.constexpr, ADAPTIVE: tl.constexpr, HARD: tl.constexpr,
        GRAD_DECAY: tl.constexpr, BLOCK: tl.constexpr, STAGES: tl.constexpr, UNROLL: tl.constexpr,
    ):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        v = tl.load(v_ptr + offs, mask=mask, other=0.0)
        av = tl.load(av_ptr + offs, mask=mask, other=0.0)
        c = tl.load(c_ptr + offs, mask=mask, other=0.0)
        i = tl.zeros([BLOCK], dtype=tl.float32)
        ai = tl.zeros([BLOCK], dtype=tl.float32)
        a = tl.zeros([BLOCK], dtype=tl.float32)
        if CUBA:
            i = tl.load(i_ptr + offs, mask=mask, other=0.0)
            ai = tl.load(ai_ptr + offs, mask=mask, other=0.0)
        if ADAPTIVE:
            a = tl.load(a_ptr + offs, mask=mask, other=0.0)
        bad = tl.zeros([BLOCK], dtype=tl.int32)
        for t in tl.range(0, T, num_stages=STAGES, loop_unroll_factor=UNROLL):
            x = tl.load(x_ptr + t * M + offs, mask=mask, other=0.0)
            bad = bad | ((x != x) | (tl.abs(x) == float("inf"))).to(tl.int32)
            if CUBA:
                i = ai * i + x
                if GRAD_DECAY:
                    tl.store(is_ptr + t * M + offs, i, mask=mask)
                h = av * v + i
            else:
                h = av * v + c * x
            if SPIKING:
                tl.store(hs_ptr + t * M + offs, h, mask=mask)
                th = vth + tl.zeros([BLOCK], dtype=tl.float32)
                if ADAPTIVE:
                    tl.store(as_ptr + t * M + offs, a, mask=mask)
                    th = vth + ba * a
                s = tl.where(h - th > 0, 1.0, 0.0)
                if HARD:
                    v = h * (1 - s) + vr * s
                else:
                    v = h - th * s
                if ADAPTIVE:
                    a = rho * a + s
                tl.store(out_ptr + t * M + offs, s, mask=mask)
            else:
                v = h
                tl.store(out_ptr + t * M + offs, h, mask=mask)
        tl.store(v_ptr + offs, v, mask=mask)
        if CUBA:
            tl.store(i_ptr + offs, i, mask=mask)
        if ADAPTIVE:
            tl.store(a_ptr + offs, a, mask=mask)
        tl.store(bad_ptr + pid, tl.max(bad, axis=0))

    @triton.jit
    def _bwd_kernel(
        gout_ptr, gv_ptr, gi_ptr, ga_ptr, x_ptr, hs_ptr, is_ptr, as_ptr, v0_ptr, i0_ptr,
        av_ptr, ai_ptr, c_ptr, gx_ptr, gav_ptr, gai_ptr,
        T, M, vth, vr, ba, rho, alpha,
        SPIKING: tl.constexpr, CUBA: tl.constexpr, ADAPTIVE: tl.constexpr, HARD: tl.constexpr,
        DECAY_INPUT: tl.constexpr, DETACH: tl.constexpr, CODE: tl.constexpr, GRAD_DECAY: tl.constexpr,
        BLOCK: tl.constexpr, STAGES: tl.constexpr, UNROLL: tl.constexpr,
    ):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        g = tl.load(gv_ptr + offs, mask=mask, other=0.0)
        av = tl.load(av_ptr + offs, mask=mask, other=0.0)
        c = tl.load(c_ptr + offs, mask=mask, other=0.0)
        gav = tl.zeros([BLOCK], dtype=tl.float32)
        gai = tl.zeros([BLOCK], dtype=tl.float32)
        gi = tl.zeros([BLOCK], dtype=tl.float32)
        ai = tl.zeros([BLOCK], dtype=tl.float32)
        ga = tl.zeros([BLOCK], dtype=tl.float32)
        if CUBA:
            gi = tl.load(gi_ptr + offs, mask=mask, other=0.0)
            ai = tl.load(ai_ptr + offs, mask=mask, other=0.0)
        if ADAPTIVE:
            ga = tl.load(ga_ptr + offs, mask=mask, other=0.0)
        for k in tl.range(0, T, num_stages=STAGES, loop_unroll_factor=UNROLL):
            t = T - 1 - k
            go = tl.load(gout_ptr + t * M + offs, mask=mask, other=0.0)
            if SPIKING:
                h = tl.load(hs_ptr + t * M + offs, mask=mask, other=0.0)
                th = vth + tl.zeros([BLOCK], dtype=tl.float32)
                if ADAPTIVE:
                    th = vth + ba * tl.load(as_ptr + t * M + offs, mask=mask, other=0.0)
                u = h - th
                s = tl.where(u > 0, 1.0, 0.0)
                gs = go
                if ADAPTIVE:
                    gs = gs + ga
                if not DETACH:
                    if HARD:
                        gs = gs + g * (vr - h)
                    else:
                        gs = gs - g * th
                gu = gs * _sg(u, CODE, alpha)
                if HARD:
                    gh = gu + g * (1 - s)
                else:
                    gh = gu + g
                if ADAPTIVE:
                    gth = -gu
                    if not HARD:
                        gth = gth - g * s
                    ga = rho * ga + ba * gth
            else:
                gh = go + g
            if GRAD_DECAY:
                if t == 0:
                    vp = tl.load(v0_ptr + offs, mask=mask, other=0.0)
                else:
                    hp = tl.load(hs_ptr + (t - 1) * M + offs, mask=mask, other=0.0)
                    vp = hp
                    if SPIKING:
                        thp = vth + tl.zeros([BLOCK], dtype=tl.float32)
                        if ADAPTIVE:
                            thp = vth + ba * tl.load(as_ptr + (t - 1) * M + offs, mask=mask, other=0.0)
                        if HARD:
                            vp = tl.where(hp - thp > 0, vr, hp)
                        else:
                            vp = tl.where(hp - thp > 0, hp - thp, hp)
                gav += gh * vp
            if CUBA:
                gtot = gh + gi
                tl.store(gx_ptr + t * M + offs, gtot, mask=mask)
                if GRAD_DECAY:
                    if t == 0:
                        ip = tl.load(i0_ptr + offs, mask=mask, other=0.0)
                    else:
                        ip = tl.load(is_ptr + (t - 1) * M + offs, mask=mask, other=0.0)
                    gai += gtot * ip
                gi = ai * gtot
            else:
                tl.store(gx_ptr + t * M + offs, c * gh, mask=mask)
                if DECAY_INPUT and GRAD_DECAY:
                    gav -= gh * tl.load(x_ptr + t * M + offs, mask=mask, other=0.0)
            g = av * gh
        tl.store(gv_ptr + offs, g, mask=mask)
        tl.store(gav_ptr + offs, gav, mask=mask)
        if CUBA:
            tl.store(gi_ptr + offs, gi, mask=mask)
            tl.store(gai_ptr + offs, gai, mask=mask)
        if ADAPTIVE:
            tl.store(ga_ptr + offs, ga, mask=mask)


_BLOCK = int(os.environ.get("NEURO_TRITON_BLOCK", "128"))
# Software pipelining of the time loop (loads of later steps issued ahead) and its unrolling:
# the scan is latency-bound, one dependent step after another.
_STAGES = int(os.environ.get("NEURO_TRITON_STAGES", "4"))
_UNROLL = int(os.environ.get("NEURO_TRITON_UNROLL", "4"))
class _Scan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec: NeuronSpec, x, v0, i0, a0, av, ai):  # type: ignore[override]
        T, M = x.shape
        dummy = x.new_zeros(1)
        grad_decay = bool(ctx.needs_input_grad[5] or ctx.needs_input_grad[6])
        decay_input = spec.decay_input and not spec.cuba
        av_saved, av = av, av.contiguous()  # a broadcast decay is saved as its stride-0 view
        c = (1 - av) if decay_input else torch.ones_like(av)
        v = v0.detach().clone()
        i = i0.detach().clone() if spec.cuba else dummy
        a = a0.detach().clone() if spec.adaptive else dummy
        out = torch.empty_like(x)
        hs = torch.empty_like(x) if spec.spiking else out  # non-spiking: h is the output
        is_ = torch.empty_like(x) if (spec.cuba and grad_decay) else dummy
        as_ = torch.empty_like(x) if spec.adaptive else dummy
        ai_ = ai.contiguous() if spec.cuba else dummy
        grid = (triton.cdiv(M, _BLOCK),)
        bad = torch.zeros(grid[0], dtype=torch.int32, device=x.device)
        _fwd_kernel[grid](
            x, v, i, a, av, ai_, c, out, hs, is_, as_, bad, T, M,
            spec.v_th, spec.v_reset, spec.beta_a, spec.rho,
            SPIKING=spec.spiking, CUBA=spec.cuba, ADAPTIVE=spec.adaptive, HARD=spec.hard_reset,
            GRAD_DECAY=grad_decay, BLOCK=_BLOCK, STAGES=_STAGES, UNROLL=_UNROLL,
        )
        report_bad(bad, "neuron input contains NaN or inf; check the layer feeding this neuron")
        ctx.spec, ctx.grad_decay, ctx.shape = spec, grad_decay, (T, M)
        ctx.save_for_backward(
            x if (decay_input and grad_decay) else None,
            hs if (spec.spiking or grad_decay) else None,
            is_ if (spec.cuba and grad_decay) else None,
            as_ if spec.adaptive else None,
            v0 if grad_decay else None,
            i0 if (spec.cuba and grad_decay) else None,
            av_saved,
            ai if spec.cuba else None,
        )
        return out, v, (i if spec.cuba else None), (a if spec.adaptive else None)

    @staticmethod
    def backward(ctx, gout, gvT, giT, gaT):  # type: ignore[override]
        PENDING.poll()
        spec: NeuronSpec = ctx.spec
        x, hs, is_, as_, v0, i0, av, ai = ctx.saved_tensors
        T, M = ctx.shape
        av = av.contiguous()
        dummy = av.new_zeros(1)
        zeros = av.new_zeros(M)
        c = (1 - av) if (spec.decay_input and not spec.cuba) else torch.ones_like(av)

        def opt(t):
            return dummy if t is None else t.contiguous()

        gout = gout.contiguous() if gout is not None else av.new_zeros((T, M))
        gv = gvT.clone().contiguous() if gvT is not None else zeros.clone()
        gi = (giT.clone().contiguous() if giT is not None else zeros.clone()) if spec.cuba else dummy
        ga = (gaT.clone().contiguous() if gaT is not None else zeros.clone()) if spec.adaptive else dummy
        gx = av.new_empty((T, M))
        gav = av.new_zeros(M)
        gai = av.new_zeros(M) if spec.cuba else dummy
        grid = (triton.cdiv(M, _BLOCK),)
        _bwd_kernel[grid](
            gout, gv, gi, ga, opt(x), opt(hs), opt(is_), opt(as_), opt(v0), opt(i0), av, opt(ai), c,
            gx, gav, gai, T, M, spec.v_th, spec.v_reset, spec.beta_a, spec.rho, spec.alpha,
            SPIKING=spec.spiking, CUBA=spec.cuba, ADAPTIVE=spec.adaptive, HARD=spec.hard_reset,
            DECAY_INPUT=spec.decay_input and not spec.cuba, DETACH=spec.detach_reset,
            CODE=spec.surrogate, GRAD_DECAY=ctx.grad_decay, BLOCK=_BLOCK, STAGES=_STAGES, UNROLL=_UNROLL,
        )
        gd = ctx.grad_decay
        return (
            None, gx, gv, gi if spec.cuba else None, ga if spec.adaptive else None,
            gav if gd else None, gai if (spec.cuba and gd) else None,
        )


class GpuBackend:
    """Fused Triton kernels for CUDA tensors (computed in float32)."""

    name = "gpu"

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
        f32 = torch.float32

        def prep(t: torch.Tensor | None, contiguous: bool = True) -> torch.Tensor:
            if t is None:
                return x.new_zeros(1, dtype=f32)
            t = t.to(f32)
            return t.contiguous() if contiguous else t

        out, v, i, a = _Scan.apply(
            spec, prep(x), prep(state.v), prep(state.i), prep(state.a), prep(a_v, False), prep(a_i)
        )
        if dtype != f32:
            out, v = out.to(dtype), v.to(dtype)
            i = i.to(dtype) if i is not None else None
            a = a.to(dtype) if a is not None else None
        return out, State(v, i, a)

    def scan_twopoint(self, spec: TwoPointSpec, r: torch.Tensor, c: torch.Tensor, state: TwoPointState,
                      a_v: torch.Tensor, a_c: torch.Tensor) -> tuple[torch.Tensor, TwoPointState]:
        return gpu_scan(spec, r, c, state, a_v, a_c)
