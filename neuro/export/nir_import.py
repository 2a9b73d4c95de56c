"""NIR import: a NIR graph back into a neuro module, or into the float layers a hardware target quantizes.

:func:`from_nir` turns a graph into a module on ``[T, B, ...]`` sequences: every node becomes a
neuro layer, in topological order; graphs must be chains (branches raise an error naming the
node).  Time constants convert back with the graph's ``dt`` as in :mod:`neuro.export.nir` (forward
Euler).  :func:`nir_float_layers` reads the same chains as :class:`~neuro.hardware.float_layers.FloatLayer` s.
"""

from __future__ import annotations

import os

import nir
import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError, ShapeError
from neuro.hardware.float_layers import FloatLayer
from neuro.layers import Flatten, SeqAvgPool2d, SeqConv1d, SeqConv2d, SeqSumPool2d
from neuro.neurons import IF, LI, LIF, CubaLI, CubaLIF


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


def from_nir(graph: nir.NIRGraph | str | os.PathLike[str], dt: float | None = None) -> nn.Sequential:
    """Build a module on ``[T, B, ...]`` from a NIR graph (or a ``.nir`` file).

    ``dt`` defaults to the graph's ``metadata["dt"]`` when it has one.
    """
    if not isinstance(graph, nir.NIRGraph):
        graph = nir.read(graph)
    dt = dt if dt is not None else graph.metadata.get("dt") if graph.metadata else None
    if dt is None:
        raise ConfigError("from_nir needs dt= (seconds per step): the graph's metadata does not record it")
    dt = float(dt)
    layers: list[nn.Module] = []
    for name in _chain(graph):
        node = graph.nodes[name]
        if isinstance(node, nir.Input | nir.Output):
            continue
        if isinstance(node, nir.Affine | nir.Linear):
            w = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
            if w.ndim != 2:
                raise ShapeError(f"node {name}: weight must be 2-D [out, in], got shape {tuple(w.shape)}")
            lin = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(node, nir.Affine))
            with torch.no_grad():
                lin.weight.copy_(w)
                if isinstance(node, nir.Affine):
                    lin.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float32))
            layers.append(lin)
        elif isinstance(node, nir.Conv1d):
            w = np.asarray(node.weight)
            pad = node.padding if isinstance(node.padding, str) else int(np.asarray(node.padding).flat[0])
            conv1 = SeqConv1d(w.shape[1] * node.groups, w.shape[0], w.shape[2],
                              stride=int(np.asarray(node.stride).flat[0]), padding=pad,
                              dilation=int(np.asarray(node.dilation).flat[0]), groups=node.groups)
            with torch.no_grad():
                conv1.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
                conv1.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float32))
            layers.append(conv1)
        elif isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight)
            conv = SeqConv2d(w.shape[1] * node.groups, w.shape[0], tuple(w.shape[2:]), stride=node.stride,
                             padding=node.padding, dilation=node.dilation, groups=node.groups)
            with torch.no_grad():
                conv.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
                conv.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float32))
            layers.append(conv)
        elif isinstance(node, nir.SumPool2d):
            layers.append(SeqSumPool2d(int(np.asarray(node.kernel_size).flat[0]), int(np.asarray(node.stride).flat[0])))
        elif isinstance(node, nir.AvgPool2d):
            layers.append(SeqAvgPool2d(int(np.asarray(node.kernel_size).flat[0]), int(np.asarray(node.stride).flat[0])))
        elif isinstance(node, nir.Flatten):
            layers.append(Flatten())
        elif isinstance(node, nir.Delay):
            steps = np.asarray(node.delay, np.float64) / dt
            if not np.allclose(steps, np.round(steps), atol=1e-4):
                raise ConfigError(f"node {name}: delays are not whole multiples of dt={dt}")
            layers.append(_Delay(np.round(steps)))
        elif isinstance(node, nir.Scale):
            layers.append(_Scale(np.asarray(node.scale)))
        elif isinstance(node, nir.Threshold):
            layers.append(_Threshold(np.asarray(node.threshold)))
        elif isinstance(node, nir.LIF | nir.LI | nir.IF | nir.CubaLIF | nir.CubaLI | nir.I):
            layers.extend(_neuron_from(node, dt, name))
        elif isinstance(node, nir.NIRGraph):
            layers.append(_recurrent_from(node, dt, name))
        else:
            raise ConfigError(f"node {name}: NIR type {type(node).__name__} is not supported by from_nir")
    return nn.Sequential(*layers)


