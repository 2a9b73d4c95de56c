"""Readers for the jAER / cAER formats before AEDAT 4: AEDAT 1.0 and 2.0 (DVS128 and DAVIS
``.aedat``) and AEDAT 3.x (packet files, e.g. DVS Gesture's original recordings).

Both are decoded with numpy from the published layouts (inivation.gitlab.io/dv/dv-docs, "AEDAT
file formats") and every declared size is checked against the file before use; problems raise
:class:`~neuro.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from neuro.datasets.events import EventStream, check_stream, make_events
from neuro.errors import ConfigError, DataError

PathLike = str | os.PathLike[str]
HEADER_LIMIT = 1 << 20
"""Longest ``#`` header an AEDAT 2/3 file may have (bytes); real ones are a few KB (jAER stores its preferences)."""

# chip name (lower case, as in the header) -> (width, height)
CHIPS = {"dvs128": (128, 128), "davis240": (240, 180), "davis346": (346, 260), "davis640": (640, 480),
         "dvxplorer": (640, 480)}


def _read(path: PathLike) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from None


def _header(path: PathLike, buf: bytes, end_marker: bytes | None) -> tuple[list[str], int]:
    """The ``#`` header lines and the offset where binary data starts.

    AEDAT 3 ends its header with ``end_marker`` (``#!END-HEADER``); AEDAT 2 at the first line that
    does not start with ``#``."""
    lines, pos = [], 0
    while pos < len(buf) and buf[pos : pos + 1] == b"#":
        nl = buf.find(b"\n", pos, pos + HEADER_LIMIT)
        if nl < 0:
            raise DataError(f"{path}: file ends inside its '#' header (truncated?)")
        line = buf[pos:nl].rstrip(b"\r").decode("latin-1")
        lines.append(line)
        pos = nl + 1
        if pos > HEADER_LIMIT:
            raise DataError(f"{path}: header longer than {HEADER_LIMIT} bytes; not an AEDAT file")
        if end_marker is not None and line.encode("latin-1").startswith(end_marker):
            return lines, pos
    if end_marker is not None:
        raise DataError(f"{path}: AEDAT 3 header has no {end_marker.decode()} line (truncated or corrupt)")
    return lines, pos


def _chip(lines: list[str], key: str) -> str | None:
    for line in lines:
        if key.lower() in line.lower():
            low = line.lower()
            for name in CHIPS:
                if name in low:
                    return name
    return None


def _unwrap_time(path: PathLike, ts: np.ndarray, what: str) -> np.ndarray:
    """32-bit timestamps (as uint32 values) made monotonic: a drop of more than 2**31 µs is a wrap-around;
    a smaller drop means a corrupt file (or a timestamp reset, which these readers do not guess at)."""
    if len(ts) < 2:
        return ts
    step = np.diff(ts)
    back = np.flatnonzero((step < 0) & (step >= -(1 << 31)))
    if len(back):
        k = int(back[0]) + 1
        raise DataError(f"{path}: {what} timestamps go back in time at event {k} ({int(ts[k - 1])} -> {int(ts[k])} µs)"
                        "; events are stored in time order, so the file is corrupt (or its timestamps were reset)")
    return ts + (np.concatenate([[0], np.cumsum(step < 0)]) << 32)


