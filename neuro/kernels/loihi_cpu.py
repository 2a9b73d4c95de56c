"""Fused CPU kernels (numba) of the Loihi fixed-point simulator (:mod:`neuro.hardware.loihi.simulator`).

Integer synaptic scatter per delay slot, the bit-accurate CUBA LIF update and recurrent populations,
one sample (or one neuron) per thread; ``*_par`` run samples in parallel, ``*_ser`` one after another.
"""

from __future__ import annotations

import numpy as np

from neuro.kernels.numba_common import available, njit, prange

__all__ = ["available", "cuba_par", "cuba_ser", "direct_par", "direct_ser", "rec_par", "rec_ser", "slots_par",
           "slots_ser"]

if njit is not None:


    @njit(nogil=True, cache=True)
    def _slots_one(s, ptr, idx, wv, dvals, e, binary, a, b):  # type: ignore[no-untyped-def]
        """Sample b: a[t+1+d, b, o] += shift(sum over synapses (i->o) with delay d of w * s[t, b, i], e).

        Synapses are grouped per (input i, delay slot k) in CSR form (``ptr``/``idx``/``wv``); each
        slot's sum is shifted separately, as Lava's DelayDense does.
        """
        T, _, n_in = s.shape
        nd = dvals.shape[0]
        n_out = a.shape[2]
        tmp = np.zeros((T, n_out), np.int64)
        for k in range(nd):
            d = dvals[k]
            n_t = T - 1 - d
            if n_t <= 0:
                continue
            tmp[:n_t] = 0
            for t in range(n_t):
                for i in range(n_in):
                    x = s[t, b, i]
                    if x != 0:
                        if binary:
                            x = 1
                        for p in range(ptr[i * nd + k], ptr[i * nd + k + 1]):
                            tmp[t, idx[p]] += wv[p] * x
            for t in range(n_t):
                for o in range(n_out):
                    y = tmp[t, o]
                    a[t + 1 + d, b, o] += (y << e) if e > 0 else (y >> -e)

    @njit(nogil=True, cache=True)
    def _direct_one(s, ptr, idx, wv, dl, binary, a, b):  # type: ignore[no-untyped-def]
        """Sample b: a[t+1+D[o,i], b, o] += W[o,i] * s[t, b, i] (weights pre-shifted by a non-negative
        exponent, which distributes over the sum); synapses grouped per input in CSR form."""
        T, _, n_in = s.shape
        for t in range(T - 1):
            for i in range(n_in):
                x = s[t, b, i]
                if x != 0:
                    if binary:
                        x = 1
                    for p in range(ptr[i], ptr[i + 1]):
                        tt = t + 1 + dl[p]
                        if tt < T:
                            a[tt, b, idx[p]] += wv[p] * x

    @njit(nogil=True, cache=True, inline="always")
    def _lif1(u, v, a, cu, cv, bn, vth64):  # type: ignore[no-untyped-def]
        """One bit-accurate LIF step of one neuron: returns (u, v, spiked)."""
        two31 = np.int64(1) << 31
        m32 = (np.int64(1) << 32) - 1
        mx = np.int64(1) << 23
        p = u * cu
        pd = (p >> 12) if p >= 0 else -((-p) >> 12)
        au = ((((a & m32) << 6) + two31) & m32) - two31  # int32 (a << 6)
        u1 = (((pd + au) + two31) & m32) - two31
        if u1 > mx:
            u1 -= 2 * mx
        elif u1 <= -mx:
            u1 += 2 * mx
        q = v * cv
        qd = (q >> 12) if q >= 0 else -((-q) >> 12)
        v1 = (((qd + u1 + bn) + two31) & m32) - two31
        if v1 > mx - 1:
            v1 = mx - 1
        elif v1 < -(mx - 1):
            v1 = -(mx - 1)
        spk = v1 > vth64
        if spk:
            v1 = 0
        return u1, v1, spk

    @njit(nogil=True, cache=True)
    def _cuba_one(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record, b, n):  # type: ignore[no-untyped-def]
        """The bit-accurate LIF recurrence over time for neuron n of sample b."""
        T = a.shape[0]
        u = u0[b, n]
        v = v0[b, n]
        bn = bias[n]
        for t in range(T):
            u, v, spk = _lif1(u, v, a[t, b, n], cu, cv, bn, vth64)
            s_out[t, b, n] = 1 if spk else 0
            if record:
                u_rec[t, b, n] = u
                v_rec[t, b, n] = v
        u_fin[b, n] = u
        v_fin[b, n] = v

    @njit(nogil=True, cache=True)
    def _rec_one(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin,  # type: ignore[no-untyped-def]
                 record, b):
        """Sample b of a recurrent population: each step, the LIF update of every neuron (input
        ``a[t] + r[t]``), then its spikes scattered through the recurrent synapses into
        ``r[t + 1 + d]``.  ``direct``: CSR per presynaptic neuron with pre-shifted weights and one
        delay per synapse (``extra``); else CSR per (neuron, delay slot) with the slots' delays in
        ``extra`` and each slot's sum shifted by ``e`` (floor), as Lava's Dense/DelayDense do."""
        T, _, N = a.shape
        nd = extra.shape[0]
        r = np.zeros((T, N), np.int64)
        tmp = np.zeros(N, np.int64)
        fired = np.empty(N, np.int64)
        u = u0[b].copy()
        v = v0[b].copy()
        for t in range(T):
            ns = 0
            for n in range(N):
                un, vn, spk = _lif1(u[n], v[n], a[t, b, n] + r[t, n], cu, cv, bias[n], vth64)
                u[n] = un
                v[n] = vn
                if spk:
                    s_out[t, b, n] = 1
                    fired[ns] = n
                    ns += 1
                if record:
                    u_rec[t, b, n] = un
                    v_rec[t, b, n] = vn
            if ns == 0 or t + 1 >= T:
                continue
            if direct:
                for j in range(ns):
                    i = fired[j]
                    for p in range(ptr[i], ptr[i + 1]):
                        tt = t + 1 + extra[p]
                        if tt < T:
                            r[tt, idx[p]] += wv[p]
            else:
                for k in range(nd):
                    tt = t + 1 + extra[k]
                    if tt >= T:
                        continue
                    tmp[:] = 0
                    for j in range(ns):
                        i = fired[j]
                        for p in range(ptr[i * nd + k], ptr[i * nd + k + 1]):
                            tmp[idx[p]] += wv[p]
                    for o in range(N):
                        y = tmp[o]
                        r[tt, o] += (y << e) if e > 0 else (y >> -e)
        for n in range(N):
            u_fin[b, n] = u[n]
            v_fin[b, n] = v[n]

    @njit(parallel=True, nogil=True, cache=True)
    def rec_par(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin,  # type: ignore[no-untyped-def]
                 record):
        for b in prange(a.shape[1]):
            _rec_one(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin,
                     v_fin, record, b)

    @njit(nogil=True, cache=True)
    def rec_ser(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin,  # type: ignore[no-untyped-def]
                 record):
        for b in range(a.shape[1]):
            _rec_one(a, ptr, idx, wv, extra, e, direct, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin,
                     v_fin, record, b)

    # drivers: parallel over samples / neurons, and serial ones for small work, where starting
    # threads costs more than it saves
    @njit(parallel=True, nogil=True, cache=True)
    def slots_par(s, ptr, idx, wv, dvals, e, binary, a):  # type: ignore[no-untyped-def]
        for b in prange(s.shape[1]):
            _slots_one(s, ptr, idx, wv, dvals, e, binary, a, b)

    @njit(nogil=True, cache=True)
    def slots_ser(s, ptr, idx, wv, dvals, e, binary, a):  # type: ignore[no-untyped-def]
        for b in range(s.shape[1]):
            _slots_one(s, ptr, idx, wv, dvals, e, binary, a, b)

    @njit(parallel=True, nogil=True, cache=True)
    def direct_par(s, ptr, idx, wv, dl, binary, a):  # type: ignore[no-untyped-def]
        for b in prange(s.shape[1]):
            _direct_one(s, ptr, idx, wv, dl, binary, a, b)

    @njit(nogil=True, cache=True)
    def direct_ser(s, ptr, idx, wv, dl, binary, a):  # type: ignore[no-untyped-def]
        for b in range(s.shape[1]):
            _direct_one(s, ptr, idx, wv, dl, binary, a, b)

    @njit(parallel=True, nogil=True, cache=True)
    def cuba_par(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record):  # type: ignore[no-untyped-def]
        B, N = a.shape[1], a.shape[2]
        for m in prange(B * N):
            _cuba_one(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record, m // N, m % N)

    @njit(nogil=True, cache=True)
    def cuba_ser(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record):  # type: ignore[no-untyped-def]
        B, N = a.shape[1], a.shape[2]
        for m in range(B * N):
            _cuba_one(a, cu, cv, bias, vth64, u0, v0, s_out, u_rec, v_rec, u_fin, v_fin, record, m // N, m % N)
