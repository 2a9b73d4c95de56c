"""The Xylo simulator: runs a :class:`~neuro.hardware.xylo.network.XyloNetwork` exactly as the vendor's
``xylosim`` does (the arithmetic is in :mod:`neuro.hardware.xylo.network`), every sample and neuron at once.

Per step, the weighted spikes are summed with two exact float64 matmuls (positive and negative
weights apart).  ``xylosim`` adds them one at a time, saturating each addition at the 16-bit range,
so the order matters only where a partial sum can leave that range: wherever the current plus all
positive (or all negative) contributions could, the step is redone in xylosim's order (inputs
first, then presynaptic neurons by index) for those entries only.  Everything else is vectorized
int64 torch arithmetic, on any device.  :func:`run_xylosim` runs the same network in ``xylosim``
itself (the reference; an optional test dependency).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuro.errors import ConfigError, DataError, DTypeError, ShapeError
from neuro.hardware.xylo.network import (
    MAX_INPUT_SPIKES,
    MAX_OUT_SPIKES,
    MAX_SPIKES,
    STATE_MAX,
    STATE_MIN,
    XyloNetwork,
)


@dataclass
class XyloResult:
    """Output of :func:`simulate` (``[T, B, ...]`` int64): hidden spike counts, output spikes, and when
    recorded the states after each step: ``v``, ``isyn`` ``[T, B, N, S]``, ``v_out``, ``isyn_out``."""

    spikes: torch.Tensor
    out_spikes: torch.Tensor
    v: torch.Tensor | None = None
    isyn: torch.Tensor | None = None
    v_out: torch.Tensor | None = None
    isyn_out: torch.Tensor | None = None


def _wrap16(x: torch.Tensor) -> torch.Tensor:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def _decay(x: torch.Tensor, dash: torch.Tensor) -> torch.Tensor:
    """xylosim's bit-shift decay step: ``x >> dash``, at least ``sign(x)`` in magnitude."""
    d = x >> dash
    return torch.where((d == 0) & (x != 0), torch.sign(x), d)


def _check_input(x: torch.Tensor | np.ndarray, n_in: int) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dim() != 3 or t.shape[2] != n_in:
        raise ShapeError(f"inputs must be [T, B, {n_in}] spike counts, got shape {tuple(t.shape)}")
    if t.is_floating_point() and not (torch.isfinite(t).all() and torch.equal(t, t.trunc())):
        raise DTypeError("inputs must be whole-number spike counts; got fractional, NaN or inf values")
    t = t.to(torch.int64)
    if t.numel() and (int(t.min()) < 0 or int(t.max()) > 255):
        raise DataError(f"inputs must be spike counts in [0, 255] (Xylo reads 8-bit counts and uses at most "
                        f"{MAX_INPUT_SPIKES} per step), found [{int(t.min())}, {int(t.max())}]")
    return t


class _Deliver:
    """Weighted spike delivery into one population's currents, saturating in xylosim's order."""

    def __init__(self, mats: list[tuple[np.ndarray, int]], device: torch.device) -> None:
        # each matrix [pre, post * S]; shifts <= 7 keep every weight << shift inside 16 bits (no wrap)
        ms = [torch.as_tensor(np.asarray(w, np.int64)).reshape(w.shape[0], -1).to(device) for w, _ in mats]
        self.shift = [s for _, s in mats]
        # effective weights (weight << shift), all sources side by side: [post * S, pre_total] in xylosim's order
        self.wt = torch.cat([(m << s).T for m, s in zip(ms, self.shift, strict=True)], 1).to(torch.int32).contiguous()
        # mantissas (|m| <= 128) times counts (<= 31) summed over <= 2^10 sources stay below 2^24: float32 is exact
        self.pn = [torch.cat([m.clamp(min=0), m.clamp(max=0)], 1).float() for m in ms]

    def __call__(self, cur: torch.Tensor, counts: list[torch.Tensor]) -> torch.Tensor:
        """``cur [B, M]`` (M = post * S) plus the spikes ``counts[k] [B, pre_k]`` through matrix ``k``."""
        M = cur.shape[1]
        p = q = 0
        for c, pn, s in zip(counts, self.pn, self.shift, strict=True):
            r = (c.float() @ pn).to(torch.int64) << s
            p, q = p + r[:, :M], q + r[:, M:]
        out = cur + p + q
        slow = (cur + p > STATE_MAX) | (cur + q < STATE_MIN)
        if bool(slow.any()):
            b, j = slow.nonzero(as_tuple=True)
            cnt = torch.cat(counts, 1).to(torch.int32)  # [B, pre_total]
            for k in range(0, len(b), _CHUNK):
                bk, jk = b[k:k + _CHUNK], j[k:k + _CHUNK]
                # one saturating addition per presynaptic source (n spikes of one weight: one sign), in order
                out[bk, jk] = _saturating_sum(cur[bk, jk], cnt[bk] * self.wt[jk])
        return out


