"""Event streams: numpy structured arrays with named fields, plus their sensor size.

Camera events have fields ``x, y, t, p``; audio (cochlea) events have ``t, x, p`` with ``x``
the channel.  ``t`` is always in microseconds (int64).  :class:`EventStream` pairs the array
with the sensor size ``(width, height, polarities)`` (audio: ``(channels, 1, 1)``) and the
format it was read from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuro.errors import DataError

CAMERA_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
AUDIO_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("p", np.int8)])


def make_events(t, x, p=None, y=None) -> np.ndarray:
    """Build a structured array (camera dtype when ``y`` is given, audio dtype otherwise)."""
    t = np.asarray(t, dtype=np.int64)
    n = t.shape[0]
    p = np.zeros(n, np.int8) if p is None else np.asarray(p)
    if y is None:
        ev = np.empty(n, AUDIO_DTYPE)
    else:
        ev = np.empty(n, CAMERA_DTYPE)
        ev["y"] = y
    ev["t"], ev["x"], ev["p"] = t, x, p
    return ev


@dataclass
class EventStream:
    """Events read from a file: the structured array, the sensor size and the detected format."""

    events: np.ndarray
    sensor_size: tuple[int, int, int]
    format: str
    path: str = ""

    @property
    def duration_us(self) -> int:
        e = self.events
        return int(e["t"][-1] - e["t"][0]) if len(e) else 0

    def check_bounds(self) -> None:
        """Raise if any event lies outside the sensor."""
        check_in_sensor(self.events, self.sensor_size, self.path)


def check_in_sensor(events: np.ndarray, sensor_size: tuple[int, int, int], where: str = "") -> None:
    """A clear error when events fall outside ``sensor_size`` (x < W, y < H, p < P)."""
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


def to_dense(events: np.ndarray, sensor_size: tuple[int, int, int], n_bins: int, t0: int | None = None,
             duration: int | None = None) -> np.ndarray:
    """Count events into frames ``[n_bins, P, H, W]`` (camera) or ``[n_bins, W]`` summed over polarity (audio).

    Bins are equal slices of ``[t0, t0 + duration)`` (default: the stream's own span).
    """
    W, H, P = sensor_size
    audio = "y" not in (events.dtype.names or ())
    shape = (n_bins, W) if audio else (n_bins, P, H, W)
    if len(events) == 0:
        return np.zeros(shape, np.float32)
    t = events["t"].astype(np.int64)
    t0 = int(t[0]) if t0 is None else t0
    span = int(t[-1] - t0) + 1 if duration is None else duration
    b = ((t - t0) * n_bins) // max(span, 1)
    keep = (b >= 0) & (b < n_bins)
    b = b[keep]
    if audio:
        idx = b * W + events["x"][keep].astype(np.int64)
    else:
        idx = ((b * P + events["p"][keep].astype(np.int64)) * H + events["y"][keep]) * W + events["x"][keep]
    return np.bincount(idx, minlength=int(np.prod(shape))).reshape(shape).astype(np.float32)


def to_sparse(events: np.ndarray, sensor_size: tuple[int, int, int], dt_us: int) -> torch.Tensor:
    """A torch sparse COO tensor ``[T, P, H, W]`` (camera) or ``[T, W]`` (audio) of counts per ``dt_us`` bin."""
    W, H, P = sensor_size
    audio = "y" not in (events.dtype.names or ())
    t = events["t"].astype(np.int64)
    b = (t - (t[0] if len(t) else 0)) // dt_us
    T = int(b.max()) + 1 if len(b) else 0
    if audio:
        idx = np.stack([b, events["x"]])
        shape = (T, W)
    else:
        idx = np.stack([b, events["p"], events["y"], events["x"]]).astype(np.int64)
        shape = (T, P, H, W)
    vals = torch.ones(len(events), dtype=torch.float32)
    idx_t = torch.from_numpy(idx.astype(np.int64))
    return torch.sparse_coo_tensor(idx_t, vals, shape, check_invariants=True).coalesce()
