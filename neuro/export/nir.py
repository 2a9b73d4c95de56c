"""NIR export: a neuro model as the continuous-time interchange graph (Pedersen et al. 2024).

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

Reading graphs back (:func:`~neuro.export.nir_import.from_nir`) is :mod:`neuro.export.nir_import`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import nir
import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError
from neuro.hardware.float_layers import fold_bn
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
    """
    if dt is None or dt <= 0:
        raise ConfigError("to_nir needs the time step dt= in seconds (e.g. dt=1e-3) to convert time constants")
    if hasattr(model, "as_sequential"):  # e.g. a reservoir: one recurrent layer (input projection + loop)
        model = model.as_sequential()
    mods = list(getattr(model, "net", model)) if isinstance(getattr(model, "net", model), nn.Sequential) else None
    if mods is None:
        raise ConfigError(f"to_nir exports nn.Sequential models (or models with a .net Sequential), got "
                          f"{type(model).__name__}")
    model.eval()
    nodes: dict[str, nir.NIRNode] = {}
    order: list[str] = []
    shape = list(input_shape) if input_shape is not None else None
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
                weight, bias = fold_bn(weight, bias, nxt)
            add(nir.Linear(weight=fan), "fanout")
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
                weight, bias = fold_bn(weight, bias if bias is not None else np.zeros(m.out_features, np.float32),
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
                weight, bias = fold_bn(weight, bias, nxt)
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
                weight, bias = fold_bn(weight, bias, nxt)
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
                     metadata={"producer": "neuro", "dt": dt})
    if target is not None:
        check_client(g, target)
    return g


def _input_shape_of(node: nir.NIRNode) -> list[int]:
    if isinstance(node, nir.Linear | nir.Affine):
        return [node.weight.shape[1]]
    raise ConfigError("to_nir: give input_shape= (the per-step input shape without batch)")


def write_nir(model: nn.Module, path: str | os.PathLike[str], dt: float, input_shape=None,
              target: str | None = None) -> nir.NIRGraph:
    """Export ``model`` and write it with ``nir.write`` (an HDF5 ``.nir`` file)."""
    g = to_nir(model, dt=dt, input_shape=input_shape, target=target)
    nir.write(str(path), g)
    return g
