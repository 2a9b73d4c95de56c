"""SHD/SSC HDF5 files: read the official layout and write files in it.

Layout: ``spikes/times`` (ragged float16 seconds), ``spikes/units`` (ragged ints, channel
0..699), ``labels``, ``extra/keys`` (class names), ``extra/speaker``.  Times are upcast to
float64 before scaling to microseconds (float16 * 1e6 overflows).

A corrupt HDF5 file can make the HDF5 library loop forever or allocate without bound while it
reads ragged (variable-length) data, and no Python-level timeout can interrupt it.  So before
h5py reads anything, :class:`ShdFile` checks the layout: the datasets, their dtypes and shapes,
and for ragged datasets every element's length and global-heap object against the file size.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np

from neuro.datasets.events import EventStream, check_stream, make_events
from neuro.errors import DataError

N_CHANNELS = 700

_FIXED_SLACK = 64  # chunked (possibly compressed) fixed-size data may be at most this many times the file size


class _Layout:
    """Checks of one open HDF5 file against its size; raises :class:`DataError` naming ``path``."""

    def __init__(self, f: h5py.File, path: Path, size: int) -> None:
        self.f, self.path, self.size = f, path, size
        self.sizeof_addr, self.sizeof_size = f.id.get_create_plist().get_sizes()
        self._heaps: dict[int, dict[int, int]] = {}

    def fail(self, msg: str) -> DataError:
        return DataError(f"{self.path}: {msg}; the file is corrupt or not an SHD/SSC file (re-download it)")

    def dataset(self, key: str, kinds: str, ragged: bool) -> h5py.Dataset:
        """The checked 1-D dataset ``key`` whose (element) dtype kind is one of ``kinds``."""
        obj = self.f.get(key)
        if not isinstance(obj, h5py.Dataset):
            raise self.fail(f"'{key}' is missing or not a dataset")
        if obj.ndim != 1:
            raise self.fail(f"'{key}' has shape {obj.shape}, expected one dimension")
        base = h5py.check_vlen_dtype(obj.dtype)
        if ragged:
            if not isinstance(base, np.dtype) or base.kind not in kinds:
                raise self.fail(f"'{key}' is not a ragged dataset of kind {kinds!r} (dtype {base or obj.dtype})")
            self.ragged(obj)
        elif obj.dtype.kind == "O":  # variable-length strings live in the global heap too
            if h5py.check_string_dtype(obj.dtype) is None or "S" not in kinds:
                raise self.fail(f"'{key}' has an unexpected variable-length dtype")
            self.ragged(obj)
        elif obj.dtype.kind not in kinds:
            raise self.fail(f"'{key}' has dtype {obj.dtype}, expected kind {kinds!r}")
        else:
            self.fixed(obj)
        return obj

    def fixed(self, d: h5py.Dataset) -> None:
        """A fixed-size dataset's byte count must fit its storage and the file."""
        nbytes = int(np.prod(d.shape, dtype=object)) * d.dtype.itemsize
        layout = d.id.get_create_plist().get_layout()
        if layout == h5py.h5d.CONTIGUOUS:
            off = d.id.get_offset()
            if off is not None and (d.id.get_storage_size() != nbytes or off + nbytes > self.size):
                raise self.fail(f"'{d.name}' claims {nbytes} bytes that the file does not hold")
        elif nbytes > _FIXED_SLACK * self.size + (1 << 20):
            raise self.fail(f"'{d.name}' claims {nbytes} bytes, far more than the file's {self.size}")

    def _descriptors(self, d: h5py.Dataset) -> np.ndarray:
        """The on-disk ``(length, heap address, heap index)`` of every element of a ragged dataset."""
        desc = np.dtype([("n", "<u4"), ("addr", f"<u{self.sizeof_addr}"), ("idx", "<u4")])
        n = len(d)
        out = np.zeros(n, desc)
        dcpl = d.id.get_create_plist()
        layout = dcpl.get_layout()
        if layout == h5py.h5d.CONTIGUOUS:
            off = d.id.get_offset()
            if off is None:
                return out  # never written: every element is empty
            if off + n * desc.itemsize > self.size:
                raise self.fail(f"'{d.name}' has {n} elements that run past the end of the file")
            return np.fromfile(self.path, dtype=desc, count=n, offset=off)
        if layout != h5py.h5d.CHUNKED:
            raise self.fail(f"'{d.name}' uses an HDF5 storage layout that cannot be checked (not contiguous/chunked)")
        filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
        if any(fl != h5py.h5z.FILTER_DEFLATE for fl in filters):
            raise self.fail(f"'{d.name}' uses HDF5 filters {filters} that cannot be checked (only gzip is read)")
        chunk = dcpl.get_chunk()[0]
        for i in range(d.id.get_num_chunks()):
            info = d.id.get_chunk_info(i)
            start, stored = int(info.chunk_offset[0]), int(info.size)
            if start >= n or info.byte_offset + stored > self.size:
                raise self.fail(f"'{d.name}' chunk {i} lies outside the dataset or the file")
            with open(self.path, "rb") as fh:
                fh.seek(info.byte_offset)
                raw = fh.read(stored)
            want = chunk * desc.itemsize
            if filters and not info.filter_mask & 1:
                z = zlib.decompressobj()
                try:
                    raw = z.decompress(raw, want + 1)
                except zlib.error:
                    raise self.fail(f"'{d.name}' chunk {i} is not valid gzip data") from None
            if len(raw) != want:
                raise self.fail(f"'{d.name}' chunk {i} holds {len(raw)} bytes, expected {want}")
            m = min(chunk, n - start)
            out[start : start + m] = np.frombuffer(raw, dtype=desc, count=m)
        return out

    def _heap(self, addr: int) -> dict[int, int]:
        """Object index -> object size of the global heap collection at ``addr`` (its object headers walked)."""
        if addr in self._heaps:
            return self._heaps[addr]
        ss = self.sizeof_size
        objs: dict[int, int] = {}
        with open(self.path, "rb") as fh:
            fh.seek(addr)
            head = fh.read(8 + ss)
            if len(head) < 8 + ss or head[:4] != b"GCOL":
                raise self.fail(f"no global heap collection at byte {addr}")
            csize = int.from_bytes(head[8:], "little")
            if csize < 8 + ss or addr + csize > self.size:
                raise self.fail(f"global heap collection at byte {addr} claims {csize} bytes")
            p = 8 + ss
            while p + 8 + ss <= csize:
                fh.seek(addr + p)
                idx, _, _, osize = struct.unpack(f"<HHI{'Q' if ss == 8 else 'I'}", fh.read(8 + ss))
                if idx == 0:  # the free-space object ends the list
                    break
                end = p + 8 + ss + (osize + 7) // 8 * 8
                if end > csize or idx in objs:
                    raise self.fail(f"global heap collection at byte {addr} has a malformed object {idx}")
                objs[idx] = osize
                p = end
        self._heaps[addr] = objs
        return objs

    def ragged(self, d: h5py.Dataset) -> np.ndarray:
        """Check every element of a ragged dataset against its heap object; return the element lengths."""
        desc = self._descriptors(d)
        base = h5py.check_vlen_dtype(d.dtype)
        itemsize = base.itemsize if isinstance(base, np.dtype) else 1  # strings: bytes
        n = desc["n"].astype(np.int64)
        if int(n.sum()) * itemsize > self.size:
            raise self.fail(f"'{d.name}' claims {int(n.sum()) * itemsize} bytes of data in a {self.size}-byte file")
        for k in np.flatnonzero(n):
            objs = self._heap(int(desc["addr"][k]))
            if objs.get(int(desc["idx"][k])) != int(n[k]) * itemsize:
                raise self.fail(f"'{d.name}' element {k} ({int(n[k])} values) does not match its heap object")
        return n


