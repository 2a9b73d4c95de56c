"""The ``loihi`` backend: networks of CUBA LIF neurons and (delayed) dense synapses in Loihi's
integer arithmetic, batched over samples, reproducing Lava's bit-accurate CPU models.

Per neuron and step (Lava ``PyLifModelBitAcc``; all state int, in units of weight x 64):

    u = trunc0(u * (4096 - (du + 1)) / 4096) + (a_in << 6);  wrap u once into (-2^23, 2^23]
    v = trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp);  saturate v to +-(2^23 - 1)
    s = v > (vth << 6);  v[s] = 0          (u is not reset)

``trunc0`` rounds toward zero.  Synapses (Lava ``PyDenseModelBitAcc`` / ``PyDelayDenseModelBitAcc``):
weights are clipped and truncated by sign mode (MIXED weights lose their lowest bit), the sum of
the weights of the spiking inputs is shifted by ``weight_exp`` (floor), and it reaches the neuron
one step later (``t + 1``), or ``t + 1 + d`` through a delay ``d`` (0..62).  Inputs enter the first
synapse directly at their step, as a Lava ``RingBuffer`` source does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from neuro.errors import HardwareLimitError, ShapeError

MIXED, EXCITATORY, INHIBITORY = 1, 2, 3
MAX_DELAY = 62
_UV_MAX = 2**23


def sign_mode_of(w: np.ndarray) -> int:
    """Lava's ``determine_sign_mode``."""
    if w.min() >= 0:
        return EXCITATORY
    if w.max() <= 0:
        return INHIBITORY
    return MIXED


def effective_weights(w: np.ndarray, sign_mode: int | None = None, num_weight_bits: int = 8) -> np.ndarray:
    """The integer weights Lava's bit-accurate Dense uses: truncated toward zero to int, then clipped
    and truncated by sign mode (``clip_weights`` + ``truncate_weights``)."""
    w = np.trunc(np.asarray(w, dtype=np.float64)).astype(np.int64)
    mode = sign_mode if sign_mode is not None else sign_mode_of(w)
    if mode == INHIBITORY:
        w = -w
    lo = -256 if mode == MIXED else 0
    w = np.clip(w, lo, 255)
    k = 8 - num_weight_bits + (1 if mode == MIXED else 0)
    w = (w >> k) << k
    return -w if mode == INHIBITORY else w


@dataclass
class LoihiLayer:
    """A synapse layer into a population of CUBA LIF neurons, in Loihi's integer units.

    ``weights`` [out, in] are integer mantissas (Lava's Dense ``weights``); ``delays`` [out, in]
    integers 0..62 or ``None``; ``du``/``dv`` 0..4095 (``du=-1``: no current decay); ``vth`` the
    threshold mantissa (compared with ``v`` as ``vth << 6``); ``bias_mant`` per neuron.
    """

    weights: np.ndarray
    du: int = 4095
    dv: int = 0
    vth: int = 10
    bias_mant: np.ndarray | int = 0
    bias_exp: int = 0
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: int | None = None
    delays: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights)
        if self.weights.ndim != 2:
            raise ShapeError(f"LoihiLayer weights must be [out, in], got shape {self.weights.shape}")
        if self.delays is not None:
            self.delays = np.asarray(self.delays, dtype=np.int64)
            if self.delays.shape != self.weights.shape:
                raise ShapeError(f"delays {self.delays.shape} must match weights {self.weights.shape}")
            if self.delays.min() < 0 or self.delays.max() > MAX_DELAY:
                raise HardwareLimitError(f"synaptic delays must be in [0, {MAX_DELAY}] steps, got "
                                         f"[{self.delays.min()}, {self.delays.max()}]")
        if not (-1 <= self.du <= 4095 and 0 <= self.dv <= 4096):
            raise HardwareLimitError(f"du must be in [-1, 4095] and dv in [0, 4096], got du={self.du}, dv={self.dv}")
        if not 0 <= self.vth <= 131071:
            raise HardwareLimitError(f"threshold mantissa vth must be in [0, 131071], got {self.vth}")
        bm = np.asarray(self.bias_mant)
        if bm.min() < -4096 or bm.max() > 4095 or not 0 <= self.bias_exp <= 7:
            raise HardwareLimitError("bias_mant must be in [-4096, 4095] and bias_exp in [0, 7]")

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])


@dataclass
class LoihiNetwork:
    """A feed-forward chain of :class:`LoihiLayer` s; the input has ``layers[0].weights.shape[1]`` channels."""

    layers: list[LoihiLayer] = field(default_factory=list)

    @property
    def n_in(self) -> int:
        return int(self.layers[0].weights.shape[1])


