"""NIR graphs in the conventions each client's importer reads (``to_nir(..., target=NAME)``).

The faithful graph (no target) states neuro's dynamics in NIR's continuous-time terms.  Each
client reads some of those terms its own way, so a target rewrites the neurons' parameters and,
where a client cannot scale its input, folds the input gain into the preceding synapse's weights.
Whatever the client cannot reproduce is refused with a :class:`~neuro.errors.ConfigError` that
names the layer and the reason.  What each client computes (read from its import code):

* ``snntorch`` 1.0: ``beta = 1 - 1e-4 / tau`` (a fixed step of 0.1 ms, whatever the graph's
  ``dt``), input gain ``r dt / tau`` folded into the threshold, reset to zero; IF imports as a
  leaky neuron with ``beta = 0.9``; no LI.
* ``norse`` 1.1: ``v += dt/tau (v_leak - v + i)`` (it ignores ``r``; the user passes ``dt`` to
  ``norse.torch.from_nir``), reset to 0 whatever ``v_reset``; its ``Flatten`` counts the batch.
* ``sinabs`` 3.1 (reads through nir <= 1.0.4, which has no ``v_reset``): ``v = exp(-1/tau) v + x``
  with ``tau`` in steps, spikes ``floor(v / v_threshold)`` per step and subtracts them; IF clips
  ``v`` at ``-v_threshold``; only ``Affine`` synapses (a bias-free ``Linear`` is dropped).
* ``rockpool`` 3.1 (nir <= 1.0.4): CubaLIF only, ``dt = tau_mem / (1 + r)``, exponential decays
  ``exp(-dt / tau)``, the current decays after adding its input (``i = a_i (i + x)``), ``v = a_v v + i``,
  multi-spike with subtractive reset; ignores ``w_in``.
* ``snn-mlir`` 1.0: ``decay = 1 - 1 / r`` (it assumes ``r = tau / dt``), input gain 1, IF only with
  ``r = 1``, ``v_reset = 0``, one decay and threshold per layer; recurrence as a neuron <-> synapse
  loop in the graph itself (no subgraph).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
from torch import nn

from neuro.errors import ConfigError, NeuroError
from neuro.neurons import IF, LI, LIF, CubaLI, CubaLIF


@dataclass(frozen=True)
class Client:
    """What one NIR client's importer reads and how its neurons compute."""

    nodes: frozenset[str]  # NIR node types its importer reads
    reset: str  # "zero": hard reset to 0 only; "subtract": subtractive (soft) reset only
    neurons: frozenset[str]  # neuro neuron classes it reproduces
    why_not: dict[str, str]  # neuro neuron class -> why the client cannot reproduce it
    recurrent: str | None = None  # None when it imports recurrent subgraphs, else why not
    step: float | None = None  # a step the importer assumes whatever the graph says (seconds)
    affine_only: bool = False  # its importer drops bias-free Linear nodes
    flatten_counts_batch: bool = False  # its Flatten import flattens from the batch dimension
    scalar_maps: bool = False  # it reads a feature map's neurons with one value per parameter
    faithful: bool = False  # its graph still means the model in NIR's own terms (neuro's from_nir reads it)
    flat_recurrence: bool = False  # it reads a recurrent layer as a neuron <-> synapse loop in the graph itself
    old_nir: bool = False  # it pins nir <= 1.0.4, whose reader fails on the v_reset field: the file leaves it out