class ShdFile:
    """Random access to the samples of one SHD/SSC HDF5 file (opened lazily, picklable).

    The layout is validated on construction (see the module docstring); :meth:`events` checks
    each sample's values (finite, non-negative times; channels below :data:`N_CHANNELS`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
        except OSError as e:
            raise DataError(f"{self.path}: cannot read the file ({e.strerror or e})") from None
        try:
            with h5py.File(self.path, "r") as f:
                lay = _Layout(f, self.path, size)
                times = lay.dataset("spikes/times", "f", ragged=True)
                units = lay.dataset("spikes/units", "iu", ragged=True)
                labels = lay.dataset("labels", "iu", ragged=False)
                if not (len(times) == len(units) == len(labels)):
                    raise DataError(
                        f"{self.path}: {len(times)} time lists, {len(units)} unit lists and {len(labels)} labels"
                    )
                self.labels = np.asarray(labels[()]).astype(np.int64)
                self.keys = []
                if "extra/keys" in f:
                    raw = lay.dataset("extra/keys", "SU", ragged=False)[()]
                    try:
                        self.keys = [k.decode() if isinstance(k, bytes) else str(k) for k in raw]
                    except UnicodeDecodeError:
                        raise DataError(f"{self.path}: 'extra/keys' holds class names that are not UTF-8") from None
                self.speakers = (np.asarray(lay.dataset("extra/speaker", "iu", ragged=False)[()]).astype(np.int64)
                                 if "extra/speaker" in f else None)
        except DataError:
            raise
        except (OSError, KeyError, RuntimeError, ValueError, TypeError) as e:
            raise DataError(f"{self.path}: not a readable SHD/SSC HDF5 file ({e}); re-download it") from None
        if len(self.labels) and (self.labels.min() < 0 or (self.keys and self.labels.max() >= len(self.keys))):
            raise DataError(f"{self.path}: labels in [{self.labels.min()}, {self.labels.max()}] but "
                            f"{len(self.keys)} class names")
        if self.speakers is not None and len(self.speakers) != len(self.labels):
            raise DataError(f"{self.path}: {len(self.speakers)} speakers for {len(self.labels)} samples")
        self._f: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict:
        d = dict(self.__dict__)
        d["_f"] = None
        return d

    def events(self, index: int) -> np.ndarray:
        """Audio events (t µs, x channel, p=0) of sample ``index``, sorted by time."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.path}: sample {index} out of range ({len(self)} samples)")
        try:
            if self._f is None:
                self._f = h5py.File(self.path, "r")
            times = np.asarray(self._f["spikes/times"][index]).astype(np.float64)  # upcast before scaling
            units = np.asarray(self._f["spikes/units"][index]).astype(np.int64)
        except (OSError, KeyError, RuntimeError, ValueError, TypeError) as e:
            raise DataError(f"{self.path}: sample {index} cannot be read ({e}); re-download the file") from None
        if times.shape != units.shape:
            raise DataError(f"{self.path}: sample {index} has {times.size} times but {units.size} units")
        if len(times) and not (np.isfinite(times).all() and times.min() >= 0):
            raise DataError(f"{self.path}: sample {index} has negative or non-finite spike times (corrupt file)")
        if len(units) and units.max() >= N_CHANNELS:
            raise DataError(f"{self.path}: sample {index} has channel {int(units.max())}; SHD/SSC have "
                            f"{N_CHANNELS} channels (0..{N_CHANNELS - 1})")
        order = np.argsort(times, kind="stable")
        return make_events(np.round(times[order] * 1e6).astype(np.int64), units[order])


def read_shd_sample(path: str | os.PathLike[str], index: int) -> EventStream:
    """One sample of an SHD/SSC file as an :class:`EventStream`."""
    f = ShdFile(path)
    if len(f) == 0:
        raise DataError(f"{path}: the file holds no samples")
    return check_stream(EventStream(f.events(index), (N_CHANNELS, 1, 1), "shd_hdf5", str(path)), True)


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
