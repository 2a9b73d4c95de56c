"""Global settings: the data directory and run directories."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "NEURO_DATA_DIR"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``root`` if given, else ``$NEURO_DATA_DIR``, else a ``shared/data`` folder
    beside the source checkout when there is one, else ``~/.cache/neuro/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    shared = find_shared_data()
    return shared if shared is not None else Path.home() / ".cache" / "neuro" / "data"


def find_shared_data() -> Path | None:
    """Locate a folder of real recordings laid out like the project's shared data folder.

    Looks at ``$NEURO_DATA_DIR`` and at ``../shared/data`` next to the source checkout; returns
    ``None`` when neither holds data.  Used by the demo and by tests that need real files.
    """
    candidates = []
    if os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]))
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for c in candidates:
        if c.is_dir() and any(c.iterdir()):
            return c
    return None


CACHE_ENV = "NEURO_CACHE_DIR"


def cache_root() -> Path:
    """Where preprocessed data is cached: ``$NEURO_CACHE_DIR``, else ``~/.cache/neuro/cache``.

    Kept apart from the data directory, which may be read-only or shared.
    """
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "neuro" / "cache"
