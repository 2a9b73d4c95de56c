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

The graph's metadata records ``dt`` and, for a delay model, its readout horizon (``input_length``),
its readout (``"softmax_sum"``) and, per delayed layer, the zero steps appended to its input
(``right_pad``).  Reading graphs back (:func:`~neuro.export.nir_import.from_nir`, the validated
:func:`~neuro.export.nir_import.read_nir`) is :mod:`neuro.export.nir_import`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import nir
import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError
from neuro.export.nir_clients import check_client, client, drop_new_fields, fold_gain, neuron_for
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


def to_nir(model: nn.Module, dt: float | None = None, input_shape: Sequence[int] | None = None,
           target: str | None = None) -> nir.NIRGraph:
    """Export a sequential neuro model (``nn.Sequential`` or a model with ``.net``) to a NIR graph.

    ``dt`` is the simulation step in seconds (required: it fixes every time constant).
    ``input_shape`` is the per-step input shape without batch (inferred from the first layer).
    ``target`` names a client (:data:`~neuro.export.nir_clients.CLIENTS`: ``"snntorch"``, ``"norse"``,
    ``"sinabs"``, ``"rockpool"``, ``"snn-mlir"``): the graph is written in the conventions that client's
    importer reads (see :mod:`neuro.export.nir_clients`), and what it cannot reproduce raises a
    :class:`ConfigError` naming the layer and the reason.  Without ``target`` the graph is the faithful one.

    The graph's metadata records ``dt``, and for a :class:`~neuro.models.delay_snn.DelaySNN` its
    readout horizon ``input_length`` and ``readout="softmax_sum"``; each delayed layer's
    ``right_pad`` (zero steps appended to its input) is in the metadata of its fan-out node.
    :func:`from_nir` honours all of them, so the graph predicts what the model predicts.
    """
    if dt is None:
        raise ConfigError("to_nir needs the time step dt= in seconds (e.g. dt=1e-3) to convert time constants")
    dt = check_dt(dt)
    from neuro.models.delay_snn import DelaySNN

    spec = client(target) if target is not None else None
    meta: dict[str, object] = {"producer": "neuro", "dt": dt}
    if spec is not None:  # the time constants are expressed at the step the client assumes, if it assumes one
        meta.update(client=target, dt=spec.step or dt)
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

    def neuron(m: nn.Module, n: int, name: str, before: list[str]) -> nir.NIRNode:
        """The neuron's node; for a client, its input gain is folded into the synapse nodes ``before``."""
        if spec is None:
            return _neuron_node(m, n, dt, name)
        node, gain = neuron_for(target, m, n, dt, name)
        if not np.all(gain == 1.0):
            if not before:
                raise ConfigError(f"{name}: {target} cannot scale this neuron's input and no layer with weights "
                                  "comes before it; put a Linear or convolution before it")
            for key in before:
                nodes[key] = fold_gain(nodes[key], gain, name, target)
        return node

    def add(node: nir.NIRNode, kind: str) -> str:
        nonlocal k
        if spec is not None and type(node).__name__ not in spec.nodes:
            raise ConfigError(f"layer {i} ({type(mods[i]).__name__}): {target} cannot represent its NIR "
                              f"{type(node).__name__} node; export without target= to keep it, or remove the layer")
        name = f"{k}_{kind}"
        k += 1
        nodes[name] = node
        order.append(name)
        return name

    loops: list[tuple[str, str]] = []  # recurrent edges written in the top-level graph (snn-mlir)
    type_check = True  # off only for a client that reads feature-map neurons as one-value parameters
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
                weight, bias = fold_bn(weight, bias if bias is not None else np.zeros(m.out_features, np.float32),
                                        nxt)
            if bias is None and spec is not None and spec.affine_only:
                bias = np.zeros(m.out_features, np.float32)
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
            # arrays, as nir.read gives them back: the graph in memory reads like the file
            add(nir.Conv2d(input_shape=tuple(shape[1:]), weight=weight, stride=np.array(m.stride),
                           padding=np.array(m.padding) if isinstance(m.padding, tuple) else m.padding,
                           dilation=np.array(m.dilation), groups=m.groups, bias=bias), "conv2d")
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
            # a client whose Flatten counts the batch dimension reads the same flattening from negative dims
            start = -len(shape) if spec is not None and spec.flatten_counts_batch else 0
            add(nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=-1), "flatten")
            shape = [int(np.prod(shape))]
            i += 1
            continue
        if isinstance(m, Recurrent):
            if spec is not None and spec.recurrent:
                raise ConfigError(f"{name}: cannot export a recurrent layer for {target}: {spec.recurrent}")
            shape = shape or [m.ff.in_features]
            ff_b = _np(m.ff.bias) if m.ff.bias is not None else None
            ff = add(nir.Affine(weight=_np(m.ff.weight), bias=ff_b) if ff_b is not None else
                     nir.Linear(weight=_np(m.ff.weight)), "affine" if ff_b is not None else "linear")
            n = m.hidden
            nodes["w_rec"] = nir.Linear(weight=_np(m.rec.weight))  # its gain is folded with the input's
            cell = neuron(m.neuron, n, name, [ff, "w_rec"])
            if spec is not None and spec.flat_recurrence:  # the loop in the top-level graph, not a subgraph
                key = add(cell, type(cell).__name__.lower())
                nodes[f"{key}_rec"] = nodes.pop("w_rec")
                loops += [(key, f"{key}_rec"), (f"{key}_rec", key)]
                shape = [n]
                i += 1
                continue
            sub = nir.NIRGraph(
                nodes={"input": nir.Input({"input": np.array([n])}), "neuron": cell,
                       "w_rec": nodes.pop("w_rec"), "output": nir.Output({"output": np.array([n])})},
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
            synapse = order[-1:] if order and isinstance(nodes[order[-1]], _WEIGHTED) else []
            node = neuron(m, n, name, synapse)
            if len(shape) > 1:
                to = shape
                if spec is not None and spec.scalar_maps:  # one value per parameter, broadcast by the client
                    _one_value_per_parameter(node, name, target)
                    to, type_check = [1], False
                node = type(node)(**{f: (np.asarray(v).reshape(-1)[:1].reshape(to) if to == [1] else
                                         np.asarray(v).reshape(to)) if isinstance(v, np.ndarray) else v
                                     for f, v in node.__dict__.items() if f not in ("input_type", "output_type",
                                                                                      "metadata")},
                                  metadata=node.metadata)
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
    g = nir.NIRGraph(nodes=graph_nodes, edges=list(zip(names[:-1], names[1:], strict=True)) + loops,
                     metadata=meta, type_check=type_check)
    if target is not None:
        check_client(g, target)
    return g


_WEIGHTED = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d)


