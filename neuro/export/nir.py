"""NIR export and import: the continuous-time interchange graph (Pedersen et al. 2024).

Conversion between neuro's per-step parameters and NIR's continuous-time ones uses forward
Euler with an explicit time step ``dt`` (seconds), the discretisation snnTorch, Norse and the
Loihi tools use:

* ``LIF(beta, decay_input)``: ``tau = dt / (1 - beta)``, ``v_leak = 0``, ``r = 1`` when the input is
  scaled by ``1 - beta`` (``decay_input=True``), ``r = tau / dt`` when it is not;
* ``CubaLIF(beta_syn, beta_mem)``: ``tau_syn = dt / (1 - beta_syn)``, ``tau_mem = dt / (1 - beta_mem)``,
  ``w_in = tau_syn / dt``, ``r = tau_mem / dt`` (current and membrane add their input unscaled);
* ``LI`` like ``LIF`` without threshold; ``IF``: ``r = 1 / dt``;
* hard resets map to ``v_reset``; NIR has no subtractive reset, so soft-reset neurons refuse to
  export with a message that says so;
* learned delays (``DelayedLinear``) become ``Linear`` (fan-out to one channel per synapse) ->
  ``Delay`` (per-synapse delay in seconds) -> ``Affine`` (the weights, with a following batch norm
  folded in);  ``SeqBatchNorm`` elsewhere folds into the preceding ``Affine``/``Linear``;
  dropout is dropped (identity at inference).

:func:`from_nir` turns a graph back into a module on ``[T, B, ...]`` sequences: every node
becomes a neuro layer, in topological order; graphs must be chains (branches raise an error
naming the node).  The graph's metadata can record the model's readout horizon
(``input_length``), its readout (``"softmax_sum"`` or ``"sum"``) and, per delayed layer, the zero
steps appended to its input (``right_pad``); :func:`from_nir` pads inputs the same way.

:func:`read_nir` reads a ``.nir`` file and :func:`validate_graph` checks a graph's invariants;
on a malformed or hostile file they raise only :class:`~neuro.errors.DataError` naming it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import nir
import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError, DataError, NeuroError
from neuro.layers import (
    Flatten,
    Recurrent,
    SeqAvgPool2d,
    SeqBatchNorm,
    SeqConv1d,
    SeqConv2d,
    SeqDropout,
    SeqSumPool2d,
)
from neuro.layers.delay import DelayedLinear
from neuro.neurons import IF, LI, LIF, CubaLI, CubaLIF


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32) if isinstance(t, torch.Tensor) else np.asarray(t, np.float32)


def _full(v, n: int) -> np.ndarray:
    a = _np(v)
    return np.broadcast_to(a, (n,)).copy() if a.size in (1, n) else a


def _neuron_node(m: nn.Module, n: int, dt: float, name: str) -> nir.NIRNode:
    if getattr(m, "spiking", True) and getattr(m, "v_reset", 0.0) is None:
        raise ConfigError(f"{name}: {type(m).__name__} with soft (subtractive) reset has no NIR equivalent; "
                          "use v_reset=0.0 to export")
    v_reset = _full(getattr(m, "v_reset", 0.0) or 0.0, n)
    if isinstance(m, IF):
        return nir.IF(r=_full(1.0 / dt, n), v_threshold=_full(m.v_threshold, n), v_reset=v_reset)
    if isinstance(m, CubaLI):
        a_v, a_i = m.decays()
        tau_syn, tau_mem = dt / (1 - _full(a_i, n)), dt / (1 - _full(a_v, n))
        return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=np.zeros(n, np.float32),
                          w_in=tau_syn / dt)
    if isinstance(m, CubaLIF):
        a_v, a_i = m.decays()
        tau_syn, tau_mem = dt / (1 - _full(a_i, n)), dt / (1 - _full(a_v, n))
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=np.zeros(n, np.float32),
                           v_threshold=_full(m.v_threshold, n), v_reset=v_reset, w_in=tau_syn / dt)
    if isinstance(m, LIF):  # LIF, ALIF (adaptation is not representable), LI
        if getattr(m, "adaptive", False):
            raise ConfigError(f"{name}: ALIF (adaptive threshold) has no NIR primitive")
        beta = _full(m.decays()[0], n)
        tau = dt / (1 - beta)
        r = np.ones(n, np.float32) if m.decay_input else tau / dt
        if isinstance(m, LI):
            return nir.LI(tau=tau, r=r, v_leak=np.zeros(n, np.float32))
        return nir.LIF(tau=tau, r=r, v_leak=np.zeros(n, np.float32), v_threshold=_full(m.v_threshold, n),
                       v_reset=v_reset)
    raise ConfigError(f"{name}: no NIR node for {type(m).__name__}")


def _fold_bn(weight: np.ndarray, bias: np.ndarray, bn: SeqBatchNorm) -> tuple[np.ndarray, np.ndarray]:
    b = bn.bn
    scale = _np(b.weight if b.affine else torch.ones_like(b.running_var)) / np.sqrt(_np(b.running_var) + b.eps)
    shift = (_np(b.bias) if b.affine else 0) - _np(b.running_mean) * scale
    w = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    return w, bias * scale + shift


# What each client's NIR importer reads (its own import code decides; checked for snnTorch 1.0).
CLIENT_NODES = {
    "snntorch": {"Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "AvgPool2d", "IF", "LIF", "CubaLIF",
                 "NIRGraph"},
}


def check_client(graph: nir.NIRGraph, client: str) -> None:
    """Raise a clear error naming every node that ``client`` cannot import (e.g. delays for snnTorch)."""
    if client not in CLIENT_NODES:
        raise ConfigError(f"unknown NIR client {client!r}; known: {', '.join(CLIENT_NODES)}")
    bad = [f"{k} ({type(n).__name__})" for k, n in graph.nodes.items() if type(n).__name__ not in CLIENT_NODES[client]]
    if bad:
        raise ConfigError(f"{client} cannot represent these nodes: {', '.join(bad)}; export without target= "
                          "to keep them, or remove them from the model")


def to_nir(model: nn.Module, dt: float | None = None, input_shape: Sequence[int] | None = None,
           target: str | None = None) -> nir.NIRGraph:
    """Export a sequential neuro model (``nn.Sequential`` or a model with ``.net``) to a NIR graph.

    ``dt`` is the simulation step in seconds (required: it fixes every time constant).
    ``input_shape`` is the per-step input shape without batch (inferred from the first layer).
    ``target`` names a client (``"snntorch"``): nodes it cannot import raise an error naming them.

    The graph's metadata records ``dt``, and for a :class:`~neuro.models.delay_snn.DelaySNN` its
    readout horizon ``input_length`` and ``readout="softmax_sum"``; each delayed layer's
    ``right_pad`` (zero steps appended to its input) is in the metadata of its fan-out node.
    :func:`from_nir` honours all of them, so the graph predicts what the model predicts.
    """
    if dt is None:
        raise ConfigError("to_nir needs the time step dt= in seconds (e.g. dt=1e-3) to convert time constants")
    dt = check_dt(dt)
    from neuro.models.delay_snn import DelaySNN

    meta: dict[str, object] = {"producer": "neuro", "dt": dt}
    if isinstance(model, DelaySNN):
        meta["readout"] = "softmax_sum"
        if model.input_length:
            meta["input_length"] = int(model.input_length)
    mods = _modules(model)
    model.eval()
    nodes: dict[str, nir.NIRNode] = {}
    order: list[str] = []
    shape = _check_input_shape(mods, input_shape)
    k = 0

    def add(node: nir.NIRNode, kind: str) -> str:
        nonlocal k
        name = f"{k}_{kind}"
        k += 1
        nodes[name] = node
        order.append(name)
        return name

    i = 0
    while i < len(mods):
        m = mods[i]
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        name = f"layer {i} ({type(m).__name__})"
        fold = isinstance(nxt, SeqBatchNorm)
        if isinstance(m, DelayedLinear):
            w, d = m.synapses()
            o_n, i_n = w.shape
            shape = shape or [i_n]
            fan = np.zeros((o_n * i_n, i_n), np.float32)
            fan[np.arange(o_n * i_n), np.tile(np.arange(i_n), o_n)] = 1.0
            weight = np.zeros((o_n, o_n * i_n), np.float32)
            weight[np.repeat(np.arange(o_n), i_n), np.arange(o_n * i_n)] = _np(w).reshape(-1)
            bias = _np(m.bias) if m.bias is not None else np.zeros(o_n, np.float32)
            if fold:
                weight, bias = _fold_bn(weight, bias, nxt)
            pad = int(getattr(m, "right_pad", 0))
            add(nir.Linear(weight=fan, metadata={"right_pad": pad} if pad else {}), "fanout")
            add(nir.Delay(delay=(_np(d).reshape(-1) * dt).astype(np.float32)), "delay")
            add(nir.Affine(weight=weight, bias=bias), "affine")
            shape = [o_n]
            i += 2 if fold else 1
            continue
        if isinstance(m, nn.Linear):
            shape = shape or [m.in_features]
            weight = _np(m.weight)
            bias = _np(m.bias) if m.bias is not None else None
            if fold:
                weight, bias = _fold_bn(weight, bias if bias is not None else np.zeros(m.out_features, np.float32),
                                        nxt)
            add(nir.Affine(weight=weight, bias=bias) if bias is not None else nir.Linear(weight=weight),
                "affine" if bias is not None else "linear")
            shape = [m.out_features]
            i += 2 if fold else 1
            continue
        if isinstance(m, SeqConv1d):
            if shape is None:
                raise ConfigError("to_nir needs input_shape=(C, L) for a model starting with a convolution")
            weight = _np(m.weight)
            bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, np.float32)
            if fold:
                weight, bias = _fold_bn(weight, bias, nxt)
            add(nir.Conv1d(input_shape=int(shape[1]), weight=weight, stride=m.stride[0], padding=m.padding[0],
                           dilation=m.dilation[0], groups=m.groups, bias=bias), "conv1d")
            with torch.no_grad():
                shape = list(nn.Conv1d.forward(m, torch.zeros(1, *shape)).shape[1:])
            i += 2 if fold else 1
            continue
        if isinstance(m, SeqConv2d):
            if shape is None:
                raise ConfigError("to_nir needs input_shape=(C, H, W) for a model starting with a convolution")
            weight = _np(m.weight)
            bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, np.float32)
            if fold:
                weight, bias = _fold_bn(weight, bias, nxt)
            add(nir.Conv2d(input_shape=tuple(shape[1:]), weight=weight, stride=m.stride, padding=m.padding,
                           dilation=m.dilation, groups=m.groups, bias=bias), "conv2d")
            with torch.no_grad():
                shape = list(nn.Conv2d.forward(m, torch.zeros(1, *shape)).shape[1:])
            i += 2 if fold else 1
            continue
        if isinstance(m, SeqSumPool2d | SeqAvgPool2d):
            ks, st = m.kernel_size, m.stride or m.kernel_size
            ks = np.array([ks, ks] if isinstance(ks, int) else ks)
            st = np.array([st, st] if isinstance(st, int) else st)
            pad = np.array([0, 0])
            add((nir.SumPool2d if isinstance(m, SeqSumPool2d) else nir.AvgPool2d)(ks, st, pad), "pool")
            shape = [shape[0], (shape[1] - ks[0]) // st[0] + 1, (shape[2] - ks[1]) // st[1] + 1]
            i += 1
            continue
        if isinstance(m, Flatten):
            add(nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1), "flatten")
            shape = [int(np.prod(shape))]
            i += 1
            continue
        if isinstance(m, Recurrent):
            shape = shape or [m.ff.in_features]
            ff_b = _np(m.ff.bias) if m.ff.bias is not None else None
            add(nir.Affine(weight=_np(m.ff.weight), bias=ff_b) if ff_b is not None else
                nir.Linear(weight=_np(m.ff.weight)), "affine" if ff_b is not None else "linear")
            n = m.hidden
            cell = _neuron_node(m.neuron, n, dt, name)
            sub = nir.NIRGraph(
                nodes={"input": nir.Input({"input": np.array([n])}), "neuron": cell,
                       "w_rec": nir.Linear(weight=_np(m.rec.weight)), "output": nir.Output({"output": np.array([n])})},
                edges=[("input", "neuron"), ("neuron", "w_rec"), ("w_rec", "neuron"), ("neuron", "output")],
            )
            add(sub, "recurrent")
            shape = [n]
            i += 1
            continue
        if isinstance(m, SeqDropout):
            i += 1
            continue
        if isinstance(m, SeqBatchNorm):
            raise ConfigError(f"{name}: batch norm must follow a Linear/Conv/DelayedLinear layer to be folded")
        if isinstance(m, LIF | CubaLIF):  # CubaLI is a CubaLIF
            if shape is None:
                raise ConfigError(f"{name}: give input_shape= when the model starts with a neuron")
            n = int(np.prod(shape))
            node = _neuron_node(m, n, dt, name)
            if len(shape) > 1:
                node = type(node)(**{f: (np.asarray(v).reshape(shape) if isinstance(v, np.ndarray) else v)
                                     for f, v in node.__dict__.items() if f not in ("input_type", "output_type",
                                                                                      "metadata")})
            add(node, type(node).__name__.lower())
            i += 1
            continue
        raise ConfigError(f"{name}: no NIR export for {type(m).__name__}")
    if shape is None:
        raise ConfigError("to_nir: empty model")
    first_in = input_shape or _input_shape_of(nodes[order[0]])
    graph_nodes = {"input": nir.Input(input_type={"input": np.array(first_in)}), **nodes,
                   "output": nir.Output(output_type={"output": np.array(shape)})}
    names = ["input", *order, "output"]
    g = nir.NIRGraph(nodes=graph_nodes, edges=list(zip(names[:-1], names[1:], strict=True)),
                     metadata=meta)
    if target is not None:
        check_client(g, target)
    return g


def _modules(model: nn.Module) -> list[nn.Module]:
    """The layers to export, in order (a reservoir becomes one ``Recurrent`` layer)."""
    from neuro.models.lsm import LiquidStateMachine

    if isinstance(model, LiquidStateMachine):  # a reservoir is one recurrent layer: input projection + loop
        rec = Recurrent(model.n_in, model.n, model.neuron, bias=False)
        with torch.no_grad():
            rec.ff.weight.copy_(model.w_in)
            rec.rec.weight.copy_(model.w_rec)
        return [rec]
    net = getattr(model, "net", model)
    if not isinstance(net, nn.Sequential):
        raise ConfigError(f"to_nir exports nn.Sequential models (or models with a .net Sequential), got "
                          f"{type(model).__name__}")
    return list(net)


def check_input_shape(model: nn.Module, input_shape: Sequence[int] | None,
                      option: str = "input_shape=") -> list[int] | None:
    """``input_shape`` as a list after checking that it fits the model's first layer (whole sizes > 0,
    the layer's rank and width); ``None`` when not given and not needed.  Errors name ``option``."""
    return _check_input_shape(_modules(model), input_shape, option)


