"""Readers for the real event formats, MNIST IDX and WAV.

Every reader raises :class:`neuro.errors.DataError` naming the file and the problem for
truncated or corrupt input.  :func:`read_events` detects the format from the file's content
(and extension) and returns an :class:`EventStream`.
"""

from __future__ import annotations

import gzip
import os
import stat
import struct
from pathlib import Path

import numpy as np

from neuro.datasets.aedat_legacy import read_aedat2, read_aedat3
from neuro.datasets.events import CAMERA_DTYPE, EventStream, check_in_sensor, check_stream, make_events
from neuro.errors import ConfigError, DataError

PathLike = str | os.PathLike[str]


# ----------------------------------------------------------------------------- shared checks
def _file_size(path: PathLike) -> int:
    """The size of a regular file, or a :class:`DataError` that says why it cannot be read."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{path}: not a regular file")
    return st.st_size


def _make(path: PathLike, t, x, p, y=None):
    """:func:`make_events` with the file named in its error."""
    try:
        return make_events(t, x, p, y)
    except DataError as e:
        raise DataError(f"{path}: {e} (corrupt file?)") from None


# ----------------------------------------------------------------------------- N-MNIST
def read_nmnist(path: PathLike, overflow: bool = True,
                sensor_size: tuple[int, int, int] | None = (34, 34, 2)) -> np.ndarray:
    """Decode an N-MNIST / ATIS ``.bin`` file (5-byte events) into camera events.

    Byte 0 = x, byte 1 = y, bit 7 of byte 2 = polarity, the other 23 bits = timestamp (µs).
    With ``overflow`` the ATIS marker rule applies: an event with ``y == 240`` adds 2**13 µs to
    every later timestamp and is dropped (N-MNIST files have none; N-Caltech101 uses them).
    Events outside ``sensor_size`` (N-MNIST: 34x34; pass the sensor of other ATIS datasets, or
    ``None`` to skip the check) raise :class:`DataError`.
    """
    _file_size(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e})") from None
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
    ev = make_events(t, x, p, y)
    if sensor_size is not None:
        check_in_sensor(ev, sensor_size, f"{path} (N-MNIST/ATIS sensor {sensor_size[0]}x{sensor_size[1]})")
    return ev


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


# ----------------------------------------------------------------------------- Prophesee headers
HEADER_LIMIT = 1 << 20
"""Longest ``%`` header a Prophesee file may have (bytes); real headers are a few KB."""


def read_percent_header(path: PathLike) -> tuple[bytes, int]:
    """The ``%`` header lines at the start of a Prophesee DAT/RAW file and the offset where data begins.

    Reads only the header (at most :data:`HEADER_LIMIT` bytes).  A file that ends inside a header
    line raises :class:`DataError` (decoders would otherwise look for its end forever).
    """
    _file_size(path)
    buf, pos, eof = b"", 0, False
    with open(path, "rb") as f:
        while True:
            if pos >= len(buf) and not eof:  # need the byte after the last full line
                more = f.read(65536)
                eof = not more
                buf += more
            if buf[pos : pos + 1] != b"%":
                return buf[:pos], pos
            nl = buf.find(b"\n", pos)
            while nl < 0 and not eof and len(buf) <= HEADER_LIMIT:
                more = f.read(65536)
                eof = not more
                buf += more
                nl = buf.find(b"\n", pos)
            if nl < 0:
                if len(buf) > HEADER_LIMIT:
                    raise DataError(f"{path}: header longer than {HEADER_LIMIT} bytes; not a Prophesee file")
                raise DataError(f"{path}: file ends inside its '%' header (truncated?)")
            pos = nl + 1
            if pos > HEADER_LIMIT:
                raise DataError(f"{path}: header longer than {HEADER_LIMIT} bytes; not a Prophesee file")


def _header_int(path: PathLike, key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(f"{path}: header field {key} = {value!r} is not an integer (corrupt header)") from None


def _header_size(path: PathLike, header: bytes) -> tuple[int | None, int | None]:
    """Width and height named by a Prophesee header (``% Width``, ``% geometry WxH``, ``% format ...;width=``)."""
    w = h = None
    for line in header.decode("latin-1").splitlines():
        parts = line.lstrip("% ").split()
        if len(parts) >= 2 and parts[0].lower() == "width":
            w = _header_int(path, "Width", parts[1])
        elif len(parts) >= 2 and parts[0].lower() == "height":
            h = _header_int(path, "Height", parts[1])
        elif parts and parts[0] == "format" and len(parts) > 1 and ";" in parts[1]:
            for kv in parts[1].split(";"):
                if kv.startswith("width="):
                    w = _header_int(path, "format width", kv[6:])
                elif kv.startswith("height="):
                    h = _header_int(path, "format height", kv[7:])
        elif parts and parts[0] == "geometry" and len(parts) > 1:
            wh = parts[1].split("x")
            if len(wh) != 2:
                raise DataError(f"{path}: header geometry {parts[1]!r} is not WIDTHxHEIGHT (corrupt header)")
            w, h = (_header_int(path, "geometry", v) for v in wh)
    for name, v in (("width", w), ("height", h)):
        if v is not None and not 0 < v <= 1 << 14:
            raise DataError(f"{path}: header sensor {name} {v} is not in [1, {1 << 14}] (corrupt header)")
    return w, h


def _sensor(path: PathLike, header: bytes, ev: np.ndarray, limit: int) -> tuple[int, int, int]:
    """The header's sensor size, else one pixel beyond the largest address (at most the format's ``limit``)."""
    w, h = _header_size(path, header)
    if len(ev) and (ev["x"].max() >= limit or ev["y"].max() >= limit):
        raise DataError(f"{path}: event address ({int(ev['x'].max())}, {int(ev['y'].max())}) beyond the "
                        f"format's {limit}x{limit} limit (corrupt file)")
    if w is None:
        w = int(ev["x"].max()) + 1 if len(ev) else 1
    if h is None:
        h = int(ev["y"].max()) + 1 if len(ev) else 1
    return w, h, 2


# ----------------------------------------------------------------------------- Prophesee DAT
def read_prophesee_dat(path: PathLike) -> EventStream:
    """Decode a Prophesee DAT file: ``%`` header lines, 2 bytes (type, size), then 8-byte events.

    Each event is a little-endian ``uint32`` timestamp (µs) and a ``uint32`` with x in bits 0-13,
    y in bits 14-27 and polarity in bits 28-31.  Events are in time order: a timestamp that drops
    by more than 2**31 µs is a 32-bit wrap-around (2**32 µs are added from there on); a smaller drop
    means a corrupt file and raises :class:`DataError`.
    """
    header, pos = read_percent_header(path)
    size = _file_size(path)
    if size < pos + 2:
        raise DataError(f"{path}: DAT file ends inside its header")
    with open(path, "rb") as f:
        f.seek(pos)
        ev_type, ev_size = f.read(2)
    if ev_size != 8:
        raise DataError(f"{path}: DAT event size {ev_size} is not 8 (event type {ev_type}); not a CD event file")
    if (size - pos - 2) % 8:
        raise DataError(f"{path}: DAT payload of {size - pos - 2} bytes is not a whole number of 8-byte events")
    body = np.fromfile(path, dtype="<u4", offset=pos + 2)
    ts = body[0::2].astype(np.int64)
    data = body[1::2].astype(np.int64)
    step = np.diff(ts)
    back = np.flatnonzero((step < 0) & (step >= -(1 << 31)))
    if len(back):
        k = int(back[0]) + 1
        raise DataError(f"{path}: DAT timestamps go back in time at event {k} ({int(ts[k - 1])} -> {int(ts[k])} µs);"
                        " events are stored in time order, so the file is corrupt")
    wraps = np.concatenate([[0], np.cumsum(step < 0)])
    t = ts + (wraps << 32)
    x, y, p = data & 0x3FFF, (data >> 14) & 0x3FFF, (data >> 28) & 0xF
    if len(p) and p.max() > 1:
        k = int(np.argmax(p > 1))
        raise DataError(f"{path}: DAT event {k} has polarity {int(p[k])}; CD events have polarity 0 or 1")
    ev = _make(path, t, x, p, y)
    return check_stream(EventStream(ev, _sensor(path, header, ev, 1 << 14), "prophesee_dat", str(path)), True)


# ----------------------------------------------------------------------------- EVT2 / EVT3
_EVT = {  # word size, type shift, known word types, word types that carry CD events
    "evt2": (4, 28, (0x0, 0x1, 0x8, 0xA, 0xE, 0xF), (0x0, 0x1)),
    "evt3": (2, 12, (0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xC, 0xE, 0xF), (0x2, 0x4, 0x5)),
}


def _scan_evt(path: PathLike, encoding: str, offset: int, size: int) -> bool:
    """Check every word of an EVT body has a known type; True when some word carries CD events."""
    wsize, shift, known, cd = _EVT[encoding]
    n = (size - offset) // wsize
    if n == 0:
        return False
    words = np.memmap(path, dtype=f"<u{wsize}", mode="r", offset=offset, shape=(n,))
    lut = np.zeros(16, bool)
    lut[list(known)] = True
    any_cd = False
    step = 1 << 24
    for a in range(0, n, step):
        kinds = words[a : a + step] >> shift
        ok = lut[kinds]
        if not ok.all():
            k = a + int(np.argmin(ok))
            raise DataError(f"{path}: {encoding.upper()} word {k} (byte {offset + k * wsize}) has the unknown type "
                            f"0x{int(kinds[k - a]):x}; the file is corrupt or not {encoding.upper()}")
        any_cd = any_cd or bool(np.isin(kinds, cd).any())
    del words
    return any_cd


def read_prophesee_raw(path: PathLike, encoding: str | None = None) -> EventStream:
    """Decode a Prophesee RAW file (EVT 2.0 or EVT 3.0, from its ``% evt`` header) with expelliarmus.

    The header may be of any length up to :data:`HEADER_LIMIT`; every data word is checked for a
    known type before decoding, and the decoded events must lie inside the sensor.
    """
    try:
        from expelliarmus import Wizard
    except ImportError as e:
        raise DataError(f"{path}: reading EVT2/EVT3 needs the expelliarmus package (pip install expelliarmus)") from e
    header, pos = read_percent_header(path)
    if encoding is None:
        text = header.decode("latin-1").lower()
        if "evt 3" in text or "evt3" in text:
            encoding = "evt3"
        elif "evt 2" in text or "evt2" in text:
            encoding = "evt2"
        else:
            raise DataError(f"{path}: RAW header names no EVT 2.0/3.0 encoding; pass encoding='evt2' or 'evt3'")
    if encoding not in _EVT:
        raise ConfigError(f"RAW encoding must be 'evt2' or 'evt3', got {encoding!r}")
    if pos == 0:
        raise DataError(f"{path}: RAW file has no '%' header; EVT files start with header lines such as '% evt 3.0'")
    if Path(path).suffix.lower() != ".raw":
        raise DataError(f"{path}: EVT2/EVT3 files must end in .raw (the decoder, expelliarmus, requires it); "
                        "rename or copy the file")
    has_events = _scan_evt(path, encoding, pos, _file_size(path))
    try:
        arr = Wizard(encoding=encoding, fpath=str(path)).read()
    except (RuntimeError, OSError, ValueError) as e:
        raise DataError(f"{path}: corrupt {encoding.upper()} file ({e})") from None
    if arr is None:
        if has_events:
            raise DataError(f"{path}: the {encoding.upper()} decoder found no readable events (corrupt file?)")
        arr = np.zeros(0, [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    ev = _make(path, arr["t"], arr["x"], arr["p"], arr["y"])
    stream = EventStream(ev, _sensor(path, header, ev, 2048), f"prophesee_{encoding}", str(path))
    return check_stream(stream, False)


# ----------------------------------------------------------------------------- AEDAT4
AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"


def _u(buf: bytes, pos: int, fmt: str, path: PathLike, what: str):
    n = struct.calcsize(fmt)
    if pos < 0 or pos + n > len(buf):
        raise DataError(f"{path}: AEDAT4 header {what} points outside the header (corrupt file)")
    return struct.unpack_from(fmt, buf, pos)[0]


def _aedat4_ioheader(buf: bytes, path: PathLike) -> tuple[int, int, str]:
    """Verify the ``IOHE`` flatbuffer (compression, file_data_position, description) field by field.

    The ``aedat`` decoder reads this header without bounds checks, so a corrupt one must be caught here.
    """
    table = _u(buf, 0, "<I", path, "root offset")
    vtable = table - _u(buf, table, "<i", path, "table")
    vt_size = _u(buf, vtable, "<H", path, "vtable")
    tbl_size = _u(buf, vtable + 2, "<H", path, "vtable")
    if vt_size < 4 or vt_size % 2 or vtable + vt_size > len(buf) or table + tbl_size > len(buf):
        raise DataError(f"{path}: AEDAT4 header table is malformed (corrupt file)")

    def field(k: int, size: int) -> int | None:
        if 4 + 2 * k >= vt_size:
            return None
        off = _u(buf, vtable + 4 + 2 * k, "<H", path, "field")
        if off == 0:
            return None
        if off + size > tbl_size:
            raise DataError(f"{path}: AEDAT4 header field {k} lies outside its table (corrupt file)")
        return table + off

    at = field(0, 4)
    compression = 0 if at is None else _u(buf, at, "<i", path, "compression")
    if not 0 <= compression <= 4:
        raise DataError(f"{path}: AEDAT4 header names unknown compression {compression} (corrupt file)")
    at = field(1, 8)
    data_table = -1 if at is None else _u(buf, at, "<q", path, "file_data_position")
    at = field(2, 4)
    if at is None:
        raise DataError(f"{path}: AEDAT4 header has no stream description (corrupt file)")
    s = at + _u(buf, at, "<I", path, "description")
    n = _u(buf, s, "<I", path, "description")
    if s + 4 + n >= len(buf) or buf[s + 4 + n] != 0:
        raise DataError(f"{path}: AEDAT4 stream description runs past the header (corrupt file)")
    try:
        text = buf[s + 4 : s + 4 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: AEDAT4 stream description is not UTF-8 (corrupt file)") from None
    return compression, data_table, text


def _check_aedat4_layout(path: PathLike) -> None:
    """Walk the header and packet sizes of an AEDAT4 file against its size before ``aedat`` allocates them."""
    size = _file_size(path)
    with open(path, "rb") as f:
        if f.read(len(AEDAT4_MAGIC)) != AEDAT4_MAGIC:
            raise DataError(f"{path}: not an AEDAT 4.0 file (magic line missing)")
        raw = f.read(4)
        if len(raw) < 4:
            raise DataError(f"{path}: AEDAT4 file ends before its header (truncated?)")
        hlen = struct.unpack("<I", raw)[0]
        pos = len(AEDAT4_MAGIC) + 4
        if hlen > size - pos:
            raise DataError(f"{path}: AEDAT4 header declares {hlen} bytes but only {size - pos} follow "
                            "(truncated or corrupt file)")
        _, data_table, _ = _aedat4_ioheader(f.read(hlen), path)
        pos += hlen
        k = 0
        while not (data_table > -1 and pos == data_table) and size - pos >= 4:
            if size - pos < 8:
                raise DataError(f"{path}: AEDAT4 file ends inside the header of packet {k} (truncated?)")
            f.seek(pos)
            _, plen = struct.unpack("<II", f.read(8))
            if plen > size - pos - 8:
                raise DataError(f"{path}: AEDAT4 packet {k} at byte {pos} declares {plen} bytes but only "
                                f"{size - pos - 8} remain (truncated or corrupt file)")
            pos += 8 + plen
            k += 1


def _is_rust_panic(e: BaseException) -> bool:
    """True for ``pyo3_runtime.PanicException``: a Rust panic, which derives from BaseException."""
    return type(e).__name__ == "PanicException" and type(e).__module__ == "pyo3_runtime"


def read_aedat4(path: PathLike) -> EventStream:
    """Concatenate the event packets of the first event stream of an AEDAT 4 file (via ``aedat``).

    The header and every packet size are checked against the file before decoding; timestamps are
    kept as stored (AEDAT4 counts µs since 1970) and must not decrease.
    """
    try:
        import aedat
    except ImportError as e:
        raise DataError(f"{path}: reading AEDAT4 needs the aedat package (pip install aedat)") from e
    _check_aedat4_layout(path)
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
    except BaseException as e:
        if _is_rust_panic(e):
            raise DataError(f"{path}: corrupt AEDAT4 file (the aedat decoder failed: {e})") from None
        raise
    raw = np.concatenate(parts) if parts else np.zeros(0, [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    ev = _make(path, raw["t"].astype(np.int64), raw["x"], raw["on"].astype(np.int8), raw["y"])
    stream = EventStream(ev, (int(streams[sid]["width"]), int(streams[sid]["height"]), 2), "aedat4", str(path))
    return check_stream(stream, True)


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


def _check_riff(path: PathLike) -> None:
    """Walk the chunks of a RIFF/WAVE file: each declared size must fit in what follows (no huge allocations)."""
    size = _file_size(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            raise DataError(f"{path}: not a WAV file (no RIFF/WAVE header)")
        order = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while size - pos >= 8:
            f.seek(pos)
            cid, n = struct.unpack(f"{order}4sI", f.read(8))
            if n > size - pos - 8:
                raise DataError(f"{path}: WAV chunk {cid!r} at byte {pos} declares {n} bytes but only "
                                f"{size - pos - 8} remain (truncated or corrupt file)")
            pos += 8 + n + (n & 1)


def read_wav(path: PathLike) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the sample rate of a PCM WAV file (integer formats scaled to [-1, 1])."""
    from scipy.io import wavfile

    _check_riff(path)
    try:
        rate, data = wavfile.read(path)
    except MemoryError:
        raise
    except Exception as e:  # scipy's parser fails in many ways on corrupt headers
        raise DataError(f"{path}: not a readable WAV file ({type(e).__name__}: {e})") from None
    if int(rate) <= 0:
        raise DataError(f"{path}: WAV sample rate {rate} is not positive (corrupt header)")
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / np.iinfo(data.dtype).max
    elif data.dtype.kind == "u":
        data = (data.astype(np.float32) - 128) / 128
    data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(1)
    if data.ndim != 1 or not np.isfinite(data).all():
        raise DataError(f"{path}: WAV samples are not finite numbers (corrupt file)")
    return data, int(rate)