_BASE = frozenset({"Input", "Output", "Affine", "Linear", "NIRGraph"})
CLIENTS: dict[str, Client] = {
    "snntorch": Client(
        nodes=_BASE | {"Conv2d", "Flatten", "AvgPool2d", "LIF", "CubaLIF"}, reset="zero",
        neurons=frozenset({"LIF", "CubaLIF"}), step=1e-4, flatten_counts_batch=True, faithful=True,
        why_not={"IF": "snnTorch 1.0 imports IF as a leaky neuron with beta = 0.9",
                 "LI": "snnTorch 1.0's importer has no LI node",
                 "CubaLI": "snnTorch 1.0's importer has no CubaLI node"}),
    "norse": Client(
        nodes=_BASE | {"Conv2d", "Flatten", "SumPool2d", "IF", "LIF", "CubaLIF"}, reset="zero",
        neurons=frozenset({"IF", "LIF", "CubaLIF"}), flatten_counts_batch=True, faithful=True,
        why_not={"LI": "Norse 1.1's importer has no LI node", "CubaLI": "Norse 1.1's importer has no CubaLI node"}),
    "sinabs": Client(
        nodes=_BASE - {"Linear", "NIRGraph"} | {"Conv1d", "Conv2d", "Flatten", "SumPool2d", "LIF", "LI"},
        reset="subtract", neurons=frozenset({"LIF", "LI"}), affine_only=True, old_nir=True, scalar_maps=True,
        recurrent="Sinabs 3.1's importer reads no recurrent subgraph",
        why_not={"IF": "Sinabs 3.1 imports IF with its membrane clipped at -v_threshold, which neuro's IF is not",
                 "CubaLIF": "Sinabs 3.1's importer has no CubaLIF node",
                 "CubaLI": "Sinabs 3.1's importer has no CubaLI node"}),
    "rockpool": Client(
        nodes=frozenset({"Input", "Output", "Affine", "Linear", "CubaLIF", "NIRGraph"}), reset="subtract",
        neurons=frozenset({"CubaLIF"}), old_nir=True,
        why_not={"LIF": "Rockpool 3.1's importer fails on LIF nodes (it reads a tau_mem field LIF does not have)",
                 "IF": "Rockpool 3.1's importer has no IF node",
                 "LI": "Rockpool 3.1 imports LI with its tau truncated to an integer",
                 "CubaLI": "Rockpool 3.1's importer has no CubaLI node"}),
    "snn-mlir": Client(
        nodes=_BASE - {"NIRGraph"} | {"Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "IF", "LIF", "LI",
                                       "CubaLIF", "CubaLI"},
        reset="zero", neurons=frozenset({"IF", "LIF", "LI", "CubaLIF", "CubaLI"}), flat_recurrence=True,
        why_not={}),
}


def client(name: str) -> Client:
    """The :class:`Client` called ``name``, or a :class:`ConfigError` listing the known ones."""
    if name not in CLIENTS:
        raise ConfigError(f"unknown NIR client {name!r}; known: {', '.join(CLIENTS)}")
    return CLIENTS[name]


def _kind(m: nn.Module) -> str:
    for cls in (CubaLI, CubaLIF, IF, LI, LIF):
        if isinstance(m, cls):
            return cls.__name__
    return type(m).__name__


def _full(v, n: int) -> np.ndarray:
    a = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, np.float64)
    return np.broadcast_to(a, (n,)).astype(np.float64) if a.size in (1, n) else a.astype(np.float64)


def f32(a) -> np.ndarray:
    return np.asarray(a, np.float32)


def _uniform(name: str, target: str, what: str, v: np.ndarray) -> None:
    if np.unique(v).size > 1:
        raise ConfigError(f"{name}: {target}'s importer needs one {what} for all neurons of a layer; this layer has "
                          f"{np.unique(v).size} different values")


