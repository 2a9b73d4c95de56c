"""SHD/SSC HDF5 files: read the official layout and write files in it.

Layout: ``spikes/times`` (ragged float16 seconds), ``spikes/units`` (ragged ints, channel
0..699), ``labels``, ``extra/keys`` (class names), ``extra/speaker``.  Times are upcast to
float64 before scaling to microseconds (float16 * 1e6 overflows).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from neuro.datasets.events import EventStream, make_events
from neuro.errors import DataError

N_CHANNELS = 700


class ShdFile:
    """Random access to the samples of one SHD/SSC HDF5 file (opened lazily, picklable)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            with h5py.File(self.path, "r") as f:
                for key in ("spikes/times", "spikes/units", "labels"):
                    if key not in f:
                        raise DataError(f"{self.path}: not an SHD/SSC file (missing '{key}')")
                self.labels = np.asarray(f["labels"][()]).astype(np.int64)
                n_times, n_units = len(f["spikes/times"]), len(f["spikes/units"])
                if not (n_times == n_units == len(self.labels)):
                    raise DataError(
                        f"{self.path}: {n_times} time lists, {n_units} unit lists and {len(self.labels)} labels"
                    )
                self.keys = [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"][()]] \
                    if "extra/keys" in f else []
                self.speakers = np.asarray(f["extra/speaker"][()]).astype(np.int64) if "extra/speaker" in f else None
        except OSError as e:
            raise DataError(f"{self.path}: not a readable HDF5 file ({e}); re-download it") from None
        self._f: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict:
        d = dict(self.__dict__)
        d["_f"] = None
        return d

    def events(self, index: int) -> np.ndarray:
        """Audio events (t µs, x channel, p=0) of sample ``index``."""
        if self._f is None:
            self._f = h5py.File(self.path, "r")
        times = np.asarray(self._f["spikes/times"][index]).astype(np.float64)  # upcast before scaling
        units = np.asarray(self._f["spikes/units"][index]).astype(np.int64)
        if times.shape != units.shape:
            raise DataError(f"{self.path}: sample {index} has {times.size} times but {units.size} units")
        order = np.argsort(times, kind="stable")
        return make_events(np.round(times[order] * 1e6).astype(np.int64), units[order])


def read_shd_sample(path: str | os.PathLike[str], index: int) -> EventStream:
    """One sample of an SHD/SSC file as an :class:`EventStream`."""
    f = ShdFile(path)
    return EventStream(f.events(index), (N_CHANNELS, 1, 1), "shd_hdf5", str(path))


def write_shd(path: str | os.PathLike[str], samples: list[np.ndarray], labels, keys: list[str],
              speakers=None) -> None:
    """Write audio events in the SHD HDF5 layout (ragged float16 seconds, uint16 units); atomic."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for k, ev in enumerate(samples):
            times[k] = (ev["t"].astype(np.float64) / 1e6).astype(np.float16)
            units[k] = ev["x"].astype(np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint8))
        f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        if speakers is not None:
            f.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint8))
    os.replace(tmp, path)