def _check_input_shape(mods: list[nn.Module], input_shape: Sequence[int] | None,
                       option: str = "input_shape=") -> list[int] | None:
    first = next((m for m in mods if not isinstance(m, SeqDropout)), None)
    if input_shape is None:
        if isinstance(first, SeqConv1d | SeqConv2d):
            dims = "C L" if isinstance(first, SeqConv1d) else "C H W"
            raise ConfigError(f"the model starts with a convolution: give its per-step input shape ({option} {dims})")
        return None

    def shown(v: object) -> str:
        return f"{option} {' '.join(map(str, v))}" if option.startswith("--") else f"{option}{tuple(v)}"

    try:
        shape = [int(v) for v in input_shape]
    except (TypeError, ValueError):
        raise ConfigError(f"{option} must be a sequence of sizes, got {input_shape!r}") from None
    if not shape or min(shape) <= 0 or shape != list(input_shape):
        raise ConfigError(f"{shown(input_shape)}: sizes must be whole numbers > 0 (the per-step shape without batch)")
    need: tuple[str, int, int] | None = None  # (what, rank, size of dim 0)
    if isinstance(first, DelayedLinear | nn.Linear):
        need = ("F (features)", 1, first.in_features)
    elif isinstance(first, Recurrent):
        need = ("F (features)", 1, first.ff.in_features)
    elif isinstance(first, SeqConv1d):
        need = ("C L (channels, length)", 2, first.in_channels)
    elif isinstance(first, SeqConv2d):
        need = ("C H W (channels, height, width)", 3, first.in_channels)
    if need is not None and (len(shape) != need[1] or shape[0] != need[2]):
        raise ConfigError(f"{shown(shape)} does not fit the model's first layer ({type(first).__name__}): it takes "
                          f"{need[0]} per step with {'F' if need[1] == 1 else 'C'} = {need[2]}")
    return shape