def neuron_for(target: str, m: nn.Module, n: int, dt: float, name: str) -> tuple[nir.NIRNode, np.ndarray]:
    """``target``'s NIR node for neuron ``m`` (``n`` neurons) and the per-neuron gain to fold into the
    weights of the synapse before it (ones when none).  Refuses what the client cannot reproduce."""
    c = client(target)
    kind = _kind(m)
    if kind not in c.neurons:
        why = c.why_not.get(kind, f"{target} has no equivalent of neuro's {kind}")
        raise ConfigError(f"{name}: cannot export {kind} for {target}: {why}")
    if getattr(m, "adaptive", False):
        raise ConfigError(f"{name}: ALIF (adaptive threshold) has no NIR primitive")
    spiking = getattr(m, "spiking", True) and kind not in ("LI", "CubaLI")
    soft = spiking and m.v_reset is None
    if spiking and c.reset == "zero" and soft:
        raise ConfigError(f"{name}: {target} resets the membrane to 0 after a spike; this {kind} subtracts the "
                          "threshold (v_reset=None); use v_reset=0.0 to export for it")
    if spiking and c.reset == "zero" and np.any(_full(m.v_reset, n) != 0):
        raise ConfigError(f"{name}: {target} resets the membrane to 0 after a spike; this {kind} resets to "
                          f"v_reset={m.v_reset}; use v_reset=0.0 to export for it")
    if spiking and c.reset == "subtract" and not soft:
        raise ConfigError(f"{name}: {target}'s neurons subtract the threshold after a spike (and may fire several "
                          f"spikes per step); this {kind} resets to v_reset={m.v_reset}; use v_reset=None to export "
                          "for it")
    zeros = np.zeros(n, np.float32)
    th = _full(m.v_threshold, n) if spiking else None
    if th is not None and target in ("snntorch", "snn-mlir"):
        _uniform(name, target, "v_threshold", th)
    v_reset = zeros
    if kind in ("CubaLIF", "CubaLI"):
        a_v, a_i = (_full(d, n) for d in m.decays())
        if target == "rockpool":  # exponential decays at dt = tau_mem / (1 + r); i = a_i (i + x): gain 1 / a_i
            if np.any(a_v <= 0) or np.any(a_i <= 0) or np.any(a_v >= 1) or np.any(a_i >= 1):
                raise ConfigError(f"{name}: Rockpool's decays exp(-dt/tau) cannot be 0 or 1; this layer has decays "
                                  "outside (0, 1)")
            tau_mem, tau_syn = -dt / np.log(a_v), -dt / np.log(a_i)
            return nir.CubaLIF(tau_syn=f32(tau_syn), tau_mem=f32(tau_mem), r=f32(tau_mem / dt - 1), v_leak=zeros,
                               v_threshold=f32(th), v_reset=v_reset, w_in=np.ones(n, np.float32),
                               metadata={"reset": "subtract"}), 1.0 / a_i
        step = c.step or dt
        if target == "snn-mlir":
            _uniform(name, target, "current decay", a_i)
            _uniform(name, target, "membrane decay", a_v)
        tau_syn, tau_mem = step / (1 - a_i), step / (1 - a_v)
        kw = dict(tau_syn=f32(tau_syn), tau_mem=f32(tau_mem), r=f32(tau_mem / step), v_leak=zeros,
                  w_in=f32(tau_syn / step))
        if kind == "CubaLI":
            return nir.CubaLI(**kw), np.ones(n)
        return nir.CubaLIF(**kw, v_threshold=f32(th), v_reset=v_reset), np.ones(n)
    if kind == "IF":
        if target == "snn-mlir":  # voltage += input: r is a bare gain and must be 1
            return nir.IF(r=np.ones(n, np.float32), v_threshold=f32(th), v_reset=v_reset), np.ones(n)
        return nir.IF(r=np.full(n, 1.0 / dt, np.float32), v_threshold=f32(th), v_reset=v_reset), np.ones(n)
    beta = _full(m.decays()[0], n)
    gain = (1 - beta) if m.decay_input else np.ones(n)  # what neuro multiplies the input by
    if target in ("sinabs",):  # v = exp(-1/tau) v + x, tau in steps
        if np.any(beta <= 0) or np.any(beta >= 1):
            raise ConfigError(f"{name}: Sinabs' decay exp(-1/tau) cannot be 0 or 1; this layer has decays outside "
                              "(0, 1)")
        tau = f32(-1.0 / np.log(beta))
        if kind == "LI":
            return nir.LI(tau=tau, r=np.ones(n, np.float32), v_leak=zeros), gain
        return nir.LIF(tau=tau, r=np.ones(n, np.float32), v_leak=zeros, v_threshold=f32(th), v_reset=v_reset,
                       metadata={"reset": "subtract"}), gain
    step = c.step or dt
    tau = step / (1 - beta)
    if target == "norse":  # v += dt/tau (-v + i), r ignored: the input gain is 1 - beta, the rest is folded
        r, fold = np.ones(n), gain / (1 - beta)
    else:  # snnTorch, snn-mlir: r = tau / dt, input gain 1, neuro's gain folded
        if target == "snn-mlir":
            _uniform(name, target, "decay", beta)
        r, fold = tau / step, gain
    if kind == "LI":
        return nir.LI(tau=f32(tau), r=f32(r), v_leak=zeros), fold
    return nir.LIF(tau=f32(tau), r=f32(r), v_leak=zeros, v_threshold=f32(th), v_reset=v_reset), fold


