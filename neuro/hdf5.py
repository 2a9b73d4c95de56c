"""Reading untrusted HDF5 files (``.nir`` graphs, ``.net`` Loihi networks) safely.

:func:`read_hdf5_tree` returns a file's whole content as nested dicts of numpy arrays and raises
only :class:`~neuro.errors.DataError` naming the file.  Before any data is read,
:func:`check_layout` refuses what would make the HDF5 library read other files or allocate what
the file merely declares:

* only hard links (a soft or external link could point into another file);
* no external raw storage and no virtual datasets (both read data from other files);
* only the standard compression filters (an unknown filter id makes HDF5 look for a plugin);
* the bytes all datasets declare may exceed the file's own size only as far as deflate
  compression can (about 1032:1), plus 1 MiB: a flipped size field cannot ask for gigabytes.

The HDF5 library itself can loop forever (or crash) on some corrupt structures, e.g. a bit flip
in the global heap that holds variable-length strings.  Where the platform can fork, the file is
therefore parsed in a short-lived child process: a read that does not finish within
:data:`READ_TIMEOUT` seconds, or that crashes, ends in a ``DataError`` instead of a hung or dead
program.  The child returns plain arrays (``.npz``, loaded without pickle).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
import warnings
from typing import Any

import h5py
import numpy as np

from neuro.errors import DataError

# deflate's largest compression ratio is about 1032:1; chunks never written read as zeros, so a
# legitimate file stays below this bound and a corrupt size field does not
MAX_EXPANSION = 1100
SLACK_BYTES = 1 << 20
# gzip, shuffle, fletcher32, szip, nbit, scaleoffset (built into HDF5) and lzf (built into h5py)
SAFE_FILTERS = {1, 2, 3, 4, 5, 6, 32000}
READ_TIMEOUT = 20.0  # seconds; neuro's .nir and .net files read in milliseconds


def open_hdf5(path: str | os.PathLike[str], what: str) -> h5py.File:
    """Open ``path`` read-only after checking its layout (see the module docstring).

    ``what`` names the expected content in messages (``"NIR graph"``).  Raises only
    :class:`DataError`; the caller closes the returned file (use it in a ``with``).
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise DataError(f"{p}: no such file (expected a {what} file)")
    try:
        f = h5py.File(p, "r")
    except Exception as e:  # h5py raises OSError, but corrupt superblocks can raise others
        raise DataError(f"{p}: not an HDF5 {what} file, or a damaged one ({type(e).__name__}: {e})") from None
    try:
        check_layout(f, p, what)
    except BaseException:
        f.close()
        raise
    return f


def check_layout(f: h5py.File, path: str, what: str) -> None:
    """Raise :class:`DataError` unless ``f`` holds only hard-linked, self-contained datasets of sane size."""
    limit = SLACK_BYTES + MAX_EXPANSION * os.path.getsize(path)
    total = 0

    def link(name: str, lk: object) -> str | None:
        if not isinstance(lk, h5py.HardLink):
            return f"{name!r} is an HDF5 {type(lk).__name__}; a {what} file holds only its own data"
        return None

    def obj(name: str, o: object) -> str | None:  # a returned message stops the visit (raising inside is mangled)
        nonlocal total
        if not isinstance(o, h5py.Dataset):
            return None
        if o.is_virtual or o.external:
            return f"dataset {name!r} reads its data from other files; not a {what} file"
        plist = o.id.get_create_plist()
        for k in range(plist.get_nfilters()):
            fid = plist.get_filter(k)[0]
            if fid not in SAFE_FILTERS:
                return f"dataset {name!r} uses HDF5 filter {fid}, which neuro does not load"
        total += int(o.size or 0) * o.dtype.itemsize
        if total > limit:
            return (f"its datasets declare more than {total} bytes in a file of {os.path.getsize(path)} bytes; "
                    "the file is corrupt")
        return None

    try:
        problem = f.visititems_links(link) or f.visititems(obj)
    except Exception as e:
        raise DataError(f"{path}: corrupt HDF5 {what} file ({type(e).__name__}: {e})") from None
    if problem:
        raise DataError(f"{path}: {problem}")


