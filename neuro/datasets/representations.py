"""Dense representations of camera events beyond counts: voxel grids and time surfaces.

Both take a structured event array (neuro's or tonic's layout) or an
:class:`~neuro.datasets.events.EventStream`, measure times from the first event in integer µs
(exact for AEDAT4's absolute timestamps) and return float32 arrays that are time-major, so
:func:`~neuro.datasets.pad_time_major` batches them like frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuro.datasets.events import check_frame_budget, check_in_sensor
from neuro.datasets.transforms import _camera, _positive, _sensor, _times, _unwrap
from neuro.errors import ConfigError


@dataclass
class ToVoxelGrid:
    """Events to a voxel grid ``[n_time_bins, 1, H, W]`` (Zhu et al. 2019, bilinear in time).

    Each event adds its polarity (+1 ON, -1 OFF) to the two time bins around its normalized time
    ``tau = (n_time_bins - 1) * (t - t_first) / (t_last - t_first)``, weighted ``1 - |tau - k|``; the
    last event lands fully in the last bin.  (tonic's ``ToVoxelGrid`` scales by ``n_time_bins``
    instead, so its last event falls outside the grid and each bin covers a slightly different span.)
    ``sensor_size`` may be omitted for an :class:`~neuro.datasets.events.EventStream`.
    """

    sensor_size: tuple[int, int, int] | None = None
    n_time_bins: int = 10

    def __post_init__(self) -> None:
        _positive(self.n_time_bins, "n_time_bins", "ToVoxelGrid")

    def __call__(self, events) -> np.ndarray:
        events, stream = _unwrap(events)
        _camera(events, "ToVoxelGrid")
        W, H, _ = sensor = _sensor(self.sensor_size, stream, "ToVoxelGrid")
        n = self.n_time_bins
        check_frame_budget((n, 1, H, W), "ToVoxelGrid")
        grid = np.zeros(n * H * W, np.float64)
        if len(events):
            check_in_sensor(events, sensor, "ToVoxelGrid")
            t = _times(events)
            span = int(t.max()) - int(t.min())
            tau = (t - t.min()).astype(np.float64) * ((n - 1) / span) if span > 0 else np.zeros(len(t))
            k = np.minimum(np.floor(tau).astype(np.int64), n - 1)
            frac = tau - k
            pol = np.where(events["p"].astype(np.int64) > 0, 1.0, -1.0)
            pix = events["y"].astype(np.int64) * W + events["x"].astype(np.int64)
            np.add.at(grid, k * H * W + pix, pol * (1 - frac))
            up = k + 1 < n
            np.add.at(grid, (k[up] + 1) * H * W + pix[up], pol[up] * frac[up])
        return grid.reshape(n, 1, H, W).astype(np.float32)


@dataclass
class ToTimesurface:
    """Global time surfaces ``[n_windows, P, H, W]`` (Lagorce et al. 2016, over the whole sensor).

    Time is cut into windows of ``dt`` µs from the first event; at the end ``T_k`` of window ``k``
    each pixel and polarity holds ``exp(-(T_k - t_last) / tau)``, ``t_last`` its latest event up to
    then (0 if it has none yet).  Only whole windows are returned unless ``include_incomplete``,
    as tonic's ``ToTimesurface``, whose output this equals.  ``sensor_size`` may be omitted for an
    :class:`~neuro.datasets.events.EventStream`.
    """

    sensor_size: tuple[int, int, int] | None = None
    dt: int = 10_000
    tau: float = 5_000.0
    include_incomplete: bool = False

    def __post_init__(self) -> None:
        _positive(self.dt, "dt", "ToTimesurface")
        if not (isinstance(self.tau, int | float) and self.tau > 0):
            raise ConfigError(f"ToTimesurface tau must be a positive number of µs, got {self.tau!r}")

    def __call__(self, events) -> np.ndarray:
        events, stream = _unwrap(events)
        _camera(events, "ToTimesurface")
        W, H, P = sensor = _sensor(self.sensor_size, stream, "ToTimesurface")
        if len(events) == 0:
            return np.zeros((1, P, H, W), np.float32)
        check_in_sensor(events, sensor, "ToTimesurface")
        t = _times(events)
        rel = t - int(t.min())
        duration = int(rel.max())
        whole = (duration - self.dt) // self.dt + 1
        n = max(whole + (1 if self.include_incomplete and (duration - self.dt) % self.dt else 0), 1)
        check_frame_budget((n, P, H, W), "ToTimesurface")
        window = rel // self.dt
        inside = window < n
        cell = ((events["p"].astype(np.int64) * H + events["y"].astype(np.int64)) * W
                + events["x"].astype(np.int64))
        latest = np.full((n, P * H * W), -1, np.int64)  # latest event time in each window, -1: none
        np.maximum.at(latest, (window[inside], cell[inside]), rel[inside])
        latest = np.maximum.accumulate(latest, axis=0)
        ends = (np.arange(1, n + 1, dtype=np.int64) * self.dt)[:, None]
        surf = np.where(latest >= 0, np.exp(-(ends - latest) / self.tau), 0.0)
        return surf.reshape(n, P, H, W).astype(np.float32)
