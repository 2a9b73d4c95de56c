"""Cut recordings into windows: slicers and a dataset of slices.

The slicers follow tonic's slicer protocol (``get_slice_metadata``, ``slice_with_metadata``,
``slice``), so they also plug into ``tonic.SlicedDataset``, and tonic's slicers plug into
:class:`SlicedDataset`.  They take a structured event array (neuro's or tonic's layout) or an
:class:`~neuro.datasets.events.EventStream` (slices are then streams too).  Events must be in
time order (every reader returns them so); times are integer µs, exact for absolute timestamps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from neuro.datasets.transforms import _positive, _times, _unwrap, _wrap
from neuro.errors import ConfigError, DataError


def _sorted_times(events: np.ndarray, who: str) -> np.ndarray:
    t = _times(events)
    if len(t) > 1 and (np.diff(t) < 0).any():
        k = int(np.argmax(np.diff(t) < 0)) + 1
        raise DataError(f"{who}: events are not in time order (event {k} at {int(t[k])} µs follows "
                        f"{int(t[k - 1])} µs); sort them by t first")
    return t


class _Slicer:
    """Shared part of the slicers: metadata is a list of ``(start, stop)`` event indices."""

    def get_slice_metadata(self, data, targets: Any = None) -> list[tuple[int, int]]:
        raise NotImplementedError

    @staticmethod
    def slice_with_metadata(data, targets: Any, metadata: list[tuple[int, int]]) -> tuple[list, Any]:
        """The slices named by ``metadata`` (and ``targets`` unchanged)."""
        events, stream = _unwrap(data)
        return [_wrap(stream, events[int(a):int(b)]) for a, b in metadata], targets

    def slice(self, data, targets: Any = None) -> tuple[list, Any]:
        """All slices of ``data`` (and ``targets`` unchanged)."""
        return self.slice_with_metadata(data, targets, self.get_slice_metadata(data, targets))


@dataclass(frozen=True)
class SliceByTime(_Slicer):
    """Windows of ``time_window`` µs, each starting ``time_window - overlap`` µs after the previous,
    from the first event; window ``k`` holds the events with ``start_k <= t < start_k + time_window``.
    A trailing window shorter than ``time_window`` is kept only with ``include_incomplete``; a
    recording shorter than one window gives one slice.  Same windows as tonic's ``SliceByTime``."""

    time_window: int
    overlap: int = 0
    include_incomplete: bool = False

    def __post_init__(self) -> None:
        _positive(self.time_window, "time_window", "SliceByTime")
        if not (isinstance(self.overlap, int | np.integer) and 0 <= self.overlap < self.time_window):
            raise ConfigError(f"SliceByTime overlap must be an integer in [0, time_window), got {self.overlap!r}")

    def get_slice_metadata(self, data, targets: Any = None) -> list[tuple[int, int]]:
        events, _ = _unwrap(data)
        t = _sorted_times(events, "SliceByTime")
        if len(t) == 0:
            return [(0, 0)]
        stride = self.time_window - self.overlap
        rest = int(t[-1] - t[0]) - self.time_window
        n = (-(-rest // stride) if self.include_incomplete else rest // stride) + 1
        starts = int(t[0]) + np.arange(max(n, 1), dtype=np.int64) * stride
        a = np.searchsorted(t, starts, side="left")
        b = np.searchsorted(t, starts + self.time_window, side="left")
        return [(int(i), int(j)) for i, j in zip(a, b, strict=True)]


@dataclass(frozen=True)
class SliceByEventCount(_Slicer):
    """Slices of ``event_count`` events, each starting ``event_count - overlap`` events after the
    previous; a shorter trailing slice is kept only with ``include_incomplete``.  A recording with
    fewer events gives one slice of all of them.  Same slices as tonic's ``SliceByEventCount``."""

    event_count: int
    overlap: int = 0
    include_incomplete: bool = False

    def __post_init__(self) -> None:
        _positive(self.event_count, "event_count", "SliceByEventCount")
        if not (isinstance(self.overlap, int | np.integer) and 0 <= self.overlap < self.event_count):
            raise ConfigError(f"SliceByEventCount overlap must be an integer in [0, event_count), got {self.overlap!r}")

    def get_slice_metadata(self, data, targets: Any = None) -> list[tuple[int, int]]:
        events, _ = _unwrap(data)
        n_ev = len(events)
        count = min(self.event_count, n_ev)
        stride = self.event_count - self.overlap
        rest = n_ev - count
        n = (-(-rest // stride) if self.include_incomplete else rest // stride) + 1
        starts = np.arange(n) * stride
        return [(int(a), int(min(a + count, n_ev))) for a in starts]


class SlicedDataset(Dataset):
    """Every slice of every recording of ``dataset`` as its own item ``(transform(slice), label)``.

    ``slicer`` is one of :class:`SliceByTime`, :class:`SliceByEventCount` or any object with
    tonic's slicer protocol (tonic's own slicers included).  The slice boundaries are computed once,
    reading each recording; items then read their recording again and cut it."""

    def __init__(self, dataset, slicer, transform: Callable | None = None) -> None:
        if not (hasattr(slicer, "get_slice_metadata") and hasattr(slicer, "slice_with_metadata")):
            raise ConfigError(f"SlicedDataset slicer {slicer!r} has no get_slice_metadata/slice_with_metadata "
                              "(use SliceByTime, SliceByEventCount or a tonic slicer)")
        self.dataset, self.slicer, self.transform = dataset, slicer, transform
        self.metadata: list[list[tuple[int, int]]] = []
        labels = []
        for i in range(len(dataset)):
            x, y = dataset[i]
            self.metadata.append(slicer.get_slice_metadata(x, y))
            labels.append(y)
        self.index = [(i, k) for i, meta in enumerate(self.metadata) for k in range(len(meta))]
        self.targets = [labels[i] for i, _ in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, j: int):
        i, k = self.index[j]
        x, y = self.dataset[i]
        parts, y = self.slicer.slice_with_metadata(x, y, [self.metadata[i][k]])
        x = parts[0]
        return (self.transform(x) if self.transform is not None else x), y