def fold_gain(node: nir.NIRNode, gain: np.ndarray, name: str, target: str) -> nir.NIRNode:
    """``node`` (the synapse before a neuron) with its outputs scaled by ``gain`` (per neuron)."""
    if np.allclose(gain, 1.0, rtol=0, atol=0):
        return node
    if isinstance(node, nir.Affine | nir.Linear):
        w = (node.weight * gain[:, None]).astype(np.float32)
        if isinstance(node, nir.Affine):
            return nir.Affine(weight=w, bias=(node.bias * gain).astype(np.float32), metadata=node.metadata)
        return nir.Linear(weight=w, metadata=node.metadata)
    if isinstance(node, nir.Conv1d | nir.Conv2d):
        c_out = node.weight.shape[0]
        per = gain.reshape(c_out, -1)
        if not np.all(per == per[:, :1]):
            raise ConfigError(f"{name}: for {target} the neuron's input gain is folded into the convolution, which "
                              "needs one time constant per channel")
        g = per[:, 0]
        w = (node.weight * g.reshape(-1, *([1] * (node.weight.ndim - 1)))).astype(np.float32)
        kw = {k: getattr(node, k) for k in ("stride", "padding", "dilation", "groups")}
        if isinstance(node, nir.Conv1d):
            return nir.Conv1d(input_shape=node.input_shape, weight=w, bias=(node.bias * g).astype(np.float32), **kw)
        return nir.Conv2d(input_shape=node.input_shape, weight=w, bias=(node.bias * g).astype(np.float32), **kw)
    raise ConfigError(f"{name}: {target} cannot scale this neuron's input, and the layer before it "
                      f"({type(node).__name__}) has no weights to fold the gain into; put a Linear or convolution "
                      "before it")


def check_client(graph: nir.NIRGraph, target: str) -> None:
    """Raise a clear error naming every node that ``target`` cannot import (e.g. delays for snnTorch)."""
    c = client(target)
    bad = [f"{k} ({type(n).__name__})" for k, n in graph.nodes.items() if type(n).__name__ not in c.nodes]
    if bad:
        raise ConfigError(f"{target} cannot represent these nodes: {', '.join(bad)}; export without target= "
                          "to keep them, or remove them from the model")


def drop_new_fields(path: str, target: str) -> None:
    """Remove from a written ``.nir`` file the fields the nir <= 1.0.4 that ``target`` pins cannot read
    (``v_reset``: its reader passes every stored field to the node and fails on unknown ones)."""
    if not client(target).old_nir:
        return
    import h5py

    def strip(group) -> None:
        for key in list(group):
            item = group[key]
            if isinstance(item, h5py.Group):
                if "type" in item and item["type"][()] in (b"LIF", b"IF", b"CubaLIF") and "v_reset" in item:
                    del item["v_reset"]
                strip(item)

    with h5py.File(path, "r+") as f:
        strip(f)


# Sinabs and Rockpool pin nir <= 1.0.4 (neuro needs a newer one): they are installed, without their
# dependencies, into a folder of their own that only the runner subprocess puts first on its path.
# nirtorch 1.0 is the last release that runs with nir 1.0.4; torch, numpy and scipy are shared.
OLD_NIR_SPEC = ["nir==1.0.4", "nirtorch==1.0", "sinabs==3.1.3", "pbr", "rockpool==3.1.0"]
RUNNER = Path(__file__).with_name("nir_client_runner.py")
SIMULATED = ("snntorch", "norse", "sinabs", "rockpool")  # clients whose own simulator runner.py drives


def clients_dir() -> Path:
    """``$NEURO_NIR_CLIENTS``, else ``.nir-clients`` in a source checkout, else ``~/.cache/neuro/nir-clients``."""
    if os.environ.get("NEURO_NIR_CLIENTS"):
        return Path(os.environ["NEURO_NIR_CLIENTS"])
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").exists() and (repo / "neuro").is_dir():
        return repo / ".nir-clients"
    return Path.home() / ".cache" / "neuro" / "nir-clients"


_STATUS: dict[str, tuple[bool, str]] = {}


def client_status(target: str, refresh: bool = False) -> tuple[bool, str]:
    """(True, "") when ``target``'s own importer and simulator can run here, else (False, what to do).
    Cached per process (checking Sinabs or Rockpool starts a Python that imports torch)."""
    if refresh or target not in _STATUS:
        _STATUS[target] = _client_status(target)
    return _STATUS[target]