def _input_shape_of(node: nir.NIRNode) -> list[int]:
    if isinstance(node, nir.Linear | nir.Affine):
        return [node.weight.shape[1]]
    raise ConfigError("to_nir: give input_shape= (the per-step input shape without batch)")


# ----------------------------------------------------------------------------- import


class _Delay(nn.Module):
    """Per-channel integer delay in steps: ``y[t, :, c] = x[t - d[c], :, c]`` (zeros before)."""

    def __init__(self, steps: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("steps", torch.as_tensor(steps.astype(np.int64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        t = torch.arange(T).unsqueeze(-1) - self.steps  # [T, C]
        valid = t >= 0
        idx = t.clamp(min=0).unsqueeze(1).expand(T, x.shape[1], -1)
        return torch.gather(x, 0, idx) * valid.unsqueeze(1)


class _RecurrentNIR(nn.Module):
    """A recurrent NIR subgraph: ``s[t] = neuron(gain * (x[t] + W_rec s[t-1]))`` (``x`` already projected)."""

    def __init__(self, neuron_mods: list[nn.Module], rec: nn.Linear) -> None:
        super().__init__()
        self.gain = neuron_mods[0] if len(neuron_mods) == 2 else None
        self.neuron, self.rec = neuron_mods[-1], rec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.new_zeros(x.shape[1:])
        state = None
        out = []
        for t in range(x.shape[0]):
            inp = x[t] + self.rec(s)
            s, state = self.neuron.step(self.gain(inp) if self.gain is not None else inp, state)
            out.append(s)
        return torch.stack(out)


def _recurrent_from(sub: nir.NIRGraph, dt: float, name: str) -> nn.Module:
    neurons = [(k, n) for k, n in sub.nodes.items() if isinstance(n, nir.LIF | nir.CubaLIF | nir.IF | nir.LI)]
    lins = [(k, n) for k, n in sub.nodes.items() if isinstance(n, nir.Linear | nir.Affine)]
    if len(neurons) != 1 or len(lins) != 1:
        raise ConfigError(f"node {name}: recurrent subgraphs must hold one neuron node and one Linear/Affine "
                          f"(found {len(neurons)} and {len(lins)})")
    (nk, nnode), (lk, lnode) = neurons[0], lins[0]
    if (nk, lk) not in sub.edges or (lk, nk) not in sub.edges:
        raise ConfigError(f"node {name}: the subgraph is not a neuron with a recurrent weight loop")
    w = torch.as_tensor(np.asarray(lnode.weight), dtype=torch.float32)
    rec = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(lnode, nir.Affine))
    with torch.no_grad():
        rec.weight.copy_(w)
        if isinstance(lnode, nir.Affine):
            rec.bias.copy_(torch.as_tensor(np.asarray(lnode.bias), dtype=torch.float32))
    return _RecurrentNIR(_neuron_from(nnode, dt, f"{name}.{nk}"), rec)


class _Scale(nn.Module):
    def __init__(self, scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class _Threshold(nn.Module):
    def __init__(self, th: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("th", torch.as_tensor(th, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.th).to(x.dtype)


def _uniform(v: np.ndarray, what: str, name: str) -> float:
    u = np.unique(np.asarray(v))
    if u.size != 1:
        raise ConfigError(f"node {name}: {what} must be the same for all neurons to import (got {u.size} values)")
    return float(u[0])


def _decay_and_gain(tau, r, dt: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    tau, r = np.asarray(tau, np.float64), np.asarray(r, np.float64)
    if np.any(tau < dt):
        raise ConfigError(f"node {name}: tau {tau.min()} s is shorter than dt {dt} s; use a smaller dt")
    return 1 - dt / tau, r * dt / tau


def _neuron_from(node: nir.NIRNode, dt: float, name: str) -> list[nn.Module]:
    if hasattr(node, "v_leak") and not np.allclose(node.v_leak, 0):
        raise ConfigError(f"node {name}: v_leak != 0 is not supported (neuro's neurons relax toward 0)")
    pre: list[nn.Module] = []
    if isinstance(node, nir.I):
        gain = np.asarray(node.r, np.float64) * dt
        m: nn.Module = LI(beta=1.0, decay_input=False)  # a pure integrator: no leak
    elif isinstance(node, nir.IF):
        gain = np.asarray(node.r, np.float64) * dt
        m = IF(v_threshold=_uniform(node.v_threshold, "v_threshold", name),
                          v_reset=_uniform(node.v_reset if node.v_reset is not None else 0.0, "v_reset", name))
    elif isinstance(node, nir.CubaLIF | nir.CubaLI):
        a_i, gi = _decay_and_gain(node.tau_syn, node.w_in, dt, name)
        a_v, gv = _decay_and_gain(node.tau_mem, node.r, dt, name)
        gain = gi * gv
        if isinstance(node, nir.CubaLI):
            m = CubaLI(beta_syn=_uniform(a_i, "tau_syn", name), beta_mem=_uniform(a_v, "tau_mem", name))
            return [*([_Scale(np.asarray(gain, np.float32))] if not np.allclose(gain, 1.0, rtol=1e-6) else []), m]
        m = CubaLIF(beta_syn=_uniform(a_i, "tau_syn", name), beta_mem=_uniform(a_v, "tau_mem", name),
                    v_threshold=_uniform(node.v_threshold, "v_threshold", name),
                    v_reset=_uniform(node.v_reset if node.v_reset is not None else 0.0, "v_reset", name))
    elif isinstance(node, nir.LIF | nir.LI):
        beta, gain = _decay_and_gain(node.tau, node.r, dt, name)
        b = _uniform(beta, "tau", name)
        if isinstance(node, nir.LI):
            m = LI(beta=b, decay_input=False)
        else:
            m = LIF(beta=b, decay_input=False, v_threshold=_uniform(node.v_threshold, "v_threshold", name),
                    v_reset=_uniform(node.v_reset if node.v_reset is not None else 0.0, "v_reset", name))
    else:
        raise ConfigError(f"node {name}: {type(node).__name__} is not a neuron")
    if not np.allclose(gain, 1.0, rtol=1e-6):
        pre.append(_Scale(np.asarray(gain, np.float32)))
    return [*pre, m]


def _chain(graph: nir.NIRGraph) -> list[str]:
    succ: dict[str, list[str]] = {}
    indeg = {n: 0 for n in graph.nodes}
    for a, b in graph.edges:
        if a not in graph.nodes or b not in graph.nodes:
            raise ConfigError(f"edge ({a}, {b}) names a node that is not in the graph")
        succ.setdefault(a, []).append(b)
        indeg[b] += 1
    starts = [n for n, d in indeg.items() if d == 0]
    if len(starts) != 1:
        raise ConfigError(f"from_nir imports chains with one input; found start nodes {starts}")
    order = [starts[0]]
    while succ.get(order[-1]):
        nxt = succ[order[-1]]
        if len(nxt) != 1 or indeg[nxt[0]] != 1:
            raise ConfigError(f"node {order[-1]}: branching or recurrent graphs are not supported by from_nir yet")
        order.append(nxt[0])
    if len(order) != len(graph.nodes):
        raise ConfigError("from_nir: the graph has nodes that are not on the input-output chain")
    return order


# ----------------------------------------------------------------------------- reading and checking graphs

# Beyond these a value is treated as corrupt (padding and delays allocate steps, inputs features).
MAX_STEPS = 1 << 20
MAX_FEATURES = 1 << 24
# How the output sequence [T, B, C] becomes one score per class (the prediction is its argmax).
READOUTS = {
    "sum": "sum over time (spike counts, or the summed membrane of a non-spiking readout)",
    "softmax_sum": "softmax over classes at each step, summed over time (DelaySNN)",
}
_NODE_TYPES = {"NIRGraph", "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Delay", "Flatten",
               "AvgPool2d", "SumPool2d", "Threshold", "LIF", "LI", "IF", "I", "CubaLIF", "CubaLI"}


def check_dt(dt: object, option: str = "dt=") -> float:
    """``dt`` as a float, or a :class:`ConfigError` naming ``option`` unless it is finite and > 0."""
    try:
        value = float(dt)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{option} must be a finite time step in seconds > 0 (e.g. 1e-3), got {dt!r}")
    return value


def read_nir(path: str | os.PathLike[str]) -> nir.NIRGraph:
    """Read a ``.nir`` file and check it with :func:`validate_graph`.

    Anything malformed (not HDF5, truncated, unknown node types, missing fields, wrong shapes or
    dtypes, non-finite parameters) raises :class:`DataError` naming the file; no other exception
    escapes.  Only data is read, in a child process with a time limit
    (:func:`neuro.export.hdf5.read_hdf5_tree`).
    """
    from neuro.export.hdf5 import read_hdf5_tree

    p = os.fspath(path)
    tree = read_hdf5_tree(p, "NIR graph")
    if not isinstance(tree.get("node"), dict):
        raise DataError(f"{p}: no 'node' group; not a NIR graph file (write one with neuro export --to nir)")
    data = _nir_values(tree["node"])
    _check_node_dict(data, p, "the graph")
    try:
        graph = nir.dict2NIRNode({**data, "type_check": True})
    except Exception as e:  # nir's constructors raise ValueError, TypeError, AssertionError, KeyError, ...
        raise DataError(f"{p}: not a valid NIR graph ({type(e).__name__}: {e})") from None
    validate_graph(graph, p)
    return graph


def _nir_values(v: object) -> object:
    """File content as nir's reader gives it: scalars as numpy scalars or ``str``, arrays as they are."""
    if isinstance(v, dict):
        return {k: _nir_values(x) for k, x in v.items()}
    a = np.asarray(v)
    if a.ndim:
        return a
    return str(a[()]) if a.dtype.kind == "U" else a[()]


def _check_node_dict(d: object, path: str, where: str) -> None:
    """Every node dict names a known NIR type (checked before nir builds anything from it)."""
    if not isinstance(d, dict):
        raise DataError(f"{path}: {where} is not a node group")
    kind = d.get("type")
    if not isinstance(kind, str) or kind not in _NODE_TYPES:
        raise DataError(f"{path}: {where} has node type {kind!r}; known NIR types: {', '.join(sorted(_NODE_TYPES))}")
    if kind == "NIRGraph":
        nodes = d.get("nodes")
        if not isinstance(nodes, dict) or "edges" not in d:
            raise DataError(f"{path}: {where} is a NIRGraph without its 'nodes' group or 'edges'")
        for k, v in nodes.items():
            _check_node_dict(v, path, f"node {k}")


def validate_graph(graph: nir.NIRGraph, source: str | None = None) -> None:
    """Cheap invariants of a NIR graph: known node types, numeric finite arrays of the right rank,
    positive time constants and sizes, non-negative delays, edges between existing nodes, and
    sane metadata (``dt`` finite and > 0, ``input_length``/``right_pad`` whole steps, a known readout).

    Raises :class:`DataError` naming ``source`` (a file) or, for an in-memory graph, :class:`ConfigError`.
    """
    err: type[NeuroError] = DataError if source else ConfigError
    at = f"{source}: " if source else ""
    if not isinstance(graph, nir.NIRGraph):
        raise err(f"{at}expected a NIR graph, got {type(graph).__name__}")
    _validate_nodes(graph, "", at, err)
    meta = graph.metadata or {}
    if not isinstance(meta, dict):
        raise err(f"{at}the graph's metadata is not a mapping")
    if meta.get("dt") is not None:
        try:
            check_dt(_scalar(meta["dt"]), "the graph's metadata dt")
        except ConfigError as e:
            raise err(f"{at}{e}") from None
    if meta.get("input_length") is not None:
        _whole_steps(meta["input_length"], "the graph's metadata input_length", at, err)
    if meta.get("readout") is not None and str(meta["readout"]) not in READOUTS:
        raise err(f"{at}unknown readout {meta['readout']!r} in the graph's metadata; known: {', '.join(READOUTS)}")


def _scalar(v: object) -> object:
    a = np.asarray(v)
    return a.reshape(()).item() if a.size == 1 and a.dtype.kind in "biuf" else v


def _whole_steps(v: object, what: str, at: str, err: type[NeuroError]) -> int:
    x = _scalar(v)
    if isinstance(x, bool) or not isinstance(x, int | float) or not float(x).is_integer() or not 0 <= x <= MAX_STEPS:
        raise err(f"{at}{what} must be a whole number of steps in [0, {MAX_STEPS}], got {x!r}")
    return int(x)


def _validate_nodes(graph: nir.NIRGraph, prefix: str, at: str, err: type[NeuroError]) -> None:
    if not isinstance(graph.nodes, dict) or not graph.nodes:
        raise err(f"{at}{prefix or 'the graph'} has no nodes")
    for a_b in graph.edges:
        if len(a_b) != 2 or any(not isinstance(n, str) or n not in graph.nodes for n in a_b):
            raise err(f"{at}edge {a_b!r} does not join two nodes of {prefix or 'the graph'}")
    for key, node in graph.nodes.items():
        name = f"{prefix}{key}"
        kind = type(node).__name__
        if kind not in _NODE_TYPES or not isinstance(node, getattr(nir, kind)):
            raise err(f"{at}node {name} is a {kind}, not a NIR node type neuro reads")
        if isinstance(node, nir.NIRGraph):
            _validate_nodes(node, f"{name}.", at, err)
            continue
        for field, value in vars(node).items():
            arrays = value.values() if field in ("input_type", "output_type") and isinstance(value, dict) else [value]
            for a in arrays:
                if isinstance(a, np.ndarray) and (a.dtype.kind not in "biuf" or not np.isfinite(a).all()):
                    raise err(f"{at}node {name}: {field} must hold finite numbers, got dtype {a.dtype}"
                              + ("" if a.dtype.kind not in "biuf" else " with NaN or inf"))
        _validate_node(node, name, at, err)


def _shape_of(node: nir.NIRNode) -> np.ndarray | None:
    t = node.input_type.get("input") if isinstance(node, nir.Input) else node.output_type.get("output")
    return None if t is None else np.asarray(t)


def _validate_node(node: nir.NIRNode, name: str, at: str, err: type[NeuroError]) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise err(f"{at}node {name} ({type(node).__name__}): {what}")

    def arr(field: str) -> np.ndarray:
        v = getattr(node, field)
        need(isinstance(v, np.ndarray | int | float | np.number) and not isinstance(v, bool),
             f"{field} must be a number or an array, got {type(v).__name__}")
        return np.asarray(v)

    if isinstance(node, nir.Input | nir.Output):
        s = _shape_of(node)
        need(s is not None and s.ndim == 1 and s.dtype.kind in "iuf" and s.size > 0 and bool((s >= 1).all())
             and np.array_equal(s, np.round(s)), f"its shape must list whole sizes > 0, got {s}")
        need(float(np.prod(s.astype(np.float64))) <= MAX_FEATURES,
             f"shape {tuple(int(v) for v in s)} exceeds {MAX_FEATURES} values per step")
    elif isinstance(node, nir.Affine | nir.Linear):
        w = arr("weight")
        need(w.ndim == 2 and min(w.shape) > 0, f"weight must be a non-empty 2-D [out, in] array, got shape {w.shape}")
        if isinstance(node, nir.Affine):
            b = arr("bias")
            need(b.size in (1, w.shape[0]) and b.ndim <= 1, f"bias must have {w.shape[0]} values, got shape {b.shape}")
    elif isinstance(node, nir.Conv1d | nir.Conv2d):
        nd = 1 if isinstance(node, nir.Conv1d) else 2
        w = arr("weight")
        need(w.ndim == nd + 2 and min(w.shape) > 0, f"weight must be a non-empty {nd + 2}-D array, got shape {w.shape}")
        b = arr("bias")
        need(b.size in (1, w.shape[0]) and b.ndim <= 1, f"bias must have {w.shape[0]} values, got shape {b.shape}")
        g = arr("groups")
        need(g.size == 1 and g.dtype.kind in "iu" and int(g) >= 1 and w.shape[0] % int(g) == 0,
             f"groups must be a whole number >= 1 dividing the {w.shape[0]} output channels, got {node.groups}")
        for field, lo in (("stride", 1), ("dilation", 1)):
            v = arr(field)
            need(v.dtype.kind in "iu" and v.size in (1, nd) and bool((v >= lo).all()),
                 f"{field} must be whole numbers >= {lo}, got {v}")
        if not isinstance(node.padding, str):
            v = arr("padding")
            need(v.dtype.kind in "iu" and v.size in (1, nd) and bool((v >= 0).all()),
                 f"padding must be whole numbers >= 0 or 'same'/'valid', got {v}")
        else:
            need(node.padding in ("same", "valid"), f"padding must be 'same', 'valid' or numbers, got {node.padding!r}")
    elif isinstance(node, nir.SumPool2d | nir.AvgPool2d):
        for field, lo in (("kernel_size", 1), ("stride", 1), ("padding", 0)):
            v = arr(field)
            need(v.dtype.kind in "iu" and v.size in (1, 2) and bool((v >= lo).all()),
                 f"{field} must be whole numbers >= {lo}, got {v}")
    elif isinstance(node, nir.Delay):
        d = arr("delay")
        need(d.ndim == 1 and d.size > 0, f"delay must be a non-empty 1-D array (seconds per channel), got {d.shape}")
        need(bool((d >= 0).all()), f"delays must be >= 0 seconds, got a smallest of {float(d.min())}")
    elif isinstance(node, nir.LIF | nir.LI | nir.IF | nir.I | nir.CubaLIF | nir.CubaLI):
        for field in ("tau", "tau_syn", "tau_mem"):
            if hasattr(node, field):
                need(bool((arr(field) > 0).all()), f"{field} must be > 0 seconds")
        for field in ("r", "v_leak", "v_threshold", "w_in", "v_reset"):
            if getattr(node, field, None) is not None:
                arr(field)
    elif isinstance(node, nir.Flatten):
        for field in ("start_dim", "end_dim"):
            v = arr(field)
            need(v.size == 1 and v.dtype.kind in "iu", f"{field} must be a whole number, got {v}")
    elif isinstance(node, nir.Scale):
        arr("scale")
    elif isinstance(node, nir.Threshold):
        arr("threshold")
    meta = node.metadata or {}
    need(isinstance(meta, dict), "metadata must be a mapping")
    if meta.get("right_pad") is not None:
        _whole_steps(meta["right_pad"], f"node {name}: metadata right_pad", at, err)


def graph_input_shape(graph: nir.NIRGraph) -> tuple[int, ...]:
    """The per-step input shape (without batch) of a chain graph's Input node."""
    first = graph.nodes[_chain(graph)[0]]
    if not isinstance(first, nir.Input):
        raise ConfigError(f"the graph starts at a {type(first).__name__} node; NIR chains start at an Input node")
    return tuple(int(v) for v in _shape_of(first))  # type: ignore[union-attr]


def graph_readout(graph: nir.NIRGraph) -> str:
    """The readout the graph's metadata records (``"sum"`` when none is recorded)."""
    return str((graph.metadata or {}).get("readout") or "sum")


def readout_scores(y: torch.Tensor, readout: str) -> torch.Tensor:
    """``[T, B, C] -> [B, C]``: per-class scores by ``readout`` (a key of :data:`READOUTS`)."""
    if readout == "softmax_sum":
        return torch.softmax(y, dim=-1).sum(0)
    if readout == "sum":
        return y.sum(0)
    raise ConfigError(f"unknown readout {readout!r}; known: {', '.join(READOUTS)}")


def graph_padding(graph: nir.NIRGraph) -> tuple[int, int]:
    """``(input_length, total right_pad)`` recorded in a graph (zeros when absent)."""
    n = int(_scalar((graph.metadata or {}).get("input_length") or 0))  # type: ignore[arg-type]
    pad = sum(int(_scalar((node.metadata or {}).get("right_pad") or 0))  # type: ignore[arg-type]
              for node in graph.nodes.values())
    return n, pad


class _PadTo(nn.Module):
    """Zero-pad ``[T, B, ...]`` at the end to at least ``length`` steps (the readout horizon)."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = int(length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= self.length:
            return x
        return torch.cat([x, x.new_zeros((self.length - x.shape[0], *x.shape[1:]))])

    def extra_repr(self) -> str:
        return f"length={self.length}"


class _PadSteps(nn.Module):
    """Append ``steps`` zero steps to ``[T, B, ...]`` (a delayed layer's ``right_pad``)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = int(steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x.new_zeros((self.steps, *x.shape[1:]))])

    def extra_repr(self) -> str:
        return f"steps={self.steps}"


def _delay_steps(node: nir.Delay, dt: float, name: str) -> np.ndarray:
    steps = np.asarray(node.delay, np.float64) / dt
    if not np.isfinite(steps).all() or steps.max(initial=0) > MAX_STEPS:
        raise ConfigError(f"node {name}: delays reach {float(np.max(node.delay))} s = more than {MAX_STEPS} steps "
                          f"of dt={dt} s; check dt")
    if not np.allclose(steps, np.round(steps), atol=1e-4):
        raise ConfigError(f"node {name}: delays are not whole multiples of dt={dt}")
    return np.round(steps).astype(np.int64)


def _graph_dt(graph: nir.NIRGraph, dt: float | None, who: str) -> float:
    if dt is None:
        dt = _scalar((graph.metadata or {}).get("dt"))  # type: ignore[assignment]
        if dt is None:
            raise ConfigError(f"{who} needs dt= (seconds per step): the graph's metadata does not record it")
    return check_dt(dt)


def from_nir(graph: nir.NIRGraph | str | os.PathLike[str], dt: float | None = None) -> nn.Sequential:
    """Build a module on ``[T, B, ...]`` from a NIR graph (or a ``.nir`` file, read with :func:`read_nir`).

    ``dt`` defaults to the graph's ``metadata["dt"]`` when it has one.  The graph's recorded
    ``input_length`` and per-layer ``right_pad`` become zero padding of the input, as in the model
    the graph was exported from.  Errors name the file when ``graph`` is one.
    """
    source = None
    if not isinstance(graph, nir.NIRGraph):
        source = os.fspath(graph)
        graph = read_nir(source)
    else:
        validate_graph(graph)
    try:
        return _build(graph, dt)
    except NeuroError as e:
        if source is None:
            raise
        raise type(e)(f"{source}: {e}") from None


def _build(graph: nir.NIRGraph, dt: float | None) -> nn.Sequential:
    dt = _graph_dt(graph, dt, "from_nir")
    chain = _chain(graph)
    in_shape = graph_input_shape(graph)
    input_length, _ = graph_padding(graph)
    named: list[tuple[str, nn.Module]] = [("input", _PadTo(input_length))] if input_length else []
    for name in chain:
        node = graph.nodes[name]
        pad = int(_scalar((node.metadata or {}).get("right_pad") or 0))  # type: ignore[arg-type]
        if pad:
            named.append((name, _PadSteps(pad)))
        if isinstance(node, nir.Input | nir.Output):
            continue
        if isinstance(node, nir.Affine | nir.Linear):
            w = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(node, nir.Affine))
            with torch.no_grad():
                lin.weight.copy_(w)
                if isinstance(node, nir.Affine):
                    lin.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float32))
            named.append((name, lin))
        elif isinstance(node, nir.Conv1d):
            w = np.asarray(node.weight)
            pad1 = node.padding if isinstance(node.padding, str) else int(np.asarray(node.padding).flat[0])
            conv1 = SeqConv1d(w.shape[1] * node.groups, w.shape[0], w.shape[2],
                              stride=int(np.asarray(node.stride).flat[0]), padding=pad1,
                              dilation=int(np.asarray(node.dilation).flat[0]), groups=node.groups)
            with torch.no_grad():
                conv1.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
                conv1.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float32))
            named.append((name, conv1))
        elif isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight)
            conv = SeqConv2d(w.shape[1] * node.groups, w.shape[0], tuple(w.shape[2:]), stride=_pair(node.stride),
                             padding=node.padding if isinstance(node.padding, str) else _pair(node.padding),
                             dilation=_pair(node.dilation), groups=int(node.groups))
            with torch.no_grad():
                conv.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
                conv.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float32))
            named.append((name, conv))
        elif isinstance(node, nir.SumPool2d | nir.AvgPool2d):
            k, s = _pair(node.kernel_size), _pair(node.stride)
            if k[0] != k[1] or s[0] != s[1] or np.any(np.asarray(node.padding) != 0):
                raise ConfigError(f"node {name}: only square pooling without padding is supported by from_nir "
                                  f"(kernel {k}, stride {s}, padding {np.asarray(node.padding).tolist()})")
            named.append((name, (SeqSumPool2d if isinstance(node, nir.SumPool2d) else SeqAvgPool2d)(k[0], s[0])))
        elif isinstance(node, nir.Flatten):
            named.append((name, Flatten()))
        elif isinstance(node, nir.Delay):
            named.append((name, _Delay(_delay_steps(node, dt, name))))
        elif isinstance(node, nir.Scale):
            named.append((name, _Scale(np.asarray(node.scale))))
        elif isinstance(node, nir.Threshold):
            named.append((name, _Threshold(np.asarray(node.threshold))))
        elif isinstance(node, nir.LIF | nir.LI | nir.IF | nir.CubaLIF | nir.CubaLI | nir.I):
            named.extend((name, m) for m in _neuron_from(node, dt, name))
        elif isinstance(node, nir.NIRGraph):
            named.append((name, _recurrent_from(node, dt, name)))
        else:
            raise ConfigError(f"node {name}: NIR type {type(node).__name__} is not supported by from_nir")
    _check_shapes(named, in_shape, graph.nodes[chain[-1]])
    return nn.Sequential(*(m for _, m in named))


