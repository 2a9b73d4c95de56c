"""Event transforms, vectorized over events (no Python loop per event).

Each transform is a callable on a structured event array (see :mod:`neuro.datasets.events`)
or on the :class:`~neuro.datasets.events.EventStream` that :func:`~neuro.datasets.read_events`
returns.  Event transforms return the same kind they were given (a stream keeps its sensor size
and format; :class:`Downsample` shrinks the sensor size); the ``To*`` transforms return dense
frames.  Transforms have a stable ``repr`` that the tensor cache uses as part of its key.
Randomized transforms take a ``seed`` for reproducibility.

Time origin.  Timestamps are kept as the file stores them: N-MNIST, SHD and DAT count from the
start of the recording, AEDAT4 counts µs since 1970 (~1.6e15) and EVT files from the camera's
start.  Transforms that take times (:class:`ToFrame`, :class:`CropTime`) measure them from an
origin ``t0``: ``"first"`` (default: the earliest event of each sample), ``"zero"`` (time 0 as
stored) or an explicit number of µs.  Everything else works on time differences and is exact
for absolute timestamps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from neuro.datasets.events import EventStream, check_frame_budget, check_in_sensor, to_dense
from neuro.errors import ConfigError

TimeOrigin = str | int


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def _unwrap(events) -> tuple[np.ndarray, EventStream | None]:
    """The event array, and the stream it came in (or None for a bare array)."""
    if isinstance(events, EventStream):
        return events.events, events
    return events, None


def _wrap(stream: EventStream | None, ev: np.ndarray, sensor_size: tuple[int, int, int] | None = None):
    """``ev`` in the same kind of container as the input."""
    if stream is None:
        return ev
    return dataclasses.replace(stream, events=ev, sensor_size=sensor_size or stream.sensor_size)


def _sensor(own: tuple[int, int, int] | None, stream: EventStream | None, who: str) -> tuple[int, int, int]:
    """The transform's sensor size, else the stream's."""
    if own is not None:
        return tuple(own)
    if stream is None:
        raise ConfigError(f"{who} needs sensor_size= when given a bare event array (an EventStream carries its own)")
    return stream.sensor_size


def _check_origin(t0: TimeOrigin, who: str) -> None:
    if not (t0 in ("first", "zero") or (isinstance(t0, int | np.integer) and not isinstance(t0, bool))):
        raise ConfigError(f"{who} t0 must be 'first', 'zero' or a time in µs, got {t0!r}")


def _origin(t0: TimeOrigin, t: np.ndarray) -> int:
    """The time (µs) that ``t0`` names for timestamps ``t``."""
    if t0 == "first":
        return int(t.min()) if len(t) else 0
    return 0 if t0 == "zero" else int(t0)


def _positive(value, name: str, who: str) -> None:
    if value is not None and not (isinstance(value, int | np.integer) and value >= 1):
        raise ConfigError(f"{who} {name} must be a positive integer, got {value!r}")


@dataclass
class Compose:
    """Apply transforms in order."""

    transforms: Sequence[Callable]

    def __call__(self, events):
        for t in self.transforms:
            events = t(events)
        return events


@dataclass
class ToFrame:
    """Events to dense frames, by one of: ``time_window`` (µs per frame), ``event_count`` (events per
    frame) or ``n_time_bins`` (frames per stream).

    Camera events give ``[T, P, H, W]``; audio events ``[T, channels]``.  Frames start at the time
    origin ``t0`` (``"first"``: the earliest event; ``"zero"``: t = 0; or a number of µs; events
    before it are left out); a trailing partial window is kept.  ``sensor_size`` may be omitted for an
    :class:`EventStream`.  Frames that would not fit in memory (e.g. ``t0="zero"`` on AEDAT4's
    absolute timestamps) raise :class:`ConfigError` before anything is allocated.
    """

    sensor_size: tuple[int, int, int] | None = None
    time_window: int | None = None
    event_count: int | None = None
    n_time_bins: int | None = None
    t0: TimeOrigin = "first"

    def __post_init__(self) -> None:
        given = [v is not None for v in (self.time_window, self.event_count, self.n_time_bins)]
        if sum(given) != 1:
            raise ConfigError("ToFrame needs exactly one of time_window=, event_count=, n_time_bins=")
        for name in ("time_window", "event_count", "n_time_bins"):
            _positive(getattr(self, name), name, "ToFrame")
        _check_origin(self.t0, "ToFrame")

    def __call__(self, events) -> np.ndarray:
        events, stream = _unwrap(events)
        sensor = _sensor(self.sensor_size, stream, "ToFrame")
        if len(events) == 0:
            return to_dense(events, sensor, self.n_time_bins or 1)
        t = events["t"]
        start, last = _origin(self.t0, t), int(t.max())
        hint = ""
        if self.t0 == "zero" and int(t.min()) > 1 << 40:
            hint = (f"the first event is at t={int(t.min())} µs, an absolute timestamp (AEDAT4 counts µs since "
                    "1970): use t0='first' or an explicit t0=<µs>")
        if self.n_time_bins is not None:
            return to_dense(events, sensor, self.n_time_bins, t0=start, duration=max(last - start + 1, 1))
        W, H, P = sensor
        if self.time_window is not None:
            n = max((last - start) // self.time_window + 1, 1)
            check_frame_budget((n, W) if "y" not in events.dtype.names else (n, P, H, W), "ToFrame", hint)
            return to_dense(events, sensor, n, t0=start, duration=n * self.time_window)
        # event_count: frame k holds events [k*count, (k+1)*count) of those at or after the origin
        check_in_sensor(events, sensor, "ToFrame")  # the other branches check inside to_dense
        events = events[t >= start]
        k = np.arange(len(events)) // self.event_count
        n = int(k[-1]) + 1 if len(k) else 1
        audio = "y" not in events.dtype.names
        if audio:
            idx = k * W + events["x"]
            shape: tuple[int, ...] = (n, W)
        else:
            idx = ((k * P + events["p"]) * H + events["y"]) * W + events["x"]
            shape = (n, P, H, W)
        check_frame_budget(shape, "ToFrame")
        return np.bincount(idx.astype(np.int64), minlength=int(np.prod(shape))).reshape(shape).astype(np.float32)


@dataclass
class Downsample:
    """Spatial (camera) or channel (audio) downsampling by integer factors; events keep their times.

    For audio, ``channel_factor=5`` maps 700 SHD channels to 140 (each new channel is the union
    of 5 neighbours, so binned counts are their sums).  A stream's sensor size shrinks to match
    (rounded up).
    """

    spatial_factor: int = 1
    channel_factor: int = 1

    def __post_init__(self) -> None:
        _positive(self.spatial_factor, "spatial_factor", "Downsample")
        _positive(self.channel_factor, "channel_factor", "Downsample")

    def __call__(self, events):
        events, stream = _unwrap(events)
        out = events.copy()
        if "y" in events.dtype.names:
            f = self.spatial_factor
            out["x"] //= f
            out["y"] //= f
        else:
            f = self.channel_factor
            out["x"] //= f
        sensor = None
        if stream is not None:
            W, H, P = stream.sensor_size
            sensor = (-(-W // f), -(-H // f), P) if "y" in events.dtype.names else (-(-W // f), H, P)
        return _wrap(stream, out, sensor)


@dataclass
class Denoise:
    """Drop events with no other event at their pixel or its 8 neighbours (camera; audio: the channel
    and its 2 neighbours) during the preceding ``filter_time`` µs: an event at time t is kept when
    some event in that neighbourhood has a time in ``[t - filter_time, t)`` (a background-activity
    filter).  Events at the same time do not support each other.  Exact for any timestamps
    (AEDAT4's absolute ones included); ``sensor_size`` may be omitted for an :class:`EventStream`.
    """

    sensor_size: tuple[int, int, int] | None = None
    filter_time: int = 10_000

    def __post_init__(self) -> None:
        if not (isinstance(self.filter_time, int | np.integer) and self.filter_time >= 0):
            raise ConfigError(f"Denoise filter_time must be a non-negative integer (µs), got {self.filter_time!r}")

    def __call__(self, events):
        events, stream = _unwrap(events)
        if len(events) == 0:
            return _wrap(stream, events)
        W, H, _ = sensor = _sensor(self.sensor_size, stream, "Denoise")
        check_in_sensor(events, sensor, "Denoise")
        audio = "y" not in events.dtype.names
        x = events["x"].astype(np.int64)
        y = np.zeros_like(x) if audio else events["y"].astype(np.int64)
        t = events["t"].astype(np.int64)
        # search keys (pixel, time rank): ranks instead of raw times keep the key small for any timestamps
        uniq, rank = np.unique(t, return_inverse=True)
        span = len(uniq) + 1
        pix = y * W + x
        order = np.lexsort((rank, pix))
        sp, st = pix[order], t[order]
        key_all = sp * span + rank[order]
        keep = np.zeros(len(events), bool)
        Hh = 1 if audio else H
        offsets = [(dx, 0) for dx in (-1, 0, 1)] if audio else [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        for dx, dy in offsets:
            px, py = x + dx, y + dy
            valid = (px >= 0) & (px < W) & (py >= 0) & (py < Hh)
            dst = py * W + px
            # the last event at the neighbour with a strictly smaller time
            pos = np.searchsorted(key_all, dst * span + rank, side="left") - 1
            ok = valid & (pos >= 0)
            pos = np.clip(pos, 0, None)
            ok &= sp[pos] == dst
            keep |= ok & (t - st[pos] <= self.filter_time)
        return _wrap(stream, events[keep])


@dataclass
class TimeJitter:
    """Add Gaussian noise (std ``std`` µs) to timestamps, clip at 0 and re-sort."""

    std: float = 100.0
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = _rng(self.seed)

    def __call__(self, events):
        events, stream = _unwrap(events)
        out = events.copy()
        out["t"] = np.maximum(out["t"] + np.round(self._rng.normal(0, self.std, len(out))).astype(np.int64), 0)
        return _wrap(stream, out[np.argsort(out["t"], kind="stable")])


@dataclass
class SpatialJitter:
    """Move each event by Gaussian noise (std in pixels / channels), dropping those that leave the sensor.

    ``sensor_size`` may be omitted for an :class:`EventStream`."""

    sensor_size: tuple[int, int, int] | None = None
    std: float = 1.0
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = _rng(self.seed)

    def __call__(self, events):
        events, stream = _unwrap(events)
        W, H, _ = _sensor(self.sensor_size, stream, "SpatialJitter")
        out = events.copy()
        x = out["x"] + np.round(self._rng.normal(0, self.std, len(out))).astype(np.int64)
        keep = (x >= 0) & (x < W)
        if "y" in out.dtype.names:
            y = out["y"] + np.round(self._rng.normal(0, self.std, len(out))).astype(np.int64)
            keep &= (y >= 0) & (y < H)
            out["y"] = np.clip(y, 0, H - 1)
        out["x"] = np.clip(x, 0, W - 1)
        return _wrap(stream, out[keep])


@dataclass
class DropEvent:
    """Drop each event independently with probability ``p``."""

    p: float = 0.1
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.p <= 1:
            raise ConfigError(f"DropEvent probability must be in [0, 1], got {self.p}")
        self._rng = _rng(self.seed)

    def __call__(self, events):
        events, stream = _unwrap(events)
        return _wrap(stream, events[self._rng.random(len(events)) >= self.p])


@dataclass
class ChannelShift:
    """Shift all channels (audio ``x``) of a sample by one random integer in ``[-max_shift, max_shift]``,
    dropping events pushed off the ends (the SHD augmentation of the top results)."""

    n_channels: int = 700
    max_shift: int = 40
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = _rng(self.seed)

    def __call__(self, events):
        events, stream = _unwrap(events)
        s = int(self._rng.integers(-self.max_shift, self.max_shift + 1))
        out = events.copy()
        x = out["x"].astype(np.int64) + s
        keep = (x >= 0) & (x < self.n_channels)
        out["x"] = np.clip(x, 0, self.n_channels - 1)
        return _wrap(stream, out[keep])


@dataclass
class CropTime:
    """Keep events with ``min <= t - origin < max`` (µs), the origin set by ``t0``: ``"first"``
    (default: the earliest event, so ``CropTime(0, 100_000)`` keeps a sample's first 100 ms whatever
    its clock), ``"zero"`` (the timestamps as stored) or an explicit time in µs."""

    min: int = 0
    max: int | None = None
    t0: TimeOrigin = "first"

    def __post_init__(self) -> None:
        _check_origin(self.t0, "CropTime")
        if self.max is not None and self.max < self.min:
            raise ConfigError(f"CropTime max ({self.max}) is smaller than min ({self.min})")

    def __call__(self, events):
        events, stream = _unwrap(events)
        t = events["t"]
        rel = t - _origin(self.t0, t)
        keep = rel >= self.min
        if self.max is not None:
            keep &= rel < self.max
        return _wrap(stream, events[keep])