def _one_value_per_parameter(node: nir.NIRNode, name: str, target: str) -> None:
    for f, v in node.__dict__.items():
        if isinstance(v, np.ndarray) and f not in ("input_type", "output_type") and np.unique(v).size > 1:
            raise ConfigError(f"{name}: {target} reads a neuron after a convolution with one {f} for all its "
                              f"neurons; this layer has {np.unique(v).size} different values")


def _modules(model: nn.Module) -> list[nn.Module]:
    """The layers to export, in order (through ``as_sequential()`` where a model has it, e.g. a reservoir)."""
    if hasattr(model, "as_sequential"):  # e.g. a reservoir: one recurrent layer (input projection + loop)
        model = model.as_sequential()
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


def check_dt(dt: object, option: str = "dt=") -> float:
    """``dt`` as a float, or a :class:`ConfigError` naming ``option`` unless it is finite and > 0."""
    try:
        value = float(dt)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{option} must be a finite time step in seconds > 0 (e.g. 1e-3), got {dt!r}")
    return value


def write_nir(model: nn.Module, path: str | os.PathLike[str], dt: float, input_shape=None,
              target: str | None = None) -> nir.NIRGraph:
    """Export ``model`` and write it with ``nir.write`` (an HDF5 ``.nir`` file).

    For a client that pins an older nir (Sinabs, Rockpool) the file leaves out the fields that
    version cannot read.
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
        if target is not None:
            drop_new_fields(tmp, target)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return g
