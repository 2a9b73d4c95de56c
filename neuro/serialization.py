"""Data-only files: what neuro writes with ``torch.save`` and reads back without running code.

Every file neuro reads back (checkpoints, the dataset cache) goes through :func:`load_data`, which
accepts only torch archives and unpickles them with torch's restricted unpickler
(``weights_only=True``): tensors, dicts, lists, tuples, strings, bytes, numbers, ``None``.  A file
that names anything else (a class or a function: the way a crafted pickle runs code) is refused
before any of it is built, and a plain pickle file is refused without being unpickled at all.

:func:`to_plain` turns what a checkpoint holds into those types (numpy arrays and scalars become
tagged dicts that :func:`from_plain` turns back, dataclasses become dicts, paths strings), and
:func:`digest` is a SHA-256 over the canonical content, used to detect corrupt or edited files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuro.errors import ConfigError, DataError

_NUMPY = "__numpy__"  # tag of an encoded numpy array or scalar


def to_plain(obj: Any, where: str = "") -> Any:
    """``obj`` rebuilt from types the restricted unpickler accepts; raises ConfigError naming the
    entry (``where``) of anything it cannot store as data."""
    if isinstance(obj, np.generic | np.ndarray):
        return _encode_numpy(obj, where)
    if obj is None or isinstance(obj, bool | int | float | complex | str | bytes | torch.dtype):
        return obj
    if isinstance(obj, torch.Tensor):
        if obj.layout != torch.strided or obj.is_quantized:
            raise ConfigError(f"cannot store the {obj.layout} tensor at {where or 'the top level'}; convert it to a "
                              "dense tensor first")
        return obj.detach()
    if isinstance(obj, torch.Size):
        return torch.Size(obj)
    if isinstance(obj, torch.device):
        return str(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_plain(dataclasses.asdict(obj), where)
    if isinstance(obj, dict):
        out: dict[Any, Any] = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            if not isinstance(k, str | int):
                raise ConfigError(f"cannot store the key {k!r} at {where or 'the top level'}: keys must be strings "
                                  "or integers")
            out[k] = to_plain(v, f"{where}[{k!r}]")
        meta = getattr(obj, "_metadata", None)  # state_dict versions, read by load_state_dict
        if isinstance(out, OrderedDict) and isinstance(meta, dict):
            out._metadata = to_plain(meta, f"{where}._metadata")  # type: ignore[attr-defined]
        return out
    if isinstance(obj, list | tuple):
        items = [to_plain(v, f"{where}[{k}]") for k, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    raise ConfigError(f"cannot store a {type(obj).__module__}.{type(obj).__qualname__} at {where or 'the top level'}: "
                      "files hold only tensors, numpy arrays, numbers, strings, lists, tuples and dicts")


def from_plain(obj: Any) -> Any:
    """Undo :func:`to_plain`'s encodings (numpy arrays and scalars come back as numpy)."""
    if isinstance(obj, dict):
        if _NUMPY in obj and set(obj) == {_NUMPY, "dtype", "shape", "scalar"}:
            return _decode_numpy(obj)
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = from_plain(v)
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata  # type: ignore[attr-defined]
        return out
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    if isinstance(obj, tuple) and not isinstance(obj, torch.Size):
        return tuple(from_plain(v) for v in obj)
    return obj


def _encode_numpy(a: np.ndarray | np.generic, where: str) -> dict[str, Any]:
    arr = np.asarray(a)
    if arr.dtype.hasobject:
        raise ConfigError(f"cannot store the numpy object array at {where or 'the top level'}: only numeric and "
                          "structured dtypes are data")
    raw = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8).copy()
    return {_NUMPY: torch.from_numpy(raw), "dtype": repr(np.lib.format.dtype_to_descr(arr.dtype)),
            "shape": list(arr.shape), "scalar": isinstance(a, np.generic)}


def _decode_numpy(d: dict[str, Any]) -> np.ndarray | np.generic:
    import ast

    try:
        dtype = np.lib.format.descr_to_dtype(ast.literal_eval(d["dtype"]))
        if dtype.hasobject:
            raise ValueError("object dtype")
        arr = np.frombuffer(d[_NUMPY].numpy().tobytes(), dtype).reshape(d["shape"]).copy()
    except Exception as e:  # a malformed entry: report it as bad data, not as a crash
        raise DataError(f"a stored numpy array is malformed ({e.__class__.__name__}: {e})") from None
    return arr[()] if d["scalar"] else arr


def digest(obj: Any) -> str:
    """SHA-256 (hex) of ``obj``'s content: tensors by dtype, shape and bytes, dict entries in key order,
    numbers exactly; the same content gives the same digest on any device and in any process."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, o: Any) -> None:
    if isinstance(o, torch.Tensor):
        t = o.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{list(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(o, dict):
        h.update(b"D%d;" % len(o))
        for k in sorted(o, key=lambda k: (type(k).__name__, k)):
            _feed(h, k)
            _feed(h, o[k])
        meta = getattr(o, "_metadata", None)
        if meta is not None:
            h.update(b"M")
            _feed(h, meta)
    elif isinstance(o, torch.Size):
        h.update(f"Z{list(o)};".encode())
    elif isinstance(o, list | tuple):
        h.update(b"%s%d;" % (b"L" if isinstance(o, list) else b"U", len(o)))
        for v in o:
            _feed(h, v)
    elif o is None:
        h.update(b"N;")
    elif isinstance(o, bool):
        h.update(b"B%d;" % o)
    elif isinstance(o, int):
        h.update(b"I%d;" % o)
    elif isinstance(o, float):
        h.update(f"F{o.hex()};".encode())
    elif isinstance(o, complex):
        h.update(f"C{o.real.hex()},{o.imag.hex()};".encode())
    elif isinstance(o, str):
        b = o.encode("utf-8", "surrogatepass")
        h.update(b"S%d:" % len(b) + b)
    elif isinstance(o, bytes):
        h.update(b"Y%d:" % len(o) + o)
    elif isinstance(o, torch.dtype):
        h.update(f"P{o};".encode())
    else:
        raise DataError(f"cannot checksum a {type(o).__name__}")


def save_atomic(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file, then rename: never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_data(path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu",
              what: str = "checkpoint") -> Any:
    """Read a file written by ``torch.save`` as data only (see the module docstring).

    Raises DataError naming the file when it is missing, not a torch archive, asks for code, or
    cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a readable {what}: it is not a torch archive (a zip file written by "
                        "torch.save); neuro never unpickles other files")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        why = next((ln.strip() for ln in str(e).splitlines() if "WeightsUnpickler error" in ln), "")
        why = why.split(" was not an allowed global")[0].removeprefix("WeightsUnpickler error: ")
        raise DataError(f"{path} was refused: it asks to build objects other than tensors, numbers, strings, "
                        f"lists and dicts ({why or 'unsupported content'}). neuro loads data only, never code; a "
                        f"{what} that needs more may have been crafted to run code, so do not load it") from None
    except Exception as e:
        raise DataError(f"{path} is not a readable {what} ({e.__class__.__name__}: {e})") from None
