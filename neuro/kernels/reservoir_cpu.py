"""The fused CPU kernel (numba) of :class:`~neuro.models.lsm.LiquidStateMachine`'s reservoir."""

from __future__ import annotations

import numpy as np

from neuro.kernels.numba_common import available, njit, prange

__all__ = ["available", "reservoir_scan"]

if njit is not None:


    @njit(parallel=True, nogil=True, cache=True)
    def reservoir_scan(drive, ptr, post, w, beta, vth, out):  # type: ignore[no-untyped-def]
        """The LIF reservoir over time, one sample per thread, the recurrence event-driven.

        ``h = beta v + (drive[t] + rec)``, spike when ``h > vth``, hard reset to 0; ``rec`` sums the
        outgoing weights ``w[ptr[j]:ptr[j+1]]`` (to ``post[...]``) of every neuron ``j`` that spiked
        at the previous step, ``j`` ascending: the order of the sparse row product of the step-wise
        reference, so both give the same floats.
        """
        T, B, n = drive.shape
        for b in prange(B):
            v = np.zeros(n, np.float32)
            rec = np.zeros(n, np.float32)
            h = np.empty(n, np.float32)
            fired = np.empty(n, np.int64)
            for t in range(T):
                d = drive[t, b]
                o = out[t, b]
                for k in range(n):  # vectorized
                    h[k] = beta * v[k] + (d[k] + rec[k])
                    rec[k] = 0.0
                m = 0
                for k in range(n):  # branch-free: spikes are too irregular to predict
                    sp = h[k] > vth
                    o[k] = sp
                    v[k] = h[k] * (not sp)
                    fired[m] = k
                    m += sp
                for e in range(m):
                    j = fired[e]
                    for q in range(ptr[j], ptr[j + 1]):
                        rec[post[q]] += w[q]