def nir_float_layers(graph: nir.NIRGraph | str | os.PathLike[str], dt: float | None = None) -> list[FloatLayer]:
    """The synapse+neuron layers of a NIR chain as :class:`~neuro.hardware.float_layers.FloatLayer` s (for Loihi).

    Accepts ``Affine``/``Linear`` (and ``Scale``) followed by a neuron, and neuro's delayed-synapse
    pattern ``Linear`` (fan-out) -> ``Delay`` -> ``Affine``/``Linear``; a recurrent subgraph (one
    neuron node and its weight loop, as written for ``Recurrent`` layers and reservoirs) after a
    ``Linear``/``Affine`` becomes one recurrent layer.  Neuron input gains
    (``r * dt / tau`` and CubaLIF's ``w_in``) are folded into the weights.
    """
    if not isinstance(graph, nir.NIRGraph):
        graph = nir.read(graph)
    dt = dt if dt is not None else (graph.metadata or {}).get("dt")
    if dt is None:
        raise ConfigError("nir_float_layers needs dt= (seconds per step)")
    dt = float(dt)
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
                w_full = np.zeros((w.shape[0], n_in))
                d_full = np.zeros((w.shape[0], n_in), np.int64)
                o_idx, k_idx = np.nonzero(w)
                w_full[o_idx, src[k_idx]] = w[o_idx, k_idx]
                d_full[o_idx, src[k_idx]] = D[k_idx]
                W, b, D = w_full, bias, d_full
            elif W is not None:
                W, b = w @ W, w @ b + bias
            else:
                W, b = w, bias
        elif isinstance(node, nir.Delay):
            steps = np.asarray(node.delay, np.float64) / dt
            if W is None or not np.allclose(steps, np.round(steps), atol=1e-4):
                raise ConfigError(f"node {name}: only a delay after a fan-out Linear, in whole steps, maps to Loihi")
            D = np.round(steps).astype(np.int64)
        elif isinstance(node, nir.Scale):
            if W is None:
                raise ConfigError(f"node {name}: a Scale must follow a Linear/Affine to map to Loihi")
            sc = np.asarray(node.scale, np.float64)
            W, b = W * sc[:, None], b * sc
        elif isinstance(node, nir.LIF | nir.LI | nir.IF | nir.CubaLIF):
            if W is None:
                raise ConfigError(f"node {name}: a neuron without a preceding synapse layer does not map to Loihi")
            mods = _neuron_from(node, dt, name)
            gain = float(np.unique(mods[0].scale.numpy())[0]) if len(mods) == 2 else 1.0
            neuron = mods[-1]
            a_v, a_i = neuron.decays()
            layers.append(FloatLayer(weight=W * gain, bias=b * gain, delay=D, beta_mem=float(a_v),
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
            gain = float(np.unique(rec.gain.scale.numpy())[0]) if rec.gain is not None else 1.0
            a_v, a_i = rec.neuron.decays()
            if not rec.neuron.spiking or isinstance(rec.neuron, LI):
                raise ConfigError(f"node {name}: a recurrent population must spike (LIF/IF/CubaLIF) to map to Loihi")
            layers.append(FloatLayer(weight=W * gain, bias=b * gain, beta_mem=float(a_v),
                                     beta_syn=None if a_i is None else float(a_i),
                                     v_threshold=rec.neuron.v_threshold, name=name,
                                     rec_weight=rec.rec.weight.detach().double().numpy() * gain))
            W = b = D = None
        else:
            raise ConfigError(f"node {name}: NIR type {type(node).__name__} does not map to the Loihi backends")
    if W is not None:
        raise ConfigError("the graph ends with synapses and no neurons; Loihi layers end in a neuron population")
    return layers
