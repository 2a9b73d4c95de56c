"""Event transforms, vectorized over events (no Python loop per event).

Each transform is a callable on a structured event array (see :mod:`neuro.datasets.events`)
that returns a new array, except the ``To*`` transforms that return dense frames.  Transforms
have a stable ``repr`` that the tensor cache uses as part of its key.  Randomized transforms
take a ``seed`` (or a ``numpy.random.Generator``) for reproducibility.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from neuro.datasets.events import to_dense
from neuro.errors import ConfigError


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


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

    Camera events give ``[T, P, H, W]``; audio events ``[T, channels]``.  Frames start at the first
    event (``t0="first"``) or at time 0 (``t0="zero"``); a trailing partial window is kept.
    """

    sensor_size: tuple[int, int, int]
    time_window: int | None = None
    event_count: int | None = None
    n_time_bins: int | None = None
    t0: str = "first"

    def __post_init__(self) -> None:
        given = [v is not None for v in (self.time_window, self.event_count, self.n_time_bins)]
        if sum(given) != 1:
            raise ConfigError("ToFrame needs exactly one of time_window=, event_count=, n_time_bins=")
        if self.t0 not in ("first", "zero"):
            raise ConfigError("ToFrame t0 must be 'first' or 'zero'")

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if len(events) == 0:
            n = self.n_time_bins or 1
            return to_dense(events, self.sensor_size, n)
        start = int(events["t"][0]) if self.t0 == "first" else 0
        if self.n_time_bins is not None:
            return to_dense(events, self.sensor_size, self.n_time_bins, t0=start,
                            duration=int(events["t"][-1]) - start + 1)
        if self.time_window is not None:
            n = int((int(events["t"][-1]) - start) // self.time_window) + 1
            return to_dense(events, self.sensor_size, n, t0=start, duration=n * self.time_window)
        # event_count: frame k holds events [k*count, (k+1)*count)
        W, H, P = self.sensor_size
        k = np.arange(len(events)) // self.event_count
        n = int(k[-1]) + 1
        audio = "y" not in events.dtype.names
        if audio:
            idx = k * W + events["x"]
            shape: tuple[int, ...] = (n, W)
        else:
            idx = ((k * P + events["p"]) * H + events["y"]) * W + events["x"]
            shape = (n, P, H, W)
        return np.bincount(idx.astype(np.int64), minlength=int(np.prod(shape))).reshape(shape).astype(np.float32)


@dataclass
class Downsample:
    """Spatial (camera) or channel (audio) downsampling by integer factors; events keep their times.

    For audio, ``channel_factor=5`` maps 700 SHD channels to 140 (each new channel is the union
    of 5 neighbours, so binned counts are their sums).
    """

    spatial_factor: int = 1
    channel_factor: int = 1

    def __call__(self, events: np.ndarray) -> np.ndarray:
        out = events.copy()
        if "y" in events.dtype.names:
            out["x"] //= self.spatial_factor
            out["y"] //= self.spatial_factor
        else:
            out["x"] //= self.channel_factor
        return out


@dataclass
class Denoise:
    """Drop events with no other event in their 3x3 (camera) or 3-channel (audio) neighbourhood
    during the preceding ``filter_time`` µs (a background-activity filter)."""

    sensor_size: tuple[int, int, int]
    filter_time: int = 10_000

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if len(events) == 0:
            return events
        W, H, _ = self.sensor_size
        audio = "y" not in events.dtype.names
        x = events["x"].astype(np.int64)
        y = np.zeros_like(x) if audio else events["y"].astype(np.int64)
        t = events["t"].astype(np.int64)
        keep = np.zeros(len(events), bool)
        offsets = [(dx, 0) for dx in (-1, 0, 1)] if audio else [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        Hh = 1 if audio else H
        for dx, dy in offsets:
            # the latest previous event at each (x+dx, y+dy): sort by pixel then time, look back one
            px, py = x + dx, y + dy
            valid = (px >= 0) & (px < W) & (py >= 0) & (py < Hh)
            pix_src = y * W + x
            pix_dst = np.where(valid, py * W + px, -1)
            order = np.lexsort((t, pix_src))
            sp, st = pix_src[order], t[order]
            # for each event: index of the last event at pixel pix_dst with time < t (strictly earlier)
            key_all = sp * (t.max() + 2) + st
            q = pix_dst * (t.max() + 2) + t
            pos = np.searchsorted(key_all, q, side="left") - 1
            ok = valid & (pos >= 0)
            prev_pix = np.where(ok, sp[np.clip(pos, 0, None)], -2)
            prev_t = np.where(ok, st[np.clip(pos, 0, None)], -(10**18))
            keep |= ok & (prev_pix == pix_dst) & (t - prev_t <= self.filter_time) & (t - prev_t > 0)
        return events[keep]


@dataclass
class TimeJitter:
    """Add Gaussian noise (std ``std`` µs) to timestamps, clip at 0 and re-sort."""

    std: float = 100.0
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = _rng(self.seed)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        out = events.copy()
        out["t"] = np.maximum(out["t"] + np.round(self._rng.normal(0, self.std, len(out))).astype(np.int64), 0)
        return out[np.argsort(out["t"], kind="stable")]


@dataclass
class SpatialJitter:
    """Move each event by Gaussian noise (std in pixels / channels), dropping those that leave the sensor."""

    sensor_size: tuple[int, int, int]
    std: float = 1.0
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = _rng(self.seed)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        W, H, _ = self.sensor_size
        out = events.copy()
        x = out["x"] + np.round(self._rng.normal(0, self.std, len(out))).astype(np.int64)
        keep = (x >= 0) & (x < W)
        if "y" in out.dtype.names:
            y = out["y"] + np.round(self._rng.normal(0, self.std, len(out))).astype(np.int64)
            keep &= (y >= 0) & (y < H)
            out["y"] = np.clip(y, 0, H - 1)
        out["x"] = np.clip(x, 0, W - 1)
        return out[keep]


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

    def __call__(self, events: np.ndarray) -> np.ndarray:
        return events[self._rng.random(len(events)) >= self.p]


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

    def __call__(self, events: np.ndarray) -> np.ndarray:
        s = int(self._rng.integers(-self.max_shift, self.max_shift + 1))
        out = events.copy()
        x = out["x"].astype(np.int64) + s
        keep = (x >= 0) & (x < self.n_channels)
        out["x"] = np.clip(x, 0, self.n_channels - 1)
        return out[keep]


@dataclass
class CropTime:
    """Keep events with ``min <= t < max`` (µs)."""

    min: int = 0
    max: int | None = None

    def __call__(self, events: np.ndarray) -> np.ndarray:
        t = events["t"]
        keep = t >= self.min
        if self.max is not None:
            keep &= t < self.max
        return events[keep]
