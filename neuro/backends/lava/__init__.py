"""The ``lava`` backend: runs a :class:`~neuro.backends.loihi.LoihiNetwork` in Lava's own CPU simulator.

Lava 0.10 imports only on Python 3.10 with numpy < 2, so it runs in a separate, project-managed
virtual environment (``neuro lava setup``) as a subprocess; network and inputs go there as an
``.npz`` file and spikes and states come back the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from neuro.errors import NeuroError

LAVA_SPEC = ["lava-nc==0.10.0", "numpy<2"]
RUNNER = Path(__file__).with_name("runner.py")


def lava_env_dir() -> Path:
    """``$NEURO_LAVA_ENV``, else ``.venv-lava`` in the source checkout, else ``~/.cache/neuro/venv-lava``."""
    if os.environ.get("NEURO_LAVA_ENV"):
        return Path(os.environ["NEURO_LAVA_ENV"])
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").exists():
        return repo / ".venv-lava"
    return Path.home() / ".cache" / "neuro" / "venv-lava"


def lava_python() -> Path:
    return lava_env_dir() / "bin" / "python"


def find_python310() -> str | None:
    """A Python 3.10 interpreter: ``$NEURO_LAVA_PYTHON``, ``python3.10`` on PATH, or pyenv's."""
    cands = [os.environ.get("NEURO_LAVA_PYTHON"), shutil.which("python3.10")]
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    for r in roots:
        if r and (Path(r) / "versions").is_dir():
            cands += sorted(str(p) for p in (Path(r) / "versions").glob("3.10*/bin/python3.10"))
    for c in cands:
        if c and Path(c).exists():
            ok = subprocess.run([c, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"],
                                capture_output=True).returncode == 0
            if ok:
                return c
    return None


def lava_status() -> tuple[bool, str]:
    """(True, "") when the Lava environment imports Lava, else (False, what to do)."""
    py = lava_python()
    if not py.exists():
        return False, f"no Lava environment at {lava_env_dir()}; run `neuro lava setup` (needs Python 3.10)"
    r = subprocess.run([str(py), "-c", "import lava.magma"], capture_output=True, text=True)
    if r.returncode:
        return False, f"the Lava environment at {lava_env_dir()} cannot import lava: {r.stderr.strip()[-200:]}"
    return True, ""


def setup_lava(if_possible: bool = False) -> int:
    """Create the Lava environment (Python 3.10 venv with lava-nc 0.10 and numpy < 2)."""
    ok, _ = lava_status()
    if ok:
        print(f"Lava environment ready at {lava_env_dir()}")
        return 0
    py = find_python310()
    if py is None:
        msg = ("Lava 0.10 needs a Python 3.10 interpreter and none was found (set NEURO_LAVA_PYTHON, put "
               "python3.10 on PATH, or install one, e.g. `pyenv install 3.10` or `apt-get install python3.10`)")
        print(msg, file=sys.stderr)
        return 0 if if_possible else 1
    env = lava_env_dir()
    print(f"creating the Lava environment in {env} with {py}", flush=True)
    subprocess.run([py, "-m", "venv", str(env)], check=True)
    r = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        *LAVA_SPEC])
    ok, why = lava_status()
    if not ok or r.returncode:
        print(f"installing Lava failed: {why}", file=sys.stderr)
        return 0 if if_possible else 1
    print("Lava environment ready")
    return 0


def run_lava(net, spikes: np.ndarray, timeout: float = 600.0) -> dict[str, list[np.ndarray]]:
    """Run ``net`` (a LoihiNetwork) in Lava (fixed_pt models) on spikes ``[T, n_in]`` for one sample.

    Returns per layer ``[T, out]`` arrays of spikes, u and v, as Lava's monitors read them.
    """
    ok, why = lava_status()
    if not ok:
        raise NeuroError(f"the lava backend is not available: {why}")
    spikes = np.asarray(spikes)
    if spikes.ndim != 2:
        raise NeuroError(f"run_lava takes one sample [T, n_in], got shape {spikes.shape}")
    with tempfile.TemporaryDirectory() as tmp:
        arrays: dict[str, np.ndarray] = {"input": spikes.astype(np.int64), "n_layers": np.array(len(net.layers))}
        for k, layer in enumerate(net.layers):
            arrays[f"w{k}"] = np.asarray(layer.weights, np.float64)
            if layer.delays is not None:
                arrays[f"d{k}"] = layer.delays
            arrays[f"p{k}"] = np.array([layer.du, layer.dv, layer.vth, layer.bias_exp, layer.weight_exp,
                                        layer.num_weight_bits, -1 if layer.sign_mode is None else layer.sign_mode])
            arrays[f"b{k}"] = np.broadcast_to(np.asarray(layer.bias_mant, np.int64), (layer.n_out,)).copy()
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, **arrays)
        r = subprocess.run([str(lava_python()), str(RUNNER), str(src), str(dst)], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode:
            raise NeuroError(f"Lava run failed: {r.stderr.strip()[-2000:]}")
        res = np.load(dst)
        n = len(net.layers)
        return {key: [res[f"{key}{k}"] for k in range(n)] for key in ("s", "u", "v")}
