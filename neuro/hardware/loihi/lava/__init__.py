"""The ``lava`` backend: runs a :class:`~neuro.hardware.loihi.network.LoihiNetwork` in Lava's own CPU simulator.

Lava 0.10 (``lava-nc==0.10.0``) imports only on Python 3.10 with numpy < 2, so it lives in a
separate, project-managed virtual environment (``neuro lava setup``): ``$NEURO_LAVA_ENV``, else
``.venv-lava`` in a source checkout, else ``~/.cache/neuro/venv-lava``.  The interpreter is found
in this order: ``$NEURO_LAVA_PYTHON``, ``python3.10`` on ``PATH``, pyenv's versions folder, then
``uv python find 3.10``; each candidate is run once to check it really is 3.10.

:func:`run_lava` writes the network as a deployment file (:func:`neuro.hardware.loihi.netx.export_loihi`,
lava-dl netx HDF5 layout) and the input as ``.npy``, runs ``runner.py`` in that environment as a
subprocess (Lava's ``fixed_pt`` bit-accurate models, one sample after another) and reads spikes
and states back from an ``.npz``.  With ``engine="netx"`` the runner loads the same file with
lava-dl netx instead (``lava.lib.dl.netx.hdf5.Network``, which reads only netx's own fields), the
loader a Loihi user deploys with; ``neuro lava setup`` installs lava-dl 0.6.0 without its
dependencies (netx's dense CUBA layers need only lava-nc, numpy, h5py and scipy; see ``runner.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuro.errors import ConfigError, NeuroError, ShapeError
from neuro.hardware.loihi.network import LoihiNetwork
from neuro.hardware.loihi.netx import export_loihi, load_loihi

LAVA_SPEC = ["lava-nc==0.10.0", "numpy<2", "h5py"]
NETX_SPEC = ["lava-dl==0.6.0"]  # installed with --no-deps: its torch/torchvision/opencv are not needed by netx
RUNNER = Path(__file__).with_name("runner.py")
_STATUS: tuple[bool, str] | None = None
_NETX_STATUS: tuple[bool, str] | None = None


def lava_env_dir() -> Path:
    """``$NEURO_LAVA_ENV``, else ``.venv-lava`` in the source checkout, else ``~/.cache/neuro/venv-lava``."""
    if os.environ.get("NEURO_LAVA_ENV"):
        return Path(os.environ["NEURO_LAVA_ENV"])
    repo = Path(__file__).resolve().parents[4]
    if (repo / "pyproject.toml").exists() and (repo / "neuro").is_dir():
        return repo / ".venv-lava"
    return Path.home() / ".cache" / "neuro" / "venv-lava"


def lava_python() -> Path:
    return lava_env_dir() / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _is_python310(cmd: str) -> bool:
    try:
        r = subprocess.run([cmd, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"], capture_output=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def python310_candidates() -> list[str]:
    """Where a Python 3.10 interpreter may be, in the order they are tried."""
    cands = [os.environ.get("NEURO_LAVA_PYTHON") or "", shutil.which("python3.10") or ""]
    roots = [os.environ.get("PYENV_ROOT") or "", str(Path.home() / ".pyenv")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            roots.insert(0, subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30).stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    for r in roots:
        if r and (Path(r) / "versions").is_dir():
            cands += sorted((str(p) for p in (Path(r) / "versions").glob("3.10*/bin/python3.10")), reverse=True)
    uv = shutil.which("uv")
    if uv:
        try:
            cands.append(subprocess.run([uv, "python", "find", "3.10"], capture_output=True, text=True,
                                        timeout=60).stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    seen: list[str] = []
    for c in cands:
        if c and c not in seen:
            seen.append(c)
    return seen


def find_python310() -> str | None:
    """The first candidate that runs and is Python 3.10 (a pyenv shim that is not set up is skipped)."""
    for c in python310_candidates():
        if _is_python310(c):
            return c
    return None


def lava_status(refresh: bool = False) -> tuple[bool, str]:
    """(True, "") when the Lava environment imports Lava, else (False, what to do). Cached per process."""
    global _STATUS
    if _STATUS is not None and not refresh:
        return _STATUS
    py = lava_python()
    if not py.exists():
        _STATUS = (False, f"no Lava environment at {lava_env_dir()}; run `neuro lava setup` (needs Python 3.10)")
        return _STATUS
    r = subprocess.run([str(py), "-c", "import lava.magma, lava.proc.lif.models, h5py"], capture_output=True, text=True)
    if r.returncode:
        _STATUS = (False, f"the Lava environment at {lava_env_dir()} cannot import lava/h5py: "
                          f"{r.stderr.strip()[-300:]}; run `neuro lava setup`")
    else:
        _STATUS = (True, "")
    return _STATUS


def netx_status(refresh: bool = False) -> tuple[bool, str]:
    """(True, "") when lava-dl netx loads in the Lava environment, else (False, what to do). Cached per process."""
    global _NETX_STATUS
    if _NETX_STATUS is not None and not refresh:
        return _NETX_STATUS
    ok, why = lava_status(refresh)
    if ok:
        r = subprocess.run([str(lava_python()), str(RUNNER), "--netx-check"], capture_output=True, text=True)
        ok, why = (True, "") if r.returncode == 0 else (
            False, f"lava-dl netx does not load in the Lava environment at {lava_env_dir()}: "
                   f"{r.stderr.strip()[-300:]}; run `neuro lava setup`")
    _NETX_STATUS = (ok, why)
    return _NETX_STATUS


def _install_netx(if_possible: bool) -> int:
    """Install lava-dl (netx) into a working Lava environment, without dependencies; prints the time it took."""
    if netx_status(refresh=True)[0]:
        print(f"lava-dl netx ready in {lava_env_dir()}")
        return 0
    t0 = time.perf_counter()
    try:
        subprocess.run([str(lava_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                        *NETX_SPEC], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"installing lava-dl into {lava_env_dir()} failed: {e}", file=sys.stderr)
        return 0 if if_possible else 1
    ok, why = netx_status(refresh=True)
    if not ok:
        print(f"installing lava-dl failed: {why}", file=sys.stderr)
        return 0 if if_possible else 1
    print(f"lava-dl netx installed in {lava_env_dir()} in {time.perf_counter() - t0:.1f} s")
    return 0


def setup_lava(if_possible: bool = False, python: str | None = None) -> int:
    """Create (or repair) the Lava environment and install lava-dl netx into it; returns an exit status.

    With ``if_possible`` a missing Python 3.10 or a failed install is reported and exits 0.
    """
    ok, _ = lava_status(refresh=True)
    env = lava_env_dir()
    if ok:
        print(f"Lava environment ready at {env}")
        return _install_netx(if_possible)
    py = python or find_python310()
    if py is None:
        print("Lava 0.10 needs a Python 3.10 interpreter and none was found (tried: $NEURO_LAVA_PYTHON, "
              "python3.10 on PATH, pyenv, uv). Install one (e.g. `pyenv install 3.10`, `uv python install 3.10` "
              "or `apt-get install python3.10 python3.10-venv`) or set NEURO_LAVA_PYTHON, then run "
              "`neuro lava setup`. The Lava comparisons are skipped until then.", file=sys.stderr)
        return 0 if if_possible else 1
    print(f"creating the Lava environment in {env} with {py}", flush=True)
    try:
        if not lava_python().exists():
            subprocess.run([py, "-m", "venv", str(env)], check=True)
        subprocess.run([str(lava_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", *LAVA_SPEC],
                       check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"installing Lava into {env} failed: {e}", file=sys.stderr)
        return 0 if if_possible else 1
    ok, why = lava_status(refresh=True)
    if not ok:
        print(f"installing Lava failed: {why}", file=sys.stderr)
        return 0 if if_possible else 1
    print(f"Lava environment ready at {env}")
    return _install_netx(if_possible)


@dataclass
class LavaResult:
    """What Lava returned, as numpy arrays: per layer spikes ``[T, B, N]``; ``u``/``v`` ``[T, B, N]``
    when recorded (else ``None``); final ``u``/``v`` ``[B, N]``; and, when timed, per sample the
    compile/start-up seconds and the seconds for the remaining ``T - 1`` steps."""

    spikes: list[np.ndarray]
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None
    final_u: list[np.ndarray] = field(default_factory=list)
    final_v: list[np.ndarray] = field(default_factory=list)
    compile_s: np.ndarray | None = None
    run_s: np.ndarray | None = None


def run_lava_many(
    jobs: list[tuple[object, np.ndarray]], record: bool = True, timing: bool = False, timeout: float = 1800.0,
    engine: str = "lava",
) -> list[LavaResult]:
    """Run several ``(network or deployment-file path, input [T, B, n_in])`` jobs in one Lava subprocess.

    ``engine="lava"`` builds the layers from the file as Lava processes (reading all of neuro's
    fields); ``"netx"`` loads the file with lava-dl netx, which always records ``u`` and ``v``.
    """
    if engine not in ("lava", "netx"):
        raise ConfigError(f"engine must be 'lava' or 'netx', got {engine!r}")
    ok, why = netx_status() if engine == "netx" else lava_status()
    if not ok:
        raise NeuroError(f"the {engine} backend is not available: {why}")
    record = record or engine == "netx"
    with tempfile.TemporaryDirectory(prefix="neuro-lava-") as tmp:
        spec, n_layers = [], []
        for k, (net, x) in enumerate(jobs):
            path = Path(tmp) / f"net{k}.net"
            if isinstance(net, LoihiNetwork):
                # netx: refused unless netx computes it exactly; lava: any network (netx's layout where it applies)
                export_loihi(net, path, quantization="netx" if engine == "netx" else "fine")
            elif isinstance(net, str | os.PathLike):
                shutil.copy(net, path)
                net = load_loihi(path)
            else:
                raise ConfigError(f"run_lava takes a LoihiNetwork or a deployment file, got {type(net).__name__}")
            x = np.asarray(x)
            if x.ndim == 2:
                x = x[:, None, :]
            if x.ndim != 3 or x.shape[2] != net.n_in:
                raise ShapeError(f"input must be [T, B, {net.n_in}] (or [T, {net.n_in}]), got {x.shape}")
            if not np.array_equal(x, np.trunc(x)):
                raise ShapeError("Lava input must be spikes (0/1) or integer payloads")
            np.save(Path(tmp) / f"x{k}.npy", x.astype(np.int64))
            spec.append({"net": str(path), "input": str(Path(tmp) / f"x{k}.npy"), "out": str(Path(tmp) / f"o{k}.npz"),
                         "record": record, "timing": timing, "engine": engine,
                         "input_message_bits": net.layers[0].num_message_bits})
            n_layers.append(len(net.layers))
        (Path(tmp) / "jobs.json").write_text(json.dumps(spec))
        r = subprocess.run([str(lava_python()), str(RUNNER), str(Path(tmp) / "jobs.json")], capture_output=True,
                           text=True, timeout=timeout, cwd=tmp)
        if r.returncode:
            raise NeuroError(f"the {engine} run failed:\n{r.stderr.strip()[-3000:]}")
        results = []
        for k, n in enumerate(n_layers):
            res = dict(np.load(spec[k]["out"]))
            out = LavaResult(spikes=[res[f"s{i}"] for i in range(n)])
            if record:
                out.u = [res[f"u{i}"] for i in range(n)]
                out.v = [res[f"v{i}"] for i in range(n)]
                out.final_u = [u[-1] for u in out.u]
                out.final_v = [v[-1] for v in out.v]
            else:
                out.final_u = [res[f"u{i}_final"] for i in range(n)]
                out.final_v = [res[f"v{i}_final"] for i in range(n)]
            out.compile_s, out.run_s = res.get("compile_s"), res.get("run_s")
            results.append(out)
        return results


def run_lava(net, spikes: np.ndarray, record: bool = True, timing: bool = False):
    """Run ``net`` (a LoihiNetwork or a deployment file) in Lava's ``fixed_pt`` models.

    ``spikes`` is ``[T, B, n_in]`` (returns a :class:`LavaResult`) or one sample ``[T, n_in]``
    (returns ``{"s": [...], "u": [...], "v": [...]}`` of per-layer ``[T, N]`` arrays).
    """
    x = np.asarray(spikes)
    res = run_lava_many([(net, x)], record=record, timing=timing)[0]
    if x.ndim == 2:
        if not record:
            return {"s": [s[:, 0] for s in res.spikes]}
        return {"s": [s[:, 0] for s in res.spikes], "u": [u[:, 0] for u in res.u or []],
                "v": [v[:, 0] for v in res.v or []]}
    return res
