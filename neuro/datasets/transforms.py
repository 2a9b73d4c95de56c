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
    (rounded up); :meth:`sensor_size_after` gives the new size for bare arrays (and
    :func:`sensor_size_after` for a whole :class:`Compose`).
    """

    spatial_factor: int = 1
    channel_factor: int = 1

    def __post_init__(self) -> None:
        _positive(self.spatial_factor, "spatial_factor", "Downsample")
        _positive(self.channel_factor, "channel_factor", "Downsample")

    def sensor_size_after(self, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
        """The sensor size after downsampling (rounded up); audio sensors are ``(channels, 1, 1)``."""
        W, H, P = sensor_size
        if H == 1 and P == 1:
            return -(-W // self.channel_factor), H, P
        f = self.spatial_factor
        return -(-W // f), -(-H // f), P

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


# ----------------------------------------------------------------------------- helpers for foreign layouts
def _times(events: np.ndarray) -> np.ndarray:
    """Timestamps as int64, whatever the field's dtype (tonic uses int64, uint64 or float)."""
    return events["t"].astype(np.int64)


def _camera(events: np.ndarray, who: str) -> None:
    if "y" not in (events.dtype.names or ()):
        raise ConfigError(f"{who} works on camera events (fields x, y, t, p); these have {events.dtype.names}")


def _probability(p: float, who: str) -> None:
    if not (isinstance(p, int | float) and 0 <= p <= 1):
        raise ConfigError(f"{who} p must be a probability in [0, 1], got {p!r}")


def _pair(size, who: str) -> tuple[int, int]:
    """``size`` as ``(width, height)``; an int means a square."""
    w, h = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if not all(isinstance(v, int | np.integer) and v >= 1 for v in (w, h)):
        raise ConfigError(f"{who} size must be a positive int or (width, height), got {size!r}")
    return int(w), int(h)