# ----------------------------------------------------------------------------- AEDAT 2.0
def read_aedat2(path: PathLike, chip: str | None = None) -> EventStream:
    """Decode an AEDAT 2.0 (jAER) file: ``#`` header lines, then big-endian ``int32`` address and
    ``int32`` timestamp (µs) per event.  AEDAT 1.0 files (first line ``#!AER-DAT1.0``: a 16-bit
    address and a 32-bit timestamp, DVS128 only) are read too.

    The address layout depends on the camera, named by the header's ``AEChip`` line or ``chip=``
    (``"dvs128"``, ``"davis240"``, ``"davis346"``); without either, a file whose addresses all fit
    in 15 bits is read as DVS128.  DVS128: polarity in bit 0 (0 = ON), x in bits 1-7, y in bits
    8-14.  DAVIS: DVS events have bit 31 clear and bit 10 (external input) clear, polarity in bit 11,
    x in bits 12-21, y in bits 22-30; frame (APS) and IMU samples are skipped.  As jAER shows them,
    DVS128 x and DAVIS x and y count from the opposite edge to the raw address: neuro stores them
    flipped so that (0, 0) is the same corner as in AEDAT 4 recordings of the same camera.
    Timestamps wrap at 2**32 µs (handled); any other backward step raises :class:`DataError`.
    """
    buf = _read(path)
    if not buf.startswith((b"#!AER-DAT2", b"#!AER-DAT1")):
        raise DataError(f"{path}: not an AEDAT 2.0 file (no '#!AER-DAT2.0' first line)")
    version = 1 if buf.startswith(b"#!AER-DAT1") else 2
    size = 6 if version == 1 else 8
    lines, pos = _header(path, buf, None)
    if (len(buf) - pos) % size:
        raise DataError(f"{path}: AEDAT {version}.0 data of {len(buf) - pos} bytes is not a whole number of "
                        f"{size}-byte events (truncated?)")
    if chip is not None and chip.lower() not in CHIPS:
        raise ConfigError(f"AEDAT 2.0 chip must be one of {', '.join(CHIPS)}, got {chip!r}")
    if version == 1 and chip not in (None, "dvs128"):
        raise ConfigError(f"AEDAT 1.0 files hold DVS128 (16-bit) addresses; chip={chip!r} does not apply")
    body = np.frombuffer(buf, np.dtype([("a", ">u2" if version == 1 else ">u4"), ("t", ">u4")]), offset=pos)
    addr, ts = body["a"].astype(np.int64), body["t"].astype(np.int64)
    chip = "dvs128" if version == 1 else (chip or "").lower() or _chip(lines, "AEChip")
    if chip is None:
        if len(addr) and addr.max() >= 1 << 15:
            raise DataError(f"{path}: AEDAT 2.0 header names no camera (AEChip) and the addresses are not DVS128's "
                            "15-bit ones; pass chip='davis240' or 'davis346'")
        chip = "dvs128"
    W, H = CHIPS[chip]
    if chip == "dvs128":
        if len(addr) and addr.max() >= 1 << 15:
            k = int(np.argmax(addr >= 1 << 15))
            raise DataError(f"{path}: event {k} has the address 0x{int(addr[k]):x}, beyond DVS128's 15 bits "
                            "(corrupt file, or not a DVS128 recording: pass chip=)")
        x = (W - 1) - ((addr >> 1) & 0x7F)
        y = (addr >> 8) & 0x7F
        p = 1 - (addr & 1)
    else:
        dvs = ((addr >> 31) & 1 == 0) & ((addr >> 10) & 1 == 0)
        addr, ts = addr[dvs], ts[dvs]
        x = (W - 1) - ((addr >> 12) & 0x3FF)
        y = (H - 1) - ((addr >> 22) & 0x1FF)
        p = (addr >> 11) & 1
    t = _unwrap_time(path, ts, f"AEDAT {version}.0")
    ev = make_events(t, x, p, y)
    return check_stream(EventStream(ev, (W, H, 2), f"aedat{version}", str(path)), True)


# ----------------------------------------------------------------------------- AEDAT 3.x
_PACKET = struct.Struct("<hhiiiiii")  # type, source, size, ts offset, ts overflow, capacity, number, valid
POLARITY_EVENT = 1


