"""Readers for the real event formats, MNIST IDX and WAV.

Every reader raises :class:`neuro.errors.DataError` naming the file and the problem for
truncated or corrupt input.  :func:`read_events` detects the format from the file's content
(and extension) and returns an :class:`EventStream`.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from neuro.datasets.events import CAMERA_DTYPE, EventStream, make_events
from neuro.errors import DataError

PathLike = str | os.PathLike[str]


# ----------------------------------------------------------------------------- N-MNIST
def read_nmnist(path: PathLike, overflow: bool = True) -> np.ndarray:
    """Decode an N-MNIST / ATIS ``.bin`` file (5-byte events) into camera events.

    Byte 0 = x, byte 1 = y, bit 7 of byte 2 = polarity, the other 23 bits = timestamp (µs).
    With ``overflow`` the ATIS marker rule applies: an event with ``y == 240`` adds 2**13 µs to
    every later timestamp and is dropped (N-MNIST files have none; N-Caltech101 uses them).
    """
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0:
        raise DataError(f"{path}: empty N-MNIST file (no events)")
    if raw.size % 5:
        raise DataError(f"{path}: {raw.size} bytes is not a whole number of 5-byte N-MNIST events (truncated?)")
    r = raw.reshape(-1, 5).astype(np.int64)
    x, y = r[:, 0], r[:, 1]
    p = (r[:, 2] >> 7) & 1
    t = ((r[:, 2] & 0x7F) << 16) | (r[:, 3] << 8) | r[:, 4]
    if overflow:
        marker = y == 240
        if marker.any():
            t = t + (np.cumsum(marker) << 13)
            keep = ~marker
            x, y, p, t = x[keep], y[keep], p[keep], t[keep]
    return make_events(t, x, p, y)


def write_nmnist(path: PathLike, events: np.ndarray) -> None:
    """Write camera events in the N-MNIST 5-byte format (timestamps < 2**23 µs)."""
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= 1 << 23):
        raise DataError("N-MNIST timestamps must lie in [0, 2**23) µs")
    out = np.empty((len(events), 5), np.uint8)
    out[:, 0], out[:, 1] = events["x"], events["y"]
    out[:, 2] = ((events["p"].astype(np.int64) & 1) << 7) | ((t >> 16) & 0x7F)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    out.tofile(path)


# ----------------------------------------------------------------------------- Prophesee DAT
def _skip_percent_header(buf: bytes) -> int:
    pos = 0
    while pos < len(buf) and buf[pos : pos + 1] == b"%":
        nl = buf.find(b"\n", pos)
        if nl < 0:
            raise DataError("header line without a newline")
        pos = nl + 1
    return pos


def _header_size(buf: bytes, default: tuple[int, int]) -> tuple[int, int]:
    w, h = default
    for line in buf[: _skip_percent_header(buf)].decode("latin-1").splitlines():
        parts = line.lstrip("% ").split()
        if len(parts) >= 2 and parts[0].lower() == "width":
            w = int(parts[1])
        elif len(parts) >= 2 and parts[0].lower() == "height":
            h = int(parts[1])
        elif parts and parts[0] == "format" and len(parts) > 1 and ";" in parts[1]:
            for kv in parts[1].split(";"):
                if kv.startswith("width="):
                    w = int(kv[6:])
                elif kv.startswith("height="):
                    h = int(kv[7:])
        elif parts and parts[0] == "geometry" and len(parts) > 1 and "x" in parts[1]:
            w, h = (int(v) for v in parts[1].split("x"))
    return w, h


def read_prophesee_dat(path: PathLike) -> EventStream:
    """Decode a Prophesee DAT file: ``%`` header lines, 2 bytes (type, size), then 8-byte events.

    Each event is a little-endian ``uint32`` timestamp (µs, with wrap-around detection) and a
    ``uint32`` with x in bits 0-13, y in bits 14-27 and polarity in bits 28-31.
    """
    buf = Path(path).read_bytes()
    try:
        pos = _skip_percent_header(buf)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    if len(buf) < pos + 2:
        raise DataError(f"{path}: DAT file ends inside its header")
    ev_type, ev_size = buf[pos], buf[pos + 1]
    if ev_size != 8:
        raise DataError(f"{path}: DAT event size {ev_size} is not 8 (event type {ev_type}); not a CD event file")
    body = np.frombuffer(buf, dtype="<u4", offset=pos + 2, count=(len(buf) - pos - 2) // 4)
    if (len(buf) - pos - 2) % 8:
        raise DataError(f"{path}: DAT payload of {len(buf) - pos - 2} bytes is not a whole number of 8-byte events")
    ts = body[0::2].astype(np.int64)
    data = body[1::2].astype(np.int64)
    wraps = np.concatenate([[0], np.cumsum(np.diff(ts) < 0)])
    t = ts + (wraps << 32)
    x, y = data & 0x3FFF, (data >> 14) & 0x3FFF
    w, h = _header_size(buf, (int(x.max()) + 1 if len(x) else 0, int(y.max()) + 1 if len(y) else 0))
    ev = make_events(t, x, (data >> 28) & 0xF, y)
    return EventStream(ev, (w, h, 2), "prophesee_dat", str(path))


# ----------------------------------------------------------------------------- EVT2 / EVT3 / AEDAT4
def read_prophesee_raw(path: PathLike, encoding: str | None = None) -> EventStream:
    """Decode a Prophesee RAW file (EVT 2.0 or EVT 3.0, from its ``% evt`` header) with expelliarmus."""
    try:
        from expelliarmus import Wizard
    except ImportError as e:
        raise DataError(f"{path}: reading EVT2/EVT3 needs the expelliarmus package (pip install expelliarmus)") from e
    head = Path(path).read_bytes()[:4096]
    if encoding is None:
        text = head[: _skip_percent_header(head) if head[:1] == b"%" else 0].decode("latin-1").lower()
        if "evt 3" in text or "evt3" in text:
            encoding = "evt3"
        elif "evt 2" in text or "evt2" in text:
            encoding = "evt2"
        else:
            raise DataError(f"{path}: RAW header names no EVT 2.0/3.0 encoding; pass encoding='evt2' or 'evt3'")
    arr = Wizard(encoding=encoding, fpath=str(path)).read()
    ev = make_events(arr["t"], arr["x"], arr["p"], arr["y"])
    w, h = _header_size(head, (int(ev["x"].max()) + 1 if len(ev) else 0, int(ev["y"].max()) + 1 if len(ev) else 0))
    return EventStream(ev, (w, h, 2), f"prophesee_{encoding}", str(path))


def read_aedat4(path: PathLike) -> EventStream:
    """Concatenate the event packets of the first event stream of an AEDAT 4 file (via ``aedat``)."""
    try:
        import aedat
    except ImportError as e:
        raise DataError(f"{path}: reading AEDAT4 needs the aedat package (pip install aedat)") from e
    try:
        dec = aedat.Decoder(str(path))
        streams = dec.id_to_stream()
        ev_ids = sorted(i for i, s in streams.items() if s["type"] == "events")
        if not ev_ids:
            raise DataError(f"{path}: AEDAT4 file has no event stream")
        sid = ev_ids[0]
        parts = [pkt["events"] for pkt in dec if pkt["stream_id"] == sid and "events" in pkt]
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: corrupt or truncated AEDAT4 file ({e})") from None
    raw = np.concatenate(parts) if parts else np.zeros(0, [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    ev = make_events(raw["t"].astype(np.int64), raw["x"], raw["on"].astype(np.int8), raw["y"])
    return EventStream(ev, (int(streams[sid]["width"]), int(streams[sid]["height"]), 2), "aedat4", str(path))


# ----------------------------------------------------------------------------- MNIST IDX, WAV
def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (MNIST images or labels), gzipped or not, checking its header."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise DataError(f"{path}: unknown IDX element type 0x{data[2]:02x}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dt = np.dtype(dtypes[data[2]])
    need = 4 + 4 * ndim + int(np.prod(shape)) * dt.itemsize
    if len(data) != need:
        raise DataError(f"{path}: IDX file holds {len(data)} bytes, its header promises {need} (truncated?)")
    return np.frombuffer(data, dtype=dt, offset=4 + 4 * ndim).reshape(shape).astype(dt.newbyteorder("="))


def read_wav(path: PathLike) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV file."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable WAV file ({e})") from None
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / np.iinfo(data.dtype).max
    elif data.dtype.kind == "u":
        data = (data.astype(np.float32) - 128) / 128
    data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(1)
    return data, int(rate)


# ----------------------------------------------------------------------------- detection
def detect_format(path: PathLike) -> str:
    """The event format of ``path`` from its first bytes (and extension for headerless N-MNIST)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    head = p.read_bytes()[:4096]
    if head.startswith(b"#!AER-DAT4"):
        return "aedat4"
    if head.startswith(b"#!AER-DAT"):
        raise DataError(f"{p}: AEDAT 2/3 files are not supported; convert to AEDAT 4 (dv-processing)")
    if head.startswith(b"\x89HDF"):
        return "shd_hdf5"
    if head.startswith(b"%"):
        text = head.decode("latin-1").lower()
        if "evt 3" in text or "evt 2" in text or "evt3" in text or "evt2" in text:
            return "prophesee_raw"
        return "prophesee_dat"
    if p.suffix.lower() == ".bin":
        return "nmnist"
    if p.suffix.lower() == ".raw":
        return "prophesee_raw"
    raise DataError(f"{p}: unknown event format (expected AEDAT4, Prophesee DAT/RAW, N-MNIST .bin or SHD .h5)")


def read_events(path: PathLike) -> EventStream:
    """Read any supported event file; format detected from its content."""
    fmt = detect_format(path)
    if fmt == "aedat4":
        return read_aedat4(path)
    if fmt == "prophesee_dat":
        return read_prophesee_dat(path)
    if fmt == "prophesee_raw":
        return read_prophesee_raw(path)
    if fmt == "nmnist":
        ev = read_nmnist(path)
        return EventStream(ev, (34, 34, 2), "nmnist", str(path))
    from neuro.datasets.shd import read_shd_sample

    return read_shd_sample(path, 0)


__all__ = [
    "CAMERA_DTYPE",
    "detect_format",
    "read_aedat4",
    "read_events",
    "read_idx",
    "read_nmnist",
    "read_prophesee_dat",
    "read_prophesee_raw",
    "read_wav",
    "write_nmnist",
]