# ----------------------------------------------------------------------------- detection
def detect_format(path: PathLike) -> str:
    """The event format of ``path`` from its first bytes (and extension for headerless N-MNIST).

    Reads only the head of the file (and, for Prophesee files, their ``%`` header).
    """
    p = Path(path)
    _file_size(p)
    with open(p, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"#!AER-DAT4"):
        return "aedat4"
    if head.startswith((b"#!AER-DAT2", b"#!AER-DAT1")):
        return "aedat2"
    if head.startswith(b"#!AER-DAT3"):
        return "aedat3"
    if head.startswith(b"#!AER-DAT"):
        version = head[9:12].decode("latin-1", "replace")
        raise DataError(f"{p}: AEDAT version {version!r} is not supported (1.0, 2.0, 3.x and 4.0 are); "
                        "convert it with jAER or dv-processing")
    if head.startswith(b"\x89HDF"):
        return "shd_hdf5"
    if head.startswith(b"%"):
        text = read_percent_header(p)[0].decode("latin-1").lower()
        if "evt 3" in text or "evt 2" in text or "evt3" in text or "evt2" in text:
            return "prophesee_raw"
        return "prophesee_dat"
    if p.suffix.lower() == ".bin":
        return "nmnist"
    if p.suffix.lower() == ".raw":
        return "prophesee_raw"
    raise DataError(f"{p}: unknown event format (expected AEDAT 1-4, Prophesee DAT/RAW, N-MNIST .bin or SHD .h5)")


