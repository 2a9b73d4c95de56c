"""The package's layering (pyproject.toml's [tool.importlinter] contracts) holds: no upward import, no cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

try:
    from importlinter import configuration
    from importlinter.application.use_cases import lint_imports
except ImportError:  # pragma: no cover - the test extra installs it
    lint_imports = None


def test_import_contracts_hold(capsys):
    assert lint_imports is not None, "import-linter is not installed; pip install -e '.[test]' (bootstrap.py does)"
    configuration.configure()
    ok = lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    out = capsys.readouterr().out
    assert ok, "import contracts broken (a module imports from a layer above it, or a cycle):\n" + out[-6000:]


def test_layers_import_without_compiled_kernels():
    """``from neuro.layers import DelayedLinear`` (and the neurons) load no numba or triton: kernels load when used."""
    code = ("import sys; from neuro.layers import DelayedLinear, SeqLinear; from neuro import LIF, TwoPointLIF; "
            "print(sorted(m for m in ('numba', 'triton') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"