def lif_update(u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor, du: int, dv: int, bias: torch.Tensor | int,
               vth: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Lava's bit-accurate LIF: returns (u, v, spikes).  ``bias`` is ``bias_mant << bias_exp``."""
    p = u * (4096 - (du + 1))
    u = torch.sign(p) * (p.abs() >> 12) + (a_in << 6)
    u = torch.where(u > _UV_MAX, u - 2 * _UV_MAX, torch.where(u <= -_UV_MAX, u + 2 * _UV_MAX, u))
    q = v * (4096 - dv)
    v = torch.sign(q) * (q.abs() >> 12) + u + bias
    v = v.clamp(-(_UV_MAX - 1), _UV_MAX - 1)
    s = v > (vth << 6)
    return u, torch.where(s, torch.zeros_like(v), v), s


def run_loihi(net: LoihiNetwork, spikes: torch.Tensor | np.ndarray, device: str | torch.device = "cpu",
              record_state: bool = True) -> dict[str, list[torch.Tensor]]:
    """Simulate ``net`` on input spikes ``[T, B, n_in]`` (0/1, or integer payloads for graded spikes).

    Returns ``{"s": [...], "u": [...], "v": [...]}``: per layer ``[T, B, out]`` int tensors of spikes and
    the current and voltage after each step (what Lava's monitors read).
    """
    x = torch.as_tensor(np.asarray(spikes) if not isinstance(spikes, torch.Tensor) else spikes).to(device)
    if x.dim() != 3 or x.shape[2] != net.n_in:
        raise ShapeError(f"input spikes must be [T, B, {net.n_in}], got shape {tuple(x.shape)}")
    x = x.to(torch.int64)
    T, B, _ = x.shape
    dev = x.device
    W, bufs, state = [], [], []
    for layer in net.layers:
        w = effective_weights(layer.weights, layer.sign_mode, layer.num_weight_bits)
        depth = int(layer.delays.max()) + 1 if layer.delays is not None else 1
        # one matmul per step: column (o, d) of the stacked matrix holds the weights with delay d.
        # float64 is exact here: integer weights <= 256 summed over < 2^40 inputs.
        stack = np.zeros((w.shape[1], w.shape[0], depth))
        dd = layer.delays if layer.delays is not None else np.zeros_like(w)
        stack[np.arange(w.shape[1])[None, :], np.arange(w.shape[0])[:, None], dd] = w
        W.append((torch.as_tensor(stack.reshape(w.shape[1], -1), device=dev), depth))
        bufs.append(torch.zeros(B, layer.n_out, depth + 1, dtype=torch.int64, device=dev))
        bias = torch.as_tensor(np.broadcast_to(np.asarray(layer.bias_mant, np.int64), (layer.n_out,)).copy(),
                               device=dev) << layer.bias_exp
        state.append((torch.zeros(B, layer.n_out, dtype=torch.int64, device=dev),
                      torch.zeros(B, layer.n_out, dtype=torch.int64, device=dev), bias))
    out: dict[str, list[list[torch.Tensor]]] = {"s": [[] for _ in net.layers], "u": [[] for _ in net.layers],
                                                "v": [[] for _ in net.layers]}

    def deliver(k: int, s_in: torch.Tensor) -> None:
        """Synapse k receives ``s_in`` [B, in] this step: it arrives 1 (+ delay) steps later."""
        stack, depth = W[k]
        exp = net.layers[k].weight_exp
        if B == 1:  # a single sample: add up the rows of the active inputs only
            idx = s_in[0].nonzero().squeeze(1)
            acc = (stack[idx] * s_in[0, idx, None].to(torch.float64)).sum(0, keepdim=True)
        else:
            acc = s_in.to(torch.float64) @ stack
        acc = torch.round(acc).to(torch.int64).reshape(B, -1, depth)
        bufs[k][:, :, 1:] += acc << exp if exp >= 0 else acc >> -exp

    for t in range(T):
        # every synapse sends what it accumulated last step: shift the buffers by one step
        for k in range(len(net.layers)):
            bufs[k] = torch.roll(bufs[k], -1, dims=2)
            bufs[k][:, :, -1] = 0
        s_prev = x[t]
        deliver(0, s_prev)
        for k, layer in enumerate(net.layers):
            u, v, bias = state[k]
            u, v, s = lif_update(u, v, bufs[k][:, :, 0], layer.du, layer.dv, bias, layer.vth)
            state[k] = (u, v, bias)
            out["s"][k].append(s.to(torch.int64))
            if record_state:
                out["u"][k].append(u)
                out["v"][k].append(v)
            if k + 1 < len(net.layers):
                deliver(k + 1, s.to(torch.int64))
    return {key: [torch.stack(seq) for seq in vals] if vals[0] else [] for key, vals in out.items()}
