"""NIR import: a NIR graph back into a neuro module, or into the float layers a hardware target quantizes.

:func:`from_nir` turns a graph into a module on ``[T, B, ...]`` sequences: every node becomes a
neuro layer, in topological order; graphs must be chains (branches raise an error naming the
node).  Time constants convert back with the graph's ``dt`` as in :mod:`neuro.export.nir` (forward
Euler).  :func:`nir_float_layers` reads the same chains as :class:`~neuro.hardware.float_layers.FloatLayer` s.
The graph's metadata can record the model's readout horizon (``input_length``), its readout
(``"softmax_sum"`` or ``"sum"``) and, per delayed layer, the zero steps appended to its input
(``right_pad``); :func:`from_nir` pads inputs the same way.

:func:`read_nir` reads a ``.nir`` file and :func:`validate_graph` checks a graph's invariants;
on a malformed or hostile file they raise only :class:`~neuro.errors.DataError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError, DataError, NeuroError
from neuro.export.nir import check_dt
from neuro.export.nir_clients import CLIENTS
from neuro.hardware.float_layers import FloatLayer
from neuro.hdf5 import read_hdf5_tree
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


def read_nir(path: str | os.PathLike[str]) -> nir.NIRGraph:
    """Read a ``.nir`` file and check it with :func:`validate_graph`.

    Anything malformed (not HDF5, truncated, unknown node types, missing fields, wrong shapes or
    dtypes, non-finite parameters) raises :class:`DataError` naming the file; no other exception
    escapes.  Only data is read, in a child process with a time limit
    (:func:`neuro.hdf5.read_hdf5_tree`).
    """
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
    target = meta.get("client")
    target = target.decode() if isinstance(target, bytes) else target
    if target in CLIENTS and not CLIENTS[str(target)].faithful:
        raise err(f"{at}this graph was written in {target}'s conventions (to_nir(target=...) / --client), which "
                  "are not NIR's own; neuro reads faithful graphs only: export the model without a client to run "
                  "it in neuro")


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



def _on_graph(build: Callable[[nir.NIRGraph, float | None], Any], graph: nir.NIRGraph | str | os.PathLike[str],
              dt: float | None) -> Any:
    """Run ``build(graph, dt)`` on a validated graph, reading it first when ``graph`` is a file;
    errors then name the file."""
    if isinstance(graph, nir.NIRGraph):
        validate_graph(graph)
        return build(graph, dt)
    source = os.fspath(graph)
    graph = read_nir(source)
    try:
        return build(graph, dt)
    except NeuroError as e:
        raise type(e)(f"{source}: {e}") from None

def from_nir(graph: nir.NIRGraph | str | os.PathLike[str], dt: float | None = None) -> nn.Sequential:
    """Build a module on ``[T, B, ...]`` from a NIR graph (or a ``.nir`` file, read with :func:`read_nir`).

    ``dt`` defaults to the graph's ``metadata["dt"]`` when it has one.  The graph's recorded
    ``input_length`` and per-layer ``right_pad`` become zero padding of the input, as in the model
    the graph was exported from.  Errors name the file when ``graph`` is one.
    """
    return _on_graph(_build, graph, dt)


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


def nir_float_layers(graph: nir.NIRGraph | str | os.PathLike[str], dt: float | None = None) -> list[FloatLayer]:
    """The synapse+neuron layers of a NIR chain as :class:`~neuro.hardware.float_layers.FloatLayer` s (for Loihi).

    Accepts ``Affine``/``Linear`` (and ``Scale``) followed by a neuron, and neuro's delayed-synapse
    pattern ``Linear`` (fan-out) -> ``Delay`` -> ``Affine``/``Linear``; a recurrent subgraph (one
    neuron node and its weight loop, as written for ``Recurrent`` layers and reservoirs) after a
    ``Linear``/``Affine`` becomes one recurrent layer.  Neuron input gains
    (``r * dt / tau`` and CubaLIF's ``w_in``) are folded into the weights.
    """
    return _on_graph(_float_layers, graph, dt)


def _float_layers(graph: nir.NIRGraph, dt: float | None) -> list[FloatLayer]:
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