def sensor_size_after(transform: Callable, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """The sensor size events have after ``transform``; a :class:`Compose` (neuro's or tonic's) chains
    its members.

    neuro's transforms that change the sensor (:class:`Downsample`, crops, :class:`MergePolarities`)
    define ``sensor_size_after``; tonic's ``CenterCrop``, ``RandomCrop``, ``MergePolarities`` and
    ``Downsample`` are recognized; any other callable leaves the size unchanged."""
    members = getattr(transform, "transforms", None)
    if isinstance(members, list | tuple):
        for t in members:
            sensor_size = sensor_size_after(t, sensor_size)
        return tuple(sensor_size)
    own = getattr(transform, "sensor_size_after", None)
    if callable(own):
        return tuple(own(sensor_size))
    if type(transform).__module__.startswith("tonic."):
        return _tonic_sensor_after(transform, tuple(sensor_size))
    return tuple(sensor_size)


def _tonic_sensor_after(t, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """The sensor size after one of tonic's transforms that change it (others keep it)."""
    W, H, P = sensor_size
    name = type(t).__name__
    if name == "CenterCrop":
        size = t.size
        w, h = (size, size) if isinstance(size, int) else size
        return int(w), int(h), P
    if name == "RandomCrop":
        return int(t.target_size[0]), int(t.target_size[1]), P
    if name == "MergePolarities":
        return W, H, 1
    if name == "Downsample":  # x * factor, stored into an integer field (truncated)
        if t.target_size is not None:
            return int(t.target_size[0]), int(t.target_size[1]), P
        f = t.spatial_factor if isinstance(t.spatial_factor, tuple) else (t.spatial_factor, t.spatial_factor)
        return int((W - 1) * f[0]) + 1, int((H - 1) * f[1]) + 1, P
    return sensor_size


# ----------------------------------------------------------------------------- crops and flips
def _crop(events, stream, x0: int, y0: int, w: int, h: int):
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    out = events[(x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)].copy()
    out["x"] -= x0
    out["y"] -= y0
    return _wrap(stream, out, (w, h, stream.sensor_size[2]) if stream is not None else None)


def _crop_window(events, sensor_size, size, name: str):
    """``(events, stream, W, H, w, h)``: camera events unwrapped, their sensor ``W x H`` and a crop
    ``w x h`` that fits in it (else a ``ConfigError`` naming ``name``)."""
    events, stream = _unwrap(events)
    _camera(events, name)
    W, H, _ = _sensor(sensor_size, stream, name)
    w, h = _pair(size, name)
    if w > W or h > H:
        raise ConfigError(f"{name} size {(w, h)} is larger than the sensor {(W, H)}")
    return events, stream, W, H, w, h


@dataclass
class CenterCrop:
    """Keep the central ``size`` (int or ``(width, height)``) pixels; coordinates are shifted so the
    crop starts at 0 and a stream's sensor size becomes the crop.  The crop starts at
    ``((W - w) // 2, (H - h) // 2)``, as tonic's ``CenterCrop``."""

    sensor_size: tuple[int, int, int] | None = None
    size: int | tuple[int, int] = 32

    def __post_init__(self) -> None:
        _pair(self.size, "CenterCrop")

    def sensor_size_after(self, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
        w, h = _pair(self.size, "CenterCrop")
        return w, h, sensor_size[2]

    def __call__(self, events):
        events, stream, W, H, w, h = _crop_window(events, self.sensor_size, self.size, "CenterCrop")
        return _crop(events, stream, (W - w) // 2, (H - h) // 2, w, h)


@dataclass
class RandomCrop:
    """Keep a ``size`` window at a uniformly random position (drawn per call from ``seed``); coordinates
    are shifted to start at 0 and a stream's sensor size becomes the window."""

    sensor_size: tuple[int, int, int] | None = None
    size: int | tuple[int, int] = 32
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _pair(self.size, "RandomCrop")
        self._rng = _rng(self.seed)

    def sensor_size_after(self, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
        w, h = _pair(self.size, "RandomCrop")
        return w, h, sensor_size[2]

    def __call__(self, events):
        events, stream, W, H, w, h = _crop_window(events, self.sensor_size, self.size, "RandomCrop")
        x0, y0 = int(self._rng.integers(0, W - w + 1)), int(self._rng.integers(0, H - h + 1))
        return _crop(events, stream, x0, y0, w, h)


@dataclass
class _RandomFlip:
    """Base of the flips: with probability ``p`` per call (drawn from ``seed``) apply :meth:`_flip`."""

    sensor_size: tuple[int, int, int] | None = None
    p: float = 0.5
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _probability(self.p, type(self).__name__)
        self._rng = _rng(self.seed)

    def __call__(self, events):
        events, stream = _unwrap(events)
        if self._rng.random() >= self.p:
            return _wrap(stream, events)
        out = events.copy()
        self._flip(out, stream)
        return _wrap(stream, out)

    def _flip(self, out: np.ndarray, stream: EventStream | None) -> None:
        raise NotImplementedError


@dataclass
class RandomFlipLR(_RandomFlip):
    """Mirror left-right (``x -> W - 1 - x``) with probability ``p``."""

    def _flip(self, out, stream):
        W = _sensor(self.sensor_size, stream, "RandomFlipLR")[0]
        out["x"] = W - 1 - out["x"].astype(np.int64)


@dataclass
class RandomFlipUD(_RandomFlip):
    """Mirror up-down (``y -> H - 1 - y``) with probability ``p``."""

    def _flip(self, out, stream):
        _camera(out, "RandomFlipUD")
        H = _sensor(self.sensor_size, stream, "RandomFlipUD")[1]
        out["y"] = H - 1 - out["y"].astype(np.int64)


@dataclass
class RandomFlipPolarity(_RandomFlip):
    """Swap ON and OFF (``p -> 1 - p``; a boolean ``p`` is negated) with probability ``p``."""

    def _flip(self, out, stream):
        pol = out["p"]
        out["p"] = ~pol if pol.dtype == bool else 1 - pol.astype(np.int64)


@dataclass
class MergePolarities:
    """Set every polarity to 0; a stream's sensor size gets one polarity."""

    def sensor_size_after(self, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
        return sensor_size[0], sensor_size[1], 1

    def __call__(self, events):
        events, stream = _unwrap(events)
        out = events.copy()
        out["p"] = 0
        return _wrap(stream, out, self.sensor_size_after(stream.sensor_size) if stream is not None else None)


# ----------------------------------------------------------------------------- filters
def _pixel_key(events: np.ndarray) -> np.ndarray:
    """One int64 per pixel (camera) or channel (audio), for grouping."""
    x = events["x"].astype(np.int64)
    if "y" not in events.dtype.names:
        return x
    y = events["y"].astype(np.int64)
    return (y - int(y.min())) * (int(x.max()) - int(x.min()) + 1) + (x - int(x.min()))


def _per_pixel_order(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The permutation that groups events by pixel, in time order inside a pixel, and the grouped pixel keys."""
    key = _pixel_key(events)
    order = np.lexsort((np.arange(len(events)), _times(events), key))
    return order, key[order]


@dataclass
class RefractoryPeriod:
    """Drop an event when the previous event at its pixel (either polarity, kept or not) is at most
    ``delta`` µs earlier (tonic's rule: keep when ``t_n - t_{n-1} > delta``).  The first event of a
    pixel is always kept (tonic drops it when it lies at t = 0).  Events keep their order."""

    delta: int = 1000

    def __post_init__(self) -> None:
        if not (isinstance(self.delta, int | np.integer) and self.delta >= 0):
            raise ConfigError(f"RefractoryPeriod delta must be a non-negative integer (µs), got {self.delta!r}")

    def __call__(self, events):
        events, stream = _unwrap(events)
        if len(events) < 2:
            return _wrap(stream, events)
        order, key = _per_pixel_order(events)
        t = _times(events)[order]
        drop = np.zeros(len(events), bool)
        drop[1:] = (key[1:] == key[:-1]) & (t[1:] - t[:-1] <= self.delta)
        keep = np.ones(len(events), bool)
        keep[order[drop]] = False
        return _wrap(stream, events[keep])


@dataclass
class Decimation:
    """Keep every ``n``-th event of each pixel (its n-th, 2n-th, ... event in time order), as tonic's
    ``Decimation``.  Events keep their order."""

    n: int = 2

    def __post_init__(self) -> None:
        _positive(self.n, "n", "Decimation")

    def __call__(self, events):
        events, stream = _unwrap(events)
        if len(events) == 0:
            return _wrap(stream, events)
        order, key = _per_pixel_order(events)
        start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        rank = np.arange(len(key)) - np.repeat(start, np.diff(np.r_[start, len(key)]))
        keep = np.zeros(len(events), bool)
        keep[order[(rank + 1) % self.n == 0]] = True
        return _wrap(stream, events[keep])


@dataclass
class HotPixelFilter:
    """Drop every event of pixels that fire more than ``max_rate`` events per second on average over the
    recording (its first to last event), as tonic's ``DropPixel(hot_pixel_frequency=...)``; or, with
    ``max_events``, pixels with more than that many events.  ``hot_pixels(events)`` lists them."""

    max_rate: float | None = None
    max_events: int | None = None

    def __post_init__(self) -> None:
        if (self.max_rate is None) == (self.max_events is None):
            raise ConfigError("HotPixelFilter needs exactly one of max_rate= (events/s) or max_events=")
        for name in ("max_rate", "max_events"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and v >= 0):
                raise ConfigError(f"HotPixelFilter {name} must be a non-negative number, got {v!r}")

    def _hot(self, events: np.ndarray) -> np.ndarray:
        key = _pixel_key(events)
        uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        if self.max_events is not None:
            limit = float(self.max_events)
        else:
            t = _times(events)
            limit = self.max_rate * (int(t.max()) - int(t.min())) * 1e-6
        return (counts > limit)[inv]

    def hot_pixels(self, events) -> list[tuple[int, ...]]:
        """The ``(x, y)`` (audio: ``(x,)``) addresses this filter would silence, sorted."""
        events, _ = _unwrap(events)
        if len(events) == 0:
            return []
        hot = events[self._hot(events)]
        cols = [hot["x"].astype(np.int64)] + ([hot["y"].astype(np.int64)] if "y" in events.dtype.names else [])
        return sorted(set(zip(*(c.tolist() for c in cols), strict=True)))

    def __call__(self, events):
        events, stream = _unwrap(events)
        if len(events) == 0:
            return _wrap(stream, events)
        return _wrap(stream, events[~self._hot(events)])


# ----------------------------------------------------------------------------- time and noise
@dataclass
class TimeSkew:
    """Stretch time linearly: ``t -> origin + coefficient * (t - origin) + offset``, rounded to µs.

    The origin is ``t0`` (``"first"`` by default, so AEDAT4's absolute timestamps keep µs precision;
    ``t0="zero"`` is tonic's ``t * coefficient + offset``).  ``coefficient`` / ``offset`` may be a
    ``(low, high)`` range drawn uniformly per call from ``seed``.  Results must stay non-negative."""

    coefficient: float | tuple[float, float] = 1.0
    offset: int | tuple[int, int] = 0
    t0: TimeOrigin = "first"
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_origin(self.t0, "TimeSkew")
        self._rng = _rng(self.seed)

    def _draw(self, v):
        return self._rng.uniform(v[0], v[1]) if isinstance(v, tuple | list) else v

    def __call__(self, events):
        events, stream = _unwrap(events)
        coef, off = self._draw(self.coefficient), self._draw(self.offset)
        if not coef > 0:
            raise ConfigError(f"TimeSkew coefficient must be positive, got {coef!r}")
        if len(events) == 0:
            return _wrap(stream, events)
        t = _times(events)
        origin = _origin(self.t0, t)
        new = origin + np.round((t - origin) * coef + off).astype(np.int64)
        if new.min() < 0:
            raise ConfigError(f"TimeSkew(coefficient={coef}, offset={off}) gives negative timestamps "
                              f"(down to {int(new.min())} µs); use a larger offset")
        out = events.copy()
        out["t"] = new
        return _wrap(stream, out)


@dataclass
class UniformNoise:
    """Add ``n`` events uniformly distributed over the sensor (every pixel and polarity) and over the
    recording's time span ``[t_first, t_last]``; the result is sorted by time (stable, so at equal
    times recorded events come first).  ``sensor_size`` may be omitted for an :class:`EventStream`."""

    sensor_size: tuple[int, int, int] | None = None
    n: int = 1000
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.n, int | np.integer) and self.n >= 0):
            raise ConfigError(f"UniformNoise n must be a non-negative integer, got {self.n!r}")
        self._rng = _rng(self.seed)

    def __call__(self, events):
        events, stream = _unwrap(events)
        W, H, P = _sensor(self.sensor_size, stream, "UniformNoise")
        if len(events) == 0 or self.n == 0:
            return _wrap(stream, events)
        t = _times(events)
        noise = np.zeros(self.n, events.dtype)
        noise["t"] = self._rng.integers(int(t.min()), int(t.max()) + 1, self.n)
        noise["x"] = self._rng.integers(0, W, self.n)
        if "y" in events.dtype.names:
            noise["y"] = self._rng.integers(0, H, self.n)
        noise["p"] = self._rng.integers(0, P, self.n)
        out = np.concatenate([events, noise])
        return _wrap(stream, out[np.argsort(_times(out), kind="stable")])