def _client_status(target: str) -> tuple[bool, str]:
    client(target)
    if target not in SIMULATED:
        return False, (f"{target} has no simulator that runs from Python here (snn-mlir runs graphs through its "
                       "snn-opt/MLIR toolchain, built from source)")
    module = {"snntorch": "snntorch.import_nir", "norse": "norse.torch", "sinabs": "sinabs.nir",
              "rockpool": "rockpool.nn.modules.torch.nir"}[target]
    if not CLIENTS[target].old_nir:  # runs in this process
        import importlib

        try:
            importlib.import_module(module)
        except Exception as e:  # ImportError, or a client that breaks on import
            return False, f"{target} does not import here ({type(e).__name__}: {e}); install {target}"
        return True, ""
    env = _runner_env(target)
    r = subprocess.run([sys.executable, "-P", "-c", f"import {module}"], capture_output=True, text=True, env=env)
    if r.returncode:
        last = (r.stderr.strip().splitlines() or ["no message"])[-1]
        return False, f"{target} does not import from {clients_dir()} ({last}); run `neuro nir setup`"
    return True, ""


def _runner_env(target: str) -> dict[str, str]:
    env = dict(os.environ)
    if CLIENTS[target].old_nir:
        env["PYTHONPATH"] = os.pathsep.join([str(clients_dir()), *filter(None, [env.get("PYTHONPATH")])])
    return env


def setup_clients(if_possible: bool = False) -> int:
    """Install Sinabs and Rockpool with the nir they pin into :func:`clients_dir`; returns an exit status."""
    folder = clients_dir()
    stamp = folder / ".neuro-spec"
    if stamp.exists() and stamp.read_text() == " ".join(OLD_NIR_SPEC):  # written only after a checked install
        print(f"NIR clients ready in {folder}")
        return 0
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--upgrade",
           "--target", str(folder), *OLD_NIR_SPEC]
    print(f"installing {', '.join(OLD_NIR_SPEC)} into {folder}", flush=True)
    stamp.unlink(missing_ok=True)
    try:
        subprocess.run(cmd, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"installing the NIR clients into {folder} failed: {e}", file=sys.stderr)
        return 0 if if_possible else 1
    bad = [f"{t}: {why}" for t in ("sinabs", "rockpool") for ok, why in [client_status(t, refresh=True)] if not ok]
    if bad:
        print("the NIR clients do not import: " + "; ".join(bad), file=sys.stderr)
        return 0 if if_possible else 1
    stamp.write_text(" ".join(OLD_NIR_SPEC))
    print(f"NIR clients ready in {folder}")
    return 0


def run_client(target: str, jobs: list[tuple[str | os.PathLike[str], np.ndarray]], dt: float) -> list[np.ndarray]:
    """Run ``.nir`` files written for ``target`` in the client's own importer and simulator.

    ``jobs`` pairs each file with an input ``[T, B, ...]``; returns each run's last-layer output
    ``[T, B, ...]``.  ``dt`` is the step passed to a client that takes one (Norse).  Sinabs and Rockpool
    run in one subprocess with their nir first on the path; the others run in this process.
    """
    ok, why = client_status(target)
    if not ok:
        raise NeuroError(f"cannot run {target}: {why}")
    if not CLIENTS[target].old_nir:
        import importlib

        runner = importlib.import_module("neuro.export.nir_client_runner")
        return [runner.run(target, os.fspath(p), np.asarray(x, np.float32), dt) for p, x in jobs]
    with tempfile.TemporaryDirectory(prefix="neuro-nir-client-") as tmp:
        args: list[str] = []
        for k, (p, x) in enumerate(jobs):
            np.save(Path(tmp) / f"x{k}.npy", np.asarray(x, np.float32))
            args += [os.fspath(p), str(Path(tmp) / f"x{k}.npy"), str(Path(tmp) / f"y{k}.npy")]
        r = subprocess.run([sys.executable, "-P", str(RUNNER), target, repr(float(dt)), *args], capture_output=True,
                           text=True, env=_runner_env(target))
        if r.returncode:
            raise NeuroError(f"{target} failed to import or run the graphs: {r.stderr.strip()[-2000:]}")
        return [np.load(Path(tmp) / f"y{k}.npy") for k in range(len(jobs))]
