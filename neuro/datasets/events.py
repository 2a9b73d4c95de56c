"""Event streams: numpy structured arrays with named fields, plus their sensor size.

Camera events have fields ``x, y, t, p``; audio (cochlea) events have ``t, x, p`` with ``x``
the channel.  ``t`` is always in microseconds (int64).  :class:`EventStream` pairs the array
with the sensor size ``(width, height, polarities)`` (audio: ``(channels, 1, 1)``) and the
format it was read from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from neuro.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch

CAMERA_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
AUDIO_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("p", np.int8)])


def make_events(t, x, p=None, y=None) -> np.ndarray:
    """Build a structured array (camera dtype when ``y`` is given, audio dtype otherwise).

    Values that do not fit their field (x, y: int16; p: int8) raise :class:`DataError` instead of
    wrapping around."""
    t = np.asarray(t, dtype=np.int64)
    n = t.shape[0]
    p = np.zeros(n, np.int8) if p is None else np.asarray(p)
    cols = {"x": np.asarray(x), "p": p} if y is None else {"x": np.asarray(x), "y": np.asarray(y), "p": p}
    ev = np.empty(n, AUDIO_DTYPE if y is None else CAMERA_DTYPE)
    for name, v in cols.items():
        info = np.iinfo(ev.dtype[name])
        if v.size and v.dtype.kind in "iub" and (int(v.min()) < info.min or int(v.max()) > info.max):
            raise DataError(f"event field {name} holds values in [{int(v.min())}, {int(v.max())}], "
                            f"outside its {ev.dtype[name]} range")
        ev[name] = v
    ev["t"] = t
    return ev


@dataclass
class EventStream:
    """Events read from a file: the structured array, the sensor size and the detected format.

    Every transform accepts an ``EventStream`` as well as a bare array (see
    :mod:`neuro.datasets.transforms`).
    """

    events: np.ndarray
    sensor_size: tuple[int, int, int]
    format: str
    path: str = ""

    @property
    def duration_us(self) -> int:
        """Time from the earliest to the latest event (never negative)."""
        t = self.events["t"]
        return int(t.max() - t.min()) if len(t) else 0

    def check_bounds(self) -> None:
        """Raise if any event lies outside the sensor."""
        check_in_sensor(self.events, self.sensor_size, self.path)


def check_sensor_size(sensor_size, where: str = "", limit: int = 1 << 16) -> tuple[int, int, int]:
    """``sensor_size`` as three positive ints no larger than ``limit``, or a :class:`DataError` naming ``where``."""
    try:
        W, H, P = (int(v) for v in sensor_size)
    except (TypeError, ValueError):
        raise DataError(f"{where or 'events'}: sensor size {sensor_size!r} is not three integers (W, H, P)") from None
    if not all(0 < v <= limit for v in (W, H, P)):
        raise DataError(f"{where or 'events'}: sensor size {(W, H, P)} must be positive and at most {limit}")
    return W, H, P


def check_in_sensor(events: np.ndarray, sensor_size: tuple[int, int, int], where: str = "") -> None:
    """A clear error when events fall outside ``sensor_size`` (0 <= x < W, 0 <= y < H, 0 <= p < P)."""
    W, H, P = sensor_size
    names = events.dtype.names or ()
    bad = []
    if len(events):
        if events["x"].min() < 0 or events["x"].max() >= W:
            bad.append(f"x in [{events['x'].min()}, {events['x'].max()}] but width is {W}")
        if "y" in names and (events["y"].min() < 0 or events["y"].max() >= H):
            bad.append(f"y in [{events['y'].min()}, {events['y'].max()}] but height is {H}")
        if events["p"].min() < 0 or events["p"].max() >= P:
            bad.append(f"p in [{events['p'].min()}, {events['p'].max()}] but {P} polarities")
    if bad:
        raise DataError(f"{where or 'events'}: events outside the sensor: " + "; ".join(bad))


def check_stream(stream: EventStream, monotonic: bool) -> EventStream:
    """Validate a reader's output: a positive sensor size, every event inside it, polarity in {0, 1},
    no negative timestamp and, where the format stores events in time order (``monotonic``),
    no timestamp smaller than the one before.  Raises :class:`DataError` naming the file."""
    where = stream.path or stream.format
    stream.sensor_size = check_sensor_size(stream.sensor_size, where)
    e = stream.events
    check_in_sensor(e, stream.sensor_size, where)
    if len(e) and e["p"].max() > 1:
        raise DataError(f"{where}: polarity {int(e['p'].max())} found; event polarities are 0 or 1")
    t = e["t"]
    if len(t) and t.min() < 0:
        k = int(np.argmax(t < 0))
        raise DataError(f"{where}: event {k} has the negative timestamp {int(t[k])} µs (corrupt file?)")
    if monotonic and len(t) > 1:
        down = np.flatnonzero(t[1:] < t[:-1])
        if len(down):
            k = int(down[0]) + 1
            raise DataError(f"{where}: timestamps go back in time at event {k} ({int(t[k - 1])} -> {int(t[k])} µs); "
                            f"{stream.format} files store events in time order, so the file is corrupt")
    return stream


def _bin_index(t: np.ndarray, t0: int, span: int, n_bins: int) -> np.ndarray:
    """``floor((t - t0) * n_bins / span)`` exactly, without int64 overflow for absolute timestamps."""
    d = t - t0
    if len(d) == 0:
        return d
    lo, hi = int(d.min()), int(d.max())
    if max(abs(lo), abs(hi)) * n_bins < (1 << 62):
        return (d * n_bins) // span
    q, r = np.divmod(d, span)  # r in [0, span): r * n_bins may still overflow, so finish in Python ints
    extra = np.array([(int(v) * n_bins) // span for v in r], dtype=np.int64)
    return q * n_bins + extra


def check_frame_budget(shape: tuple[int, ...], what: str, hint: str = "") -> None:
    """Refuse, before allocating, float32 frames of ``shape`` larger than this machine's memory."""
    need = 4
    for s in shape:
        need *= int(s)  # Python ints: no overflow
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 1 << 40
    if need > total:
        raise ConfigError(f"{what} would need {need / 2**30:,.1f} GiB of frames {tuple(int(s) for s in shape)}, "
                          f"more than this machine's {total / 2**30:,.1f} GiB{'; ' + hint if hint else ''}")