_CHUNK = 8192  # entries per block of the ordered (saturating) path


def _saturating_sum(x0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``x0 [K]`` plus ``c [K, P]`` one column at a time, clamping to the 16-bit range after each, by a tree
    reduction: ``x -> clamp(x + a, lo, hi)`` maps compose into maps of the same form, so log2(P) vector
    steps replace P sequential ones.  int32 holds every partial sum (at most 31 * 2^14 * 2^10 < 2^31)."""
    K, P = c.shape
    width = 1 << max(1, (P - 1).bit_length())
    a = torch.zeros((width, K), dtype=torch.int32, device=c.device)  # sources along rows: contiguous halves
    a[:P] = c.T
    a = a.view(width // 2, 2, K)
    # first level by hand: every single map has the full range as its bounds
    a1, a2 = a[:, 0], a[:, 1]
    lo = (a2 + STATE_MIN).clamp_(STATE_MIN, STATE_MAX)
    hi = (a2 + STATE_MAX).clamp_(STATE_MIN, STATE_MAX)
    a = a1 + a2
    while a.shape[0] > 1:  # (a1, lo1, hi1) then (a2, lo2, hi2) = (a1 + a2, clamp(lo1 + a2), clamp(hi1 + a2))
        n = a.shape[0] // 2
        a, lo, hi = a.view(n, 2, K), lo.view(n, 2, K), hi.view(n, 2, K)
        a2, l2, h2 = a[:, 1], lo[:, 1], hi[:, 1]
        lo = torch.minimum(torch.maximum(lo[:, 0] + a2, l2), h2)
        hi = torch.minimum(torch.maximum(hi[:, 0] + a2, l2), h2)
        a = a[:, 0] + a2
    return torch.minimum(torch.maximum(x0 + a[0], lo[0]), hi[0]).to(torch.int64)


def _evolve(isyn: torch.Tensor, v: torch.Tensor, dash_syn: torch.Tensor, dash_mem: torch.Tensor,
            bias: torch.Tensor, vth: torch.Tensor, max_spikes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decay, integrate and fire one population; ``isyn [B, N, S]``, ``v [B, N]``."""
    isyn = isyn - _decay(isyn, dash_syn)
    # -decay(v) is stored in 16 bits: for v = -32768 and dash 0 it wraps back to -32768
    dv = (_wrap16(-_decay(v, dash_mem)) + isyn.sum(-1)).clamp(STATE_MIN, STATE_MAX)
    dv = (dv + bias).clamp(STATE_MIN, STATE_MAX)
    v = (v + dv).clamp(STATE_MIN, STATE_MAX)
    n = torch.div(v, vth, rounding_mode="floor").clamp(0, max_spikes)
    return isyn, v - n * vth, n


def simulate(net: XyloNetwork, x: torch.Tensor | np.ndarray, *, record: bool = False,
             device: str | torch.device | None = None) -> XyloResult:
    """Run ``net`` on spike counts ``x [T, B, n_in]`` (at most 15 per channel and step are used), from
    rest.  Returns :class:`XyloResult`; ``record=True`` adds the states after every step."""
    net.validate(spec=None)
    xs = _check_input(x, net.n_in)
    dev = torch.device(device) if device is not None else xs.device
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but no CUDA GPU is available")
    xs = xs.to(dev).clamp(max=MAX_INPUT_SPIKES)
    T, B, _ = xs.shape
    N, S, O = net.n_hidden, net.n_syn, net.n_out

    def t64(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, np.int64), device=dev)

    hid = _Deliver([(net.w_in, net.weight_shift_in), (net.w_rec, net.weight_shift_rec)], dev)
    out = _Deliver([(net.w_out, net.weight_shift_out)], dev)
    dsyn, dmem, bias, vth = t64(net.dash_syn), t64(net.dash_mem), t64(net.bias), t64(net.threshold)
    dsyn_o, dmem_o, bias_o, vth_o = (t64(net.dash_syn_out)[:, None], t64(net.dash_mem_out), t64(net.bias_out),
                                     t64(net.threshold_out))
    isyn = torch.zeros((B, N, S), dtype=torch.int64, device=dev)
    v = torch.zeros((B, N), dtype=torch.int64, device=dev)
    isyn_o = torch.zeros((B, O, 1), dtype=torch.int64, device=dev)
    v_o = torch.zeros((B, O), dtype=torch.int64, device=dev)
    spk = torch.zeros((B, N), dtype=torch.int64, device=dev)
    rec: dict[str, list[torch.Tensor]] = {k: [] for k in ("s", "so", "v", "i", "vo", "io")}
    for t in range(T):
        isyn = hid(isyn.reshape(B, N * S), [xs[t], spk]).reshape(B, N, S)
        isyn_o = out(isyn_o.reshape(B, O), [spk]).reshape(B, O, 1)
        isyn, v, spk = _evolve(isyn, v, dsyn, dmem, bias, vth, MAX_SPIKES)
        isyn_o, v_o, so = _evolve(isyn_o, v_o, dsyn_o, dmem_o, bias_o, vth_o, MAX_OUT_SPIKES)
        rec["s"].append(spk)
        rec["so"].append(so)
        if record:
            rec["v"].append(v)
            rec["i"].append(isyn)
            rec["vo"].append(v_o)
            rec["io"].append(isyn_o[..., 0])

    def stack(k: str, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.stack(rec[k]) if rec[k] else torch.zeros((0, *shape), dtype=torch.int64, device=dev)

    r = XyloResult(spikes=stack("s", (B, N)), out_spikes=stack("so", (B, O)))
    if record:
        r.v, r.isyn, r.v_out, r.isyn_out = stack("v", (B, N)), stack("i", (B, N, S)), stack("vo", (B, O)), stack(
            "io", (B, O))
    return r


def xylosim_available() -> tuple[bool, str]:
    """Whether the vendor's simulator can be imported here, and why not."""
    try:
        import xylosim.v2  # noqa: F401
    except ImportError as e:
        return False, f"xylosim is not installed ({e}); pip install xylosim"
    return True, ""


def xylosim_layer(net: XyloNetwork):
    """The network as a ``xylosim.v2.XyloLayer`` (raises :class:`ConfigError` when xylosim is missing)."""
    ok, why = xylosim_available()
    if not ok:
        raise ConfigError(why)
    from xylosim.v2 import XyloLayer, XyloSynapse

    net.validate(spec=None)

    def synapses(w: np.ndarray) -> list[list]:  # w [pre, post, S]
        return [[XyloSynapse(int(post), int(s), int(w[pre, post, s])) for post, s in zip(*np.nonzero(w[pre]),
                                                                                          strict=True)]
                for pre in range(w.shape[0])]

    # the layer keeps raw pointers to the synapse objects: they must live as long as the layer
    keep = (synapses(net.w_in), synapses(net.w_rec), synapses(net.w_out[:, :, None]))
    layer = XyloLayer(
        synapses_in=keep[0], synapses_rec=keep[1], synapses_out=keep[2],
        aliases=[[] for _ in range(net.n_hidden)], threshold=net.threshold.tolist(),
        threshold_out=net.threshold_out.tolist(), has_bias=net.has_bias, bias=net.bias.tolist(),
        bias_out=net.bias_out.tolist(), weight_shift_inp=net.weight_shift_in, weight_shift_rec=net.weight_shift_rec,
        weight_shift_out=net.weight_shift_out, dash_mem=net.dash_mem.tolist(), dash_mem_out=net.dash_mem_out.tolist(),
        dash_syns=net.dash_syn.tolist(), dash_syns_out=[[int(d)] for d in net.dash_syn_out], name="neuro")
    return _Held(layer, keep)


class _Held:
    """A ``xylosim`` layer and the Python synapse objects it points to."""

    def __init__(self, layer, keep) -> None:
        self._layer, self._keep = layer, keep

    def __getattr__(self, name: str):
        return getattr(self._layer, name)


def run_xylosim(net: XyloNetwork, x: torch.Tensor | np.ndarray, layer=None) -> XyloResult:
    """Run ``net`` in ``xylosim`` itself, one sample after the other from rest; the same
    :class:`XyloResult` as ``simulate(..., record=True)`` (on the CPU)."""
    xs = _check_input(x, net.n_in).cpu()
    layer = layer if layer is not None else xylosim_layer(net)
    T, B, _ = xs.shape
    N, S, O = net.n_hidden, net.n_syn, net.n_out
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("s", "so", "v", "i", "vo", "io")}
    for b in range(B):
        layer.reset_all()
        so = np.asarray(layer.evolve(xs[:, b].tolist()), np.int64).reshape(T, O)
        cols["so"].append(so)
        cols["s"].append(np.asarray(layer.rec_recurrent_spikes, np.int64).reshape(T, N))
        cols["v"].append(np.asarray(layer.rec_v_mem, np.int64).reshape(N, T).T)
        i1 = np.asarray(layer.rec_i_syn, np.int64).reshape(N, T).T
        cols["i"].append(np.stack([i1, np.asarray(layer.rec_i_syn2, np.int64).reshape(N, T).T], -1) if S == 2
                         else i1[..., None])
        cols["vo"].append(np.asarray(layer.rec_v_mem_out, np.int64).reshape(O, T).T)
        cols["io"].append(np.asarray(layer.rec_i_syn_out, np.int64).reshape(O, T).T)

    def st(k: str) -> torch.Tensor:
        return torch.as_tensor(np.stack(cols[k], 1))

    return XyloResult(spikes=st("s"), out_spikes=st("so"), v=st("v"), isyn=st("i"), v_out=st("vo"), isyn_out=st("io"))