def _pair(v: object) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[-1]))


def _check_shapes(named: list[tuple[str, nn.Module]], in_shape: tuple[int, ...], last: nir.NIRNode) -> None:
    """Run one zero step through the layers (neurons keep shapes and are skipped): every node must
    take what the previous one gives, and the result must match the Output node's shape."""
    from neuro.neurons import SpikingNeuron

    x = torch.zeros((1, 1, *in_shape))
    with torch.no_grad():
        for name, m in named:
            if isinstance(m, SpikingNeuron | _PadTo | _PadSteps):
                continue
            try:
                x = m(x)
            except (RuntimeError, ValueError, IndexError, TypeError, NeuroError) as e:
                raise ConfigError(f"node {name} does not take the {tuple(x.shape[2:])} values per step its "
                                  f"predecessor gives ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    out = _shape_of(last) if isinstance(last, nir.Output) else None
    if out is not None and int(np.prod(out)) != x[0, 0].numel():
        raise ConfigError(f"the graph's Output node declares shape {tuple(int(v) for v in out)} but its last "
                          f"layer gives {tuple(x.shape[2:])} values per step")


def write_nir(model: nn.Module, path: str | os.PathLike[str], dt: float, input_shape=None,
              target: str | None = None) -> nir.NIRGraph:
    """Export ``model`` and write it with ``nir.write`` (an HDF5 ``.nir`` file).

    The file is written next to ``path`` and renamed into place: a failed export leaves nothing.
    """
    g = to_nir(model, dt=dt, input_shape=input_shape, target=target)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"cannot write {path}: the folder {folder} does not exist; create it first")
    tmp = f"{path}.tmp"
    try:
        nir.write(tmp, g)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return g