def to_dense(events: np.ndarray, sensor_size: tuple[int, int, int], n_bins: int, t0: int | None = None,
             duration: int | None = None) -> np.ndarray:
    """Count events into frames ``[n_bins, P, H, W]`` (camera) or ``[n_bins, W]`` summed over polarity (audio).

    Bins are equal slices of ``[t0, t0 + duration)`` (default: from the earliest to the latest event);
    events outside that span are left out.  Events outside ``sensor_size`` raise :class:`DataError`.
    """
    if isinstance(events, EventStream):
        events = events.events
    if int(n_bins) < 1:
        raise ConfigError(f"to_dense needs at least one bin, got n_bins={n_bins}")
    n_bins = int(n_bins)
    W, H, P = sensor_size
    audio = "y" not in (events.dtype.names or ())
    shape = (n_bins, W) if audio else (n_bins, P, H, W)
    check_frame_budget(shape, "to_dense")
    if len(events) == 0:
        return np.zeros(shape, np.float32)
    check_in_sensor(events, sensor_size, "to_dense")
    t = events["t"].astype(np.int64)
    t0 = int(t.min()) if t0 is None else int(t0)
    span = int(t.max()) - t0 + 1 if duration is None else int(duration)
    b = _bin_index(t, t0, max(span, 1), n_bins)
    keep = (b >= 0) & (b < n_bins)
    b = b[keep]
    if audio:
        idx = b * W + events["x"][keep].astype(np.int64)
    else:
        idx = ((b * P + events["p"][keep].astype(np.int64)) * H + events["y"][keep]) * W + events["x"][keep]
    return np.bincount(idx, minlength=int(np.prod(shape))).reshape(shape).astype(np.float32)


def to_sparse(events: np.ndarray, sensor_size: tuple[int, int, int], dt_us: int) -> torch.Tensor:
    """A torch sparse COO tensor ``[T, P, H, W]`` (camera) or ``[T, W]`` (audio) of counts per ``dt_us`` bin,
    bin 0 starting at the earliest event."""
    if isinstance(events, EventStream):
        events = events.events
    if int(dt_us) < 1:
        raise ConfigError(f"to_sparse needs dt_us >= 1, got {dt_us}")
    W, H, P = sensor_size
    audio = "y" not in (events.dtype.names or ())
    check_in_sensor(events, sensor_size, "to_sparse")
    t = events["t"].astype(np.int64)
    b = (t - (t.min() if len(t) else 0)) // int(dt_us)
    T = int(b.max()) + 1 if len(b) else 0
    if audio:
        idx = np.stack([b, events["x"]])
        shape = (T, W)
    else:
        idx = np.stack([b, events["p"], events["y"], events["x"]]).astype(np.int64)
        shape = (T, P, H, W)
    import torch  # here, so reading events does not import torch

    vals = torch.ones(len(events), dtype=torch.float32)
    idx_t = torch.from_numpy(idx.astype(np.int64))
    return torch.sparse_coo_tensor(idx_t, vals, shape, check_invariants=True).coalesce()
