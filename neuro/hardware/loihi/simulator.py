"""The Loihi fixed-point simulator: runs a :class:`~neuro.hardware.loihi.network.LoihiNetwork` exactly as
Lava's bit-accurate models would (the arithmetic is described in :mod:`neuro.hardware.loihi.network`).

The simulator runs layer by layer over the whole sequence, with every sample of the batch and every
neuron in parallel: synaptic input is an event-driven integer scatter (numba) on CPU or one exact
float64 matmul per delay value on other devices (GPU); the neuron recurrence is a fused numba loop
on CPU and vectorized int64 torch ops elsewhere.  A recurrent layer's feed-forward input is computed
the same way for the whole sequence first; its neurons and its recurrent scatter are then stepped
together in one fused numba loop per sample (or one matmul per step and delay value in torch).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from neuro.errors import ConfigError, DTypeError, ShapeError
from neuro.hardware.loihi.network import DECAY_UNITY, UV_MAX, LoihiLayer, LoihiNetwork
from neuro.kernels import loihi_cpu

_NUMBA = loihi_cpu.available()[0]


@dataclass
class LoihiResult:
    """Output of :func:`simulate`: per layer, spikes ``[T, B, N]`` (uint8) and, when recorded, the
    current ``u`` and voltage ``v`` after each step (int64, as Lava's monitors read them: post-reset)."""

    spikes: list[torch.Tensor]
    u: list[torch.Tensor] | None = None
    v: list[torch.Tensor] | None = None
    final_u: list[torch.Tensor] = field(default_factory=list)
    final_v: list[torch.Tensor] = field(default_factory=list)


def _wrap32(x: torch.Tensor) -> torch.Tensor:
    return ((x + (1 << 31)) & ((1 << 32) - 1)) - (1 << 31)


def _csr(w: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group the non-zero synapses of ``w [out, in]`` by (input, delay slot): CSR arrays for the scatter."""
    dvals = np.unique(d)
    slot = np.searchsorted(dvals, d)  # [out, in]
    o_idx, i_idx = np.nonzero(w)
    key = i_idx * len(dvals) + slot[o_idx, i_idx]
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=w.shape[1] * len(dvals))
    ptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, o_idx[order].astype(np.int64), w[o_idx, i_idx][order].astype(np.int64), dvals.astype(np.int64)


def _prepared(layer: LoihiLayer, w: np.ndarray, d: np.ndarray, weight_exp: int | None = None,
              slot: str = "_csr_cache") -> tuple[np.ndarray, ...]:
    """CSR arrays for the CPU scatter, cached on the layer (attribute ``slot``) until its weights,
    delays or exponent change."""
    e = layer.weight_exp if weight_exp is None else weight_exp
    key = hashlib.blake2b(w.tobytes() + d.tobytes() + bytes([e >= 0]), digest_size=16).digest()
    hit = layer.__dict__.get(slot)
    if hit is not None and hit[0] == key:
        return hit[1]
    if e >= 0:
        ptr, idx, wv, _ = _csr(w, np.zeros_like(d))
        extra = d[idx, np.repeat(np.arange(w.shape[1]), np.diff(ptr))].astype(np.int64)  # delay per synapse
    else:
        ptr, idx, wv, extra = _csr(w, d)  # distinct delay values
    layer.__dict__[slot] = (key, (ptr, idx, wv, extra))
    return ptr, idx, wv, extra


def synaptic_input(layer: LoihiLayer, s: torch.Tensor, engine: str = "auto") -> torch.Tensor:
    """What the layer's Dense/DelayDense delivers to its neurons at each step: ``[T, B, out]`` int64,
    for presynaptic spikes/payloads ``s [T, B, in]``.  Lava's int32 channel wraps these sums; the
    neuron update applies that wrap (``(a << 6)`` modulo ``2^32``), so it is not repeated here."""
    T, B, _ = s.shape
    w = layer.effective_weight()
    d = np.zeros(w.shape, np.int64) if layer.delays is None else layer.delays.astype(np.int64)
    binary = layer.num_message_bits == 0
    e = layer.weight_exp
    use_numba = _NUMBA and s.device.type == "cpu" and engine in ("auto", "numba")
    if use_numba:
        a = np.zeros((T, B, layer.n_out), np.int64)
        sn = np.ascontiguousarray(s.cpu().numpy().astype(np.int64))
        ptr, idx, wv, dx = _prepared(layer, w, d)
        par = B > 1
        if e >= 0:  # the shift distributes over the sum: one pass over the events
            (loihi_cpu.direct_par if par else loihi_cpu.direct_ser)(sn, ptr, idx, wv << e, dx, binary, a)
        else:  # floor shift per delay slot, as Lava does
            (loihi_cpu.slots_par if par else loihi_cpu.slots_ser)(sn, ptr, idx, wv, dx, e, binary, a)
        return torch.from_numpy(a)
    x = (s != 0).to(torch.float64) if binary else s.to(torch.float64)
    wt = torch.as_tensor(w, dtype=torch.float64, device=s.device)
    dt = torch.as_tensor(d, device=s.device)
    a = torch.zeros((T, B, layer.n_out), dtype=torch.int64, device=s.device)
    for dval in np.unique(d).tolist():
        n_t = T - 1 - dval
        if n_t <= 0:
            continue
        y = torch.round(x[:n_t] @ (wt * (dt == dval)).t()).to(torch.int64)  # exact below 2^53
        a[1 + dval:] += (y << e) if e > 0 else (y >> -e)
    return a


def cuba_run(
    layer: LoihiLayer,
    a: torch.Tensor,
    record: bool = False,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
    engine: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Run the bit-accurate LIF over ``a [T, B, N]`` (synaptic input per step, int64).

    Returns spikes ``[T, B, N]`` (uint8), recorded ``u`` and ``v`` (or ``None``), final ``u`` and ``v``.
    """
    T, B, N = a.shape
    dev = a.device
    cu, cv = DECAY_UNITY - (layer.du + 1), DECAY_UNITY - layer.dv
    bias = torch.as_tensor(layer.bias(), dtype=torch.int64, device=dev)
    vth64 = layer.vth << 6
    u0 = torch.zeros((B, N), dtype=torch.int64, device=dev) if state is None else state[0].to(dev, torch.int64)
    v0 = torch.zeros((B, N), dtype=torch.int64, device=dev) if state is None else state[1].to(dev, torch.int64)
    if _NUMBA and dev.type == "cpu" and engine in ("auto", "numba"):
        s = np.zeros((T, B, N), np.uint8)
        ur = np.zeros((T, B, N) if record else (1, 1, 1), np.int64)
        vr = np.zeros_like(ur)
        uf, vf = np.zeros((B, N), np.int64), np.zeros((B, N), np.int64)
        kernel = loihi_cpu.cuba_par if T * B * N > 1 << 17 else loihi_cpu.cuba_ser
        kernel(np.ascontiguousarray(a.numpy()), cu, cv, bias.numpy(), vth64, u0.contiguous().numpy(),
                  v0.contiguous().numpy(), s, ur, vr, uf, vf, record)
        t = torch.from_numpy
        return t(s), (t(ur) if record else None), (t(vr) if record else None), t(uf), t(vf)
    # vectorized torch path (any device): the same integer operations, one step at a time
    au = _wrap32((a & ((1 << 32) - 1)) << 6)
    big = bool((au.abs() > UV_MAX).any())  # only then can an int32 sum overflow
    u, v = u0, v0
    s_all = torch.empty((T, B, N), dtype=torch.uint8, device=dev)
    ur = torch.empty((T, B, N), dtype=torch.int64, device=dev) if record else None
    vr = torch.empty((T, B, N), dtype=torch.int64, device=dev) if record else None
    lo, hi = -(UV_MAX - 1), UV_MAX - 1
    for t in range(T):
        u = torch.div(u * cu, DECAY_UNITY, rounding_mode="trunc") + au[t]
        if big:
            u = _wrap32(u)
        u = torch.where(u > UV_MAX, u - 2 * UV_MAX, torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u))
        v = torch.div(v * cv, DECAY_UNITY, rounding_mode="trunc") + u + bias
        if big:
            v = _wrap32(v)
        v = v.clamp_(lo, hi)
        spk = v > vth64
        v = v.masked_fill_(spk, 0)
        s_all[t] = spk
        if record:
            ur[t] = u
            vr[t] = v
    return s_all, ur, vr, u, v


def recurrent_run(
    layer: LoihiLayer,
    a: torch.Tensor,
    record: bool = False,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
    engine: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Run a recurrent population over ``a [T, B, N]`` (its feed-forward synaptic input, int64).

    Each step the LIF update of :func:`cuba_run` takes ``a[t]`` plus what the recurrent Dense
    delivers: the population's spikes of step ``t - 1 - d`` through ``rec_weights`` (delay ``d``),
    shifted by ``rec_weight_exp`` per step and delay slot.  Returns what :func:`cuba_run` returns.
    """
    if not layer.recurrent:
        return cuba_run(layer, a, record, state, engine)
    T, B, N = a.shape
    dev = a.device
    cu, cv = DECAY_UNITY - (layer.du + 1), DECAY_UNITY - layer.dv
    bias = torch.as_tensor(layer.bias(), dtype=torch.int64, device=dev)
    vth64 = layer.vth << 6
    u0 = torch.zeros((B, N), dtype=torch.int64, device=dev) if state is None else state[0].to(dev, torch.int64)
    v0 = torch.zeros((B, N), dtype=torch.int64, device=dev) if state is None else state[1].to(dev, torch.int64)
    w = layer.effective_rec_weight()
    d = np.zeros(w.shape, np.int64) if layer.rec_delays is None else layer.rec_delays.astype(np.int64)
    e = layer.rec_weight_exp
    if _NUMBA and dev.type == "cpu" and engine in ("auto", "numba"):
        ptr, idx, wv, extra = _prepared(layer, w, d, e, slot="_rec_csr_cache")
        s = np.zeros((T, B, N), np.uint8)
        ur = np.zeros((T, B, N) if record else (1, 1, 1), np.int64)
        vr = np.zeros_like(ur)
        uf, vf = np.zeros((B, N), np.int64), np.zeros((B, N), np.int64)
        kernel = loihi_cpu.rec_par if B > 1 else loihi_cpu.rec_ser
        kernel(np.ascontiguousarray(a.numpy()), ptr, idx, (wv << e) if e >= 0 else wv, extra, e, e >= 0, cu, cv,
               bias.numpy(), vth64, u0.contiguous().numpy(), v0.contiguous().numpy(), s, ur, vr, uf, vf, record)
        t = torch.from_numpy
        return t(s), (t(ur) if record else None), (t(vr) if record else None), t(uf), t(vf)
    # torch path (any device): one exact float64 matmul per step and delay value
    wt = torch.as_tensor(w, dtype=torch.float64, device=dev)
    dt = torch.as_tensor(d, device=dev)
    slots = [(dval, (wt * (dt == dval)).t().contiguous()) for dval in np.unique(d).tolist()]
    r = torch.zeros((T, B, N), dtype=torch.int64, device=dev)
    u, v = u0, v0
    s_all = torch.empty((T, B, N), dtype=torch.uint8, device=dev)
    ur = torch.empty((T, B, N), dtype=torch.int64, device=dev) if record else None
    vr = torch.empty((T, B, N), dtype=torch.int64, device=dev) if record else None
    for t in range(T):
        u, v, spk = lif_update(u, v, a[t] + r[t], layer.du, layer.dv, bias, layer.vth)
        s_all[t] = spk
        if record:
            ur[t] = u
            vr[t] = v
        x = spk.to(torch.float64)
        for dval, wd in slots:
            if t + 1 + dval < T:
                y = torch.round(x @ wd).to(torch.int64)  # exact below 2^53
                r[t + 1 + dval] += (y << e) if e > 0 else (y >> -e)
    return s_all, ur, vr, u, v


def _as_input(x: torch.Tensor | np.ndarray, n_in: int) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() != 3 or x.shape[-1] != n_in:
        raise ShapeError(f"input must be [T, B, {n_in}] (time-major spikes or integer payloads), got {tuple(x.shape)}")
    if x.dtype == torch.bool:
        return x.to(torch.int64)
    if x.is_floating_point():
        if not torch.isfinite(x).all() or not torch.equal(x, torch.trunc(x)):
            raise DTypeError("Loihi input must be spikes (0/1) or integer graded payloads; got non-integer values")
    return x.to(torch.int64)


def simulate(
    net: LoihiNetwork,
    x: torch.Tensor | np.ndarray,
    record: bool = False,
    device: str | torch.device | None = None,
    engine: str = "auto",
) -> LoihiResult:
    """Run ``net`` on input spikes ``x [T, B, n_in]`` exactly as Lava's bit-accurate models would.

    Args:
        net: the quantized network (validated first).
        x: binary spikes, or integer payloads when ``layers[0].num_message_bits > 0``.
        record: also return ``u`` and ``v`` of every layer at every step (memory ``2 * 8 * T*B*N`` bytes).
        device: where to compute (default: ``x``'s device); CUDA works through the torch path.
        engine: ``"auto"`` (numba on CPU), ``"numba"`` or ``"torch"`` (vectorized torch ops anywhere).
    """
    if engine not in ("auto", "numba", "torch"):
        raise ConfigError(f"engine must be 'auto', 'numba' or 'torch', got {engine!r}")
    net.validate()
    s = _as_input(x, net.n_in)
    if device is not None:
        s = s.to(device)
    out = LoihiResult(spikes=[], u=[] if record else None, v=[] if record else None)
    for layer in net.layers:
        a = synaptic_input(layer, s, engine)
        run = recurrent_run if layer.recurrent else cuba_run
        s, ur, vr, uf, vf = run(layer, a, record, engine=engine)
        out.spikes.append(s)
        out.final_u.append(uf)
        out.final_v.append(vf)
        if record:
            out.u.append(ur)  # type: ignore[union-attr]
            out.v.append(vr)  # type: ignore[union-attr]
    return out


def lif_update(
    u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor, du: int, dv: int, bias: torch.Tensor | int, vth: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Lava's bit-accurate LIF on int64 tensors: returns ``(u, v, spikes)``.

    ``bias`` is the already-shifted ``bias_mant << bias_exp``.  (:func:`simulate` runs whole
    sequences; this single step is the readable definition.)
    """
    u = _wrap32(torch.div(u * (DECAY_UNITY - (du + 1)), DECAY_UNITY, rounding_mode="trunc")
                + _wrap32((a_in & ((1 << 32) - 1)) << 6))
    u = torch.where(u > UV_MAX, u - 2 * UV_MAX, torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u))
    v = _wrap32(torch.div(v * (DECAY_UNITY - dv), DECAY_UNITY, rounding_mode="trunc") + u + bias)
    v = v.clamp(-(UV_MAX - 1), UV_MAX - 1)
    s = v > (vth << 6)
    return u, v.masked_fill(s, 0), s


def run_loihi(net: LoihiNetwork, spikes, device=None, record_state: bool = True) -> dict[str, list[torch.Tensor]]:
    """:func:`simulate` returning ``{"s": [...], "u": [...], "v": [...]}`` (per layer ``[T, B, N]``)."""
    r = simulate(net, spikes, record=record_state, device=device)
    return {"s": [s.to(torch.int64) for s in r.spikes], "u": r.u or [], "v": r.v or []}