def read_aedat3(path: PathLike) -> EventStream:
    """Decode the polarity events of an AEDAT 3.x (cAER) file.

    After the ``#`` header (ending in ``#!END-HEADER``) come packets: a 28-byte little-endian
    header (event type, source, event size, timestamp offset, timestamp overflow, capacity, number,
    valid) and ``capacity * size`` bytes of events.  Polarity events (type 1) are 8 bytes: a
    ``uint32`` with the valid flag in bit 0, polarity in bit 1, y in bits 2-16 and x in bits 17-31,
    and an ``int32`` timestamp whose high bits are the packet's overflow counter
    (``t = overflow << 31 | ts``).  Only valid events of the first source with polarity events are
    kept; the sensor size comes from its ``#Source`` header line (DVS128, DAVIS240/346/640,
    DVXplorer), else one past the largest address.
    """
    buf = _read(path)
    if not (buf.startswith(b"#!AER-DAT3.") and buf[11:12] in b"01"):
        raise DataError(f"{path}: not an AEDAT 3.x file (no '#!AER-DAT3.1' first line)")
    lines, pos = _header(path, buf, b"#!END-HEADER")
    parts: list[np.ndarray] = []
    overflows: list[np.ndarray] = []
    source = None
    k = 0
    while pos < len(buf):
        if len(buf) - pos < _PACKET.size:
            raise DataError(f"{path}: file ends inside the header of packet {k} (byte {pos}; truncated?)")
        etype, src, esize, tsoff, tsover, cap, num, valid = _PACKET.unpack_from(buf, pos)
        if esize <= 0 or cap < 0 or not 0 <= num <= cap or not 0 <= valid <= num or tsover < 0 or etype < 0:
            raise DataError(f"{path}: packet {k} at byte {pos} has an impossible header (type {etype}, size {esize}, "
                            f"capacity {cap}, number {num}, valid {valid}, overflow {tsover}); corrupt file")
        n_bytes = cap * esize
        if n_bytes > len(buf) - pos - _PACKET.size:
            raise DataError(f"{path}: packet {k} at byte {pos} declares {n_bytes} bytes of events but only "
                            f"{len(buf) - pos - _PACKET.size} remain (truncated or corrupt file)")
        start = pos + _PACKET.size
        if etype == POLARITY_EVENT and (source is None or src == source):
            if esize != 8 or tsoff != 4:
                raise DataError(f"{path}: polarity packet {k} has event size {esize} and timestamp offset {tsoff}; "
                                "AEDAT 3 polarity events are 8 bytes with the timestamp at byte 4 (corrupt file)")
            source = src
            words = np.frombuffer(buf, "<u4", count=2 * num, offset=start).reshape(-1, 2)
            parts.append(words)
            overflows.append(np.full(num, tsover, np.int64))
        pos = start + n_bytes
        k += 1
    words = np.concatenate(parts) if parts else np.zeros((0, 2), np.uint32)
    data = words[:, 0].astype(np.int64)
    ts = words[:, 1].astype(np.int64)
    over = np.concatenate(overflows) if overflows else np.zeros(0, np.int64)
    if len(ts) and ts.max() >= 1 << 31:
        i = int(np.argmax(ts >= 1 << 31))
        raise DataError(f"{path}: polarity event {i} has a negative timestamp; AEDAT 3 timestamps are 31-bit "
                        "(corrupt file)")
    ok = (data & 1) == 1
    data, t = data[ok], ((over << 31) | ts)[ok]
    x, y, p = (data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, (data >> 1) & 1
    ev = make_events(t, x, p, y)
    name = None
    for line in lines:
        if line.lower().startswith("#source") and (source is None or line.split(":")[0].split()[-1] == str(source)):
            name = _chip([line], "#source")
            break
    if name is not None:
        W, H = CHIPS[name]
    else:
        W = int(x.max()) + 1 if len(x) else 1
        H = int(y.max()) + 1 if len(y) else 1
    return check_stream(EventStream(ev, (W, H, 2), "aedat3", str(path)), True)


def write_aedat2(path: PathLike, events: np.ndarray, chip: str = "dvs128") -> None:
    """Write camera events as an AEDAT 2.0 DVS128 file (the inverse of :func:`read_aedat2`); for tests
    and for tools that only read jAER files.  Timestamps must lie in ``[0, 2**32)`` µs."""
    if chip != "dvs128":
        raise ConfigError(f"write_aedat2 writes DVS128 files only, got chip={chip!r}")
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= 1 << 32):
        raise DataError("AEDAT 2.0 timestamps must lie in [0, 2**32) µs")
    addr = (((127 - events["x"].astype(np.int64)) << 1) | (events["y"].astype(np.int64) << 8)
            | (1 - events["p"].astype(np.int64)))
    head = (b"#!AER-DAT2.0\r\n# This is a raw AE data file created by neuro\r\n"
            b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
            b"# Timestamps tick is 1 us\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n")
    body = np.stack([addr, t], 1).astype(">u4")
    with open(path, "wb") as f:
        f.write(head)
        f.write(body.tobytes())


def write_aedat3(path: PathLike, events: np.ndarray, source: str = "DVS128", packet_size: int = 4096) -> None:
    """Write camera events as an AEDAT 3.1 file of polarity packets (the inverse of :func:`read_aedat3`)."""
    t = events["t"].astype(np.int64)
    if len(t) and t.min() < 0:
        raise DataError("AEDAT 3 timestamps must be non-negative")
    data = ((events["x"].astype(np.int64) << 17) | (events["y"].astype(np.int64) << 2)
            | (events["p"].astype(np.int64) << 1) | 1)
    head = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n" + f"#Source 1: {source}\r\n".encode()
            + b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n")
    with open(path, "wb") as f:
        f.write(head)
        over = t >> 31
        for a in range(0, len(t), packet_size):
            b = a + packet_size
            # one overflow value per packet: split where it changes
            for ov in np.unique(over[a:b]):
                sel = slice(a, b)
                m = over[sel] == ov
                n = int(m.sum())
                f.write(_PACKET.pack(POLARITY_EVENT, 1, 8, 4, int(ov), n, n, n))
                words = np.stack([data[sel][m], t[sel][m] & 0x7FFFFFFF], 1).astype("<u4")
                f.write(words.tobytes())