def nir_float_layers(graph: nir.NIRGraph | str | os.PathLike[str], dt: float | None = None) -> list:
    """The synapse+neuron layers of a NIR chain as :class:`neuro.export.loihi.FloatLayer` s (for Loihi).

    Accepts ``Affine``/``Linear`` (and ``Scale``) followed by a neuron, and neuro's delayed-synapse
    pattern ``Linear`` (fan-out) -> ``Delay`` -> ``Affine``/``Linear``; a recurrent subgraph (one
    neuron node and its weight loop, as written for ``Recurrent`` layers and reservoirs) after a
    ``Linear``/``Affine`` becomes one recurrent layer.  Neuron input gains
    (``r * dt / tau`` and CubaLIF's ``w_in``) are folded into the weights.
    """
    source = None
    if not isinstance(graph, nir.NIRGraph):
        source = os.fspath(graph)
        graph = read_nir(source)
    else:
        validate_graph(graph)
    try:
        return _float_layers(graph, dt)
    except NeuroError as e:
        if source is None:
            raise
        raise type(e)(f"{source}: {e}") from None


def _float_layers(graph: nir.NIRGraph, dt: float | None) -> list:
    from neuro.export.loihi import FloatLayer

    dt = _graph_dt(graph, dt, "nir_float_layers")
    _build(graph, dt)  # the same checks as from_nir: every node takes what the previous one gives
    layers = []
    W = b = D = None
    for name in _chain(graph):
        node = graph.nodes[name]
        if isinstance(node, nir.Input | nir.Output):
            continue
        if isinstance(node, nir.Affine | nir.Linear):
            w = np.asarray(node.weight, np.float64)
            bias = np.asarray(node.bias, np.float64) if isinstance(node, nir.Affine) else np.zeros(w.shape[0])
            if W is not None and D is not None:  # fan-out -> delay -> weights: one weight per (out, in)
                n_in = W.shape[1]
                src = W.argmax(1)  # the input each fan-out channel copies
                o_idx, k_idx = np.nonzero(w)
                if len(set(zip(o_idx.tolist(), src[k_idx].tolist(), strict=True))) != len(o_idx):
                    raise ConfigError(f"node {name}: two delayed synapses join the same input and output; Loihi "
                                      "has one synapse (one delay) per pair")
                w_full = np.zeros((w.shape[0], n_in))
                d_full = np.zeros((w.shape[0], n_in), np.int64)
                w_full[o_idx, src[k_idx]] = w[o_idx, k_idx]
                d_full[o_idx, src[k_idx]] = D[k_idx]
                W, b, D = w_full, bias, d_full
            elif W is not None:
                W, b = w @ W, w @ b + bias
            else:
                W, b = w, bias
        elif isinstance(node, nir.Delay):
            if W is None or not (np.count_nonzero(W, axis=1) == 1).all() or not (W.max(1) == 1).all() or np.any(b):
                raise ConfigError(f"node {name}: only a delay after a fan-out Linear (each channel a copy of one "
                                  "input) maps to Loihi")
            D = _delay_steps(node, dt, name)
        elif isinstance(node, nir.Scale):
            if W is None:
                raise ConfigError(f"node {name}: a Scale must follow a Linear/Affine to map to Loihi")
            sc = np.asarray(node.scale, np.float64)
            W, b = W * sc[:, None], b * sc
        elif isinstance(node, nir.LIF | nir.LI | nir.IF | nir.CubaLIF):
            if W is None:
                raise ConfigError(f"node {name}: a neuron without a preceding synapse layer does not map to Loihi")
            mods = _neuron_from(node, dt, name)
            gain = _row_gain(mods[0] if len(mods) == 2 else None, W.shape[0])
            neuron = mods[-1]
            a_v, a_i = neuron.decays()
            layers.append(FloatLayer(weight=W * gain[:, None], bias=b * gain, delay=D, beta_mem=float(a_v),
                                     beta_syn=None if a_i is None else float(a_i),
                                     v_threshold=None if isinstance(node, nir.LI) else neuron.v_threshold,
                                     name=name))
            W = b = D = None
        elif isinstance(node, nir.NIRGraph):  # a recurrent population: neuron + weight loop (s[t-1] -> input)
            if W is None or D is not None:
                raise ConfigError(f"node {name}: a recurrent subgraph must follow a Linear/Affine input projection "
                                  "(without delays) to map to Loihi")
            rec = _recurrent_from(node, dt, name)
            if rec.rec.bias is not None:
                raise ConfigError(f"node {name}: an Affine recurrent loop (a bias inside the loop) does not map to "
                                  "Loihi; use a Linear")
            gain = _row_gain(rec.gain, W.shape[0])
            a_v, a_i = rec.neuron.decays()
            if not rec.neuron.spiking or isinstance(rec.neuron, LI):
                raise ConfigError(f"node {name}: a recurrent population must spike (LIF/IF/CubaLIF) to map to Loihi")
            layers.append(FloatLayer(weight=W * gain[:, None], bias=b * gain, beta_mem=float(a_v),
                                     beta_syn=None if a_i is None else float(a_i),
                                     v_threshold=rec.neuron.v_threshold, name=name,
                                     rec_weight=rec.rec.weight.detach().double().numpy() * gain[:, None]))
            W = b = D = None
        else:
            raise ConfigError(f"node {name}: NIR type {type(node).__name__} does not map to the Loihi backends")
    if W is not None:
        raise ConfigError("the graph ends with synapses and no neurons; Loihi layers end in a neuron population")
    return layers


def _row_gain(scale: nn.Module | None, n: int) -> np.ndarray:
    """A neuron node's input gain (``r * dt / tau``, ``w_in``) per neuron, to fold into the weight rows."""
    if scale is None:
        return np.ones(n)
    return np.broadcast_to(scale.scale.detach().double().numpy().reshape(-1), (n,)).copy()