def read_hdf5_tree(path: str | os.PathLike[str], what: str, timeout: float | None = None) -> dict[str, Any]:
    """Everything in the HDF5 file ``path``: groups as dicts, datasets as numpy arrays (0-d for
    scalars; strings decoded to unicode arrays).  Raises only :class:`DataError` naming the file.

    ``what`` names the expected content in messages (``"NIR graph"``).  The layout is checked
    first (:func:`check_layout`); the parse runs in a forked child with a time limit (``timeout``
    seconds, :data:`READ_TIMEOUT` by default) where the platform has ``fork`` (see the module
    docstring), else in this process.
    """
    timeout = READ_TIMEOUT if timeout is None else float(timeout)
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise DataError(f"{p}: no such file (expected a {what} file)")
    if not hasattr(os, "fork"):
        return _read_tree(p, what)
    with tempfile.TemporaryDirectory(prefix="neuro-hdf5-") as tmp:
        out, err = os.path.join(tmp, "tree.npz"), os.path.join(tmp, "error.txt")
        with warnings.catch_warnings():  # Python 3.12+ warns about forking a threaded process; the child
            warnings.simplefilter("ignore", DeprecationWarning)  # only parses the file and exits
            pid = os.fork()
        if pid == 0:  # the child: parse, save plain arrays, exit without running the parent's cleanup
            code = 1
            try:
                _bound_child(timeout)
                _save_tree(_read_tree(p, what), out)
                code = 0
            except BaseException as e:  # noqa: BLE001 - everything becomes the parent's DataError
                try:
                    with open(err, "w", encoding="utf-8") as f:
                        f.write(str(e) if isinstance(e, DataError) else
                                f"{p}: corrupt HDF5 {what} file ({type(e).__name__}: {e})")
                except BaseException:  # noqa: BLE001
                    pass
            finally:
                os._exit(code)
        status = _wait(pid, timeout)
        if status is None:
            raise DataError(f"{p}: reading it did not finish within {timeout:g} s; the HDF5 {what} file is corrupt")
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return _load_tree(out, p, what)
        if os.path.exists(err):
            with open(err, encoding="utf-8") as f:
                raise DataError(f.read())
        raise DataError(f"{p}: the HDF5 library failed reading it (status {status}); the {what} file is corrupt")


def _bound_child(timeout: float) -> None:
    """Make sure a child stuck in the HDF5 library cannot outlive its purpose: a CPU-time limit, and
    on Linux death with its parent (should the parent itself be killed while waiting)."""
    import math
    import resource

    limit = math.ceil(timeout) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit))
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the CPU limit still ends it
        pass


def _wait(pid: int, timeout: float) -> int | None:
    """The child's wait status, or ``None`` after killing it when ``timeout`` passed."""
    deadline, pause = time.monotonic() + timeout, 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(pause)
        pause = min(0.05, pause * 2)


def _read_tree(p: str, what: str) -> dict[str, Any]:
    try:
        with open_hdf5(p, what) as f:
            return _tree(f, p)
    except DataError:
        raise
    except Exception as e:  # h5py raises OSError, KeyError, RuntimeError, ... on corrupt files
        raise DataError(f"{p}: corrupt HDF5 {what} file ({type(e).__name__}: {e})") from None


def _tree(group: h5py.Group, p: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in group:
        item = group[key]
        out[key] = _tree(item, p) if isinstance(item, h5py.Group) else _array(item, p)
    return out


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _array(ds: h5py.Dataset, p: str) -> np.ndarray:
    """A dataset as a numpy array: numbers as they are, strings (fixed or variable length) as unicode."""
    kind = ds.dtype.kind
    if kind in "biuf":
        return np.asarray(ds[()])
    if kind == "S" or h5py.check_string_dtype(ds.dtype) is not None:
        v = ds[()]
        if isinstance(v, np.ndarray):
            return np.vectorize(_text, otypes=["U"])(v) if v.size else v.astype("U")
        return np.asarray(_text(v))
    raise DataError(f"{p}: dataset {ds.name!r} has type {ds.dtype}; expected numbers or strings")


def _save_tree(tree: dict[str, Any], out: str) -> None:
    flat: dict[str, np.ndarray] = {}
    groups: list[str] = []

    def walk(d: dict[str, Any], prefix: str) -> None:
        groups.append(prefix)
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}/")
            else:
                flat[f"{prefix}{k}"] = v

    walk(tree, "")
    np.savez(out, __groups__=np.array(groups, dtype="U"), **{f"d:{k}": v for k, v in flat.items()})


def _load_tree(out: str, p: str, what: str) -> dict[str, Any]:
    try:
        with np.load(out, allow_pickle=False) as z:
            tree: dict[str, Any] = {}
            for g in z["__groups__"].tolist():
                node = tree
                for part in [x for x in g.split("/") if x]:
                    node = node.setdefault(part, {})
            for key in z.files:
                if key.startswith("d:"):
                    *parents, name = key[2:].split("/")
                    node = tree
                    for part in parents:
                        node = node.setdefault(part, {})
                    node[name] = z[key]
    except Exception as e:  # the child wrote it; a failure here means the content was not plain data
        raise DataError(f"{p}: could not read the {what} file's content ({type(e).__name__}: {e})") from None
    return tree