def read_events(path: PathLike) -> EventStream:
    """Read any supported event file; format detected from its content.

    Every reader validates what it decodes (events inside the sensor, polarity 0/1, timestamps
    non-negative and, for formats stored in time order, non-decreasing) and raises
    :class:`DataError` naming the file otherwise.  For SHD/SSC files this is sample 0.
    """
    fmt = detect_format(path)
    if fmt == "aedat4":
        return read_aedat4(path)
    if fmt == "aedat2":
        return read_aedat2(path)
    if fmt == "aedat3":
        return read_aedat3(path)
    if fmt == "prophesee_dat":
        return read_prophesee_dat(path)
    if fmt == "prophesee_raw":
        return read_prophesee_raw(path)
    if fmt == "nmnist":
        # read_nmnist checks the sensor; polarity (one bit) and time (unsigned) cannot be out of range
        return EventStream(read_nmnist(path), (34, 34, 2), "nmnist", str(path))
    from neuro.datasets.shd import read_shd_sample

    return read_shd_sample(path, 0)


__all__ = [
    "CAMERA_DTYPE",
    "detect_format",
    "read_aedat2",
    "read_aedat3",
    "read_aedat4",
    "read_events",
    "read_idx",
    "read_nmnist",
    "read_prophesee_dat",
    "read_percent_header",
    "read_prophesee_raw",
    "read_wav",
    "write_nmnist",
]
