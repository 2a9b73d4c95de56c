#!/usr/bin/env python3
"""Set up the project's virtual environment and run the demo or the test suite.

Usage::

    python3 bootstrap.py demo    # create .venv, install neuro, train a small SNN on N-MNIST
    python3 bootstrap.py test    # create .venv (+ the Lava environment), run ruff and pytest

Only the Python standard library is used here, so this works on a fresh machine that has
nothing but Python >= 3.11.  Installation is skipped when pyproject.toml has not changed
since the last successful install.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".neuro-installed"
# torch is installed first and pinned to a CPU build where one is available; a CUDA user
# can install their own torch into .venv before running this script.
TORCH = os.environ.get("NEURO_TORCH_SPEC", "torch==2.13.0")


def run(*cmd: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check).returncode


def pip(*args: str) -> None:
    run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", *args)


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be started by an older Python
        sys.exit(f"neuro needs Python >= 3.11; this is {sys.version.split()[0]}. Run with python3.11.")
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TORCH.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    have_torch = subprocess.run([str(PY), "-c", "import torch"], capture_output=True).returncode == 0
    if not have_torch:
        try:
            pip(TORCH)
        except subprocess.CalledProcessError:
            pip("torch")
    pip("-e", ".[test]")
    # SpikingJelly's and Norse's metadata require torchaudio/torchvision/tensorboard, which
    # their neuron models do not use; installing them would replace torch with another build.
    pip("--no-deps", "spikingjelly>=2.0", "norse>=1.1")
    STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"demo", "test", "setup"}:
        print(__doc__)
        return 2
    setup()
    neuro = BIN / "neuro"
    if argv[0] == "setup":
        return 0
    if argv[0] == "demo":
        return run(neuro, "demo", check=False)
    # The Lava bridge runs Lava 0.10 in its own Python 3.10 environment; this creates it when
    # a Python 3.10 interpreter exists and otherwise says what to install (tests then skip).
    # It also installs lava-dl (netx) there without its torch, for tests/test_netx.py.
    run(neuro, "lava", "setup", "--if-possible", check=False)
    # Sinabs and Rockpool pin nir<=1.0.4: their NIR-client tests run them from a folder of their own.
    run(neuro, "nir", "setup", "--if-possible", check=False)
    lint = [p for p in ("neuro", "tests", "examples", "bootstrap.py") if (ROOT / p).exists()]
    if run(PY, "-m", "ruff", "check", *lint, check=False):
        return 1
    return run(PY, "-m", "pytest", "-q", "tests", check=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
