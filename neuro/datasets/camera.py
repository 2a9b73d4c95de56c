"""Event-camera datasets: DVS Gesture, N-CARS, N-Caltech101, CIFAR10-DVS and ASL-DVS.

Each takes ``root=`` (default ``$NEURO_DATA_DIR``) and looks for the unpacked files under ``root``
or ``root/<NAME>``; ``download=True`` fetches the archive named in ``RESOURCES`` (md5-checked,
resumable, atomic; see :mod:`neuro.datasets.download`), unpacks it and any archives inside it.
Items are ``(events, label)``: a structured array in neuro's camera layout (``x, y, t, p``, ``t``
in µs), which tonic's transforms accept as well as neuro's, or whatever ``transform`` makes of
it.  Every recording is validated on reading (inside ``sensor_size``, polarity 0/1, times >= 0).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neuro.config import data_root
from neuro.datasets.aedat_legacy import read_aedat3
from neuro.datasets.download import download as fetch
from neuro.datasets.download import extract
from neuro.datasets.events import EventStream, check_stream, make_events
from neuro.datasets.public import _find, _Transformed
from neuro.datasets.readers import read_aedat4, read_nmnist, read_prophesee_dat
from neuro.errors import ConfigError, DataError, DatasetNotFoundError

PathLike = str | os.PathLike[str]


class CameraDataset(_Transformed):
    """Shared machinery: find or fetch a split's folder, list ``(file, label)``, read and validate.

    Subclasses set ``NAME``, ``sensor_size``, ``classes``, ``RESOURCES`` (split -> ``(url, file
    name, md5, folder it unpacks to, archives inside it to unpack)``) and implement ``_list`` and
    ``_read``."""

    NAME = ""
    sensor_size: tuple[int, int, int] = (1, 1, 2)
    classes: list[str] = []
    RESOURCES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {}
    SPLITS: tuple[str, ...] = ("train", "test")
    NESTED: tuple[str, ...] = ()  # folders between root/<NAME> and the split folder in some releases

    def __init__(self, root: PathLike | None = None, split: str = "train", transform: Callable | None = None,
                 download: bool = False, base_url: str | None = None) -> None:
        if split not in self.SPLITS:
            raise ConfigError(f"{self.NAME} split must be one of {', '.join(self.SPLITS)}, got {split!r}")
        self.root, self.split, self.transform = data_root(root), split, transform
        url, fname, md5, rel, inner = self.RESOURCES[split]
        folder = self._locate(rel)
        if folder is None and download:
            if base_url:
                url = f"{base_url.rstrip('/')}/{fname}"
            home = self.root / self.NAME
            extract(fetch(url, home / fname, md5), home)
            for name in inner:  # archives inside the archive (covered by its md5); names may be glob patterns
                found = sorted(home.rglob(name))
                if not found:
                    raise DataError(f"{home / fname}: the archive holds no {name}; the download is not {self.NAME}")
                for archive in found:
                    extract(archive, archive.parent)
            folder = self._locate(rel)
        if folder is None:
            raise DatasetNotFoundError(
                f"{self.NAME} {split} not found: no {rel}/ under {self.root} or {self.root / self.NAME}; pass "
                f"download=True (fetches {fname}) or point root=/NEURO_DATA_DIR at a folder holding it")
        self.folder = folder
        items = self._list(folder)
        if not items:
            raise DatasetNotFoundError(f"{folder} holds no {self.NAME} recordings (the docstring shows the layout)")
        self.files = [f for f, _ in items]
        self.targets = [y for _, y in items]

    def _locate(self, rel: str) -> Path | None:
        for sub in ("", *self.NESTED):
            found = _find(self.root / sub if sub else self.root, self.NAME, rel)
            if found is None and sub:
                found = _find(self.root / self.NAME / sub, "", rel)
            if found is not None:
                return found
        return None

    @property
    def names(self) -> list[str]:
        """Each recording's path relative to :attr:`folder`."""
        return [f.relative_to(self.folder).as_posix() for f in self.files]

    def _list(self, folder: Path) -> list[tuple[Path, int]]:
        raise NotImplementedError

    def _read(self, path: Path) -> np.ndarray:
        raise NotImplementedError

    def _class_folders(self, folder: Path, pattern: str) -> list[tuple[Path, int]]:
        """``<class>/<file>`` for every class in :attr:`classes`, sorted by class then file name."""
        return [(f, k) for k, c in enumerate(self.classes) if (folder / c).is_dir()
                for f in sorted((folder / c).glob(pattern))]

    def events(self, i: int) -> np.ndarray:
        """Recording ``i`` as validated events (no transform)."""
        ev = self._read(self.files[i])
        return check_stream(EventStream(ev, self.sensor_size, self.NAME, str(self.files[i])), False).events

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        return self._apply(self.events(i)), self.targets[i]


# ----------------------------------------------------------------------------- DVS Gesture
class DVSGesture(CameraDataset):
    """IBM DVS Gesture (Amir et al. 2017): 11 hand and arm gestures, DVS128 (128x128), 29 subjects,
    3 lighting conditions; 1,077 training and 264 test samples.

    Two layouts are read.  The per-gesture release also used by tonic (what ``download=True``
    fetches): ``ibmGestureTrain/user<NN>_<lighting>/<label>.npy`` (and ``ibmGestureTest``), each an
    ``[N, 4]`` array of ``x, y, p, t`` with ``t`` in ms (read with ``allow_pickle=False``; times
    become µs).  Or IBM's original release, ``DvsGesture/``: AEDAT 3.1 recordings
    ``user<NN>_<lighting>.aedat``, each with ``user<NN>_<lighting>_labels.csv`` (``class,
    startTime_usec, endTime_usec``, classes from 1) and the split's files listed in
    ``trials_to_train.txt`` / ``trials_to_test.txt``; each labelled segment is a sample, with µs
    timestamps as recorded.  ``users`` and ``lighting`` give each sample's subject and lighting.
    """

    NAME = "DVSGesture"
    sensor_size = (128, 128, 2)
    classes = ["hand clapping", "right hand wave", "left hand wave", "right arm clockwise",
               "right arm counter-clockwise", "left arm clockwise", "left arm counter-clockwise", "arm roll",
               "air drums", "air guitar", "other gestures"]
    RESOURCES = {
        "train": ("https://figshare.com/ndownloader/files/38022171", "ibmGestureTrain.tar.gz",
                  "3a8f0d4120a166bac7591f77409cb105", "ibmGestureTrain", ()),
        "test": ("https://figshare.com/ndownloader/files/38020584", "ibmGestureTest.tar.gz",
                 "56070e45dadaa85fff82e0fbfbc06de5", "ibmGestureTest", ()),
    }

    _segments: list[tuple[int, int]] | None = None  # (start, end) µs per sample in the original layout

    def _locate(self, rel: str) -> Path | None:
        found = super()._locate(rel)
        if found is None:
            for base in (self.root, self.root / self.NAME):
                if (base / "DvsGesture" / f"trials_to_{self.split}.txt").is_file():
                    return base / "DvsGesture"
        return found

    def _list(self, folder: Path) -> list[tuple[Path, int]]:
        if (folder / f"trials_to_{self.split}.txt").is_file():
            return self._list_original(folder)
        items = []
        for d in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("user")):
            for f in sorted(d.glob("*.npy"), key=lambda f: (len(f.stem), f.stem)):
                if f.stem.isdigit() and int(f.stem) < len(self.classes):
                    items.append((f, int(f.stem)))
        self.users = [int(f.parent.name.split("_")[0][4:] or -1) for f, _ in items]
        self.lighting = [f.parent.name.partition("_")[2] for f, _ in items]
        return items

    def _list_original(self, folder: Path) -> list[tuple[Path, int]]:
        """Every labelled segment of every recording named in ``trials_to_<split>.txt``."""
        names = [n.strip() for n in (folder / f"trials_to_{self.split}.txt").read_text().split() if n.strip()]
        items, self._segments, self.users, self.lighting = [], [], [], []
        for name in names:
            rec = folder / name
            labels = rec.with_name(rec.stem + "_labels.csv")
            if not rec.is_file() or not labels.is_file():
                raise DatasetNotFoundError(f"{folder}: trials_to_{self.split}.txt names {name}, but {rec.name} or "
                                           f"{labels.name} is missing")
            for k, line in enumerate(labels.read_text().splitlines()):
                parts = [v.strip() for v in line.split(",")]
                if k == 0 and not parts[0].isdigit():
                    continue  # the header line
                try:
                    cls, start, end = (int(v) for v in parts)
                except ValueError:
                    raise DataError(f"{labels}: line {k + 1} is not 'class,startTime_usec,endTime_usec'") from None
                if not 1 <= cls <= len(self.classes) or not 0 <= start < end:
                    raise DataError(f"{labels}: line {k + 1} has class {cls} (1-{len(self.classes)}) or an empty "
                                    f"time range [{start}, {end})")
                items.append((rec, cls - 1))
                self._segments.append((start, end))
                user, _, light = rec.stem.partition("_")
                self.users.append(int(user[4:]) if user[4:].isdigit() else -1)
                self.lighting.append(light)
        return items

    def events(self, i: int) -> np.ndarray:
        if self._segments is None:
            return super().events(i)
        path = self.files[i]
        cached = getattr(self, "_recording", None)
        if cached is None or cached[0] != path:  # segments of one recording are consecutive: read it once
            cached = self._recording = (path, read_aedat3(path).events)
        ev = cached[1]
        start, end = self._segments[i]
        lo, hi = np.searchsorted(ev["t"], [start, end], side="left")
        return ev[lo:hi]

    def _read(self, path: Path) -> np.ndarray:
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable .npy array ({e})") from None
        if a.ndim != 2 or a.shape[1] != 4 or a.dtype.kind not in "iuf":
            raise DataError(f"{path}: expected an [N, 4] numeric array of x, y, p, t(ms), got {a.shape} {a.dtype}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise DataError(f"{path}: events hold non-finite values (corrupt file)")
        xyp = a[:, :3]
        if a.dtype.kind == "f" and (xyp != np.round(xyp)).any():
            raise DataError(f"{path}: x, y or p is not a whole number (corrupt file)")
        t = np.round(a[:, 3].astype(np.float64) * 1000).astype(np.int64)
        ev = make_events(t, xyp[:, 0].astype(np.int64), xyp[:, 2].astype(np.int64), xyp[:, 1].astype(np.int64))
        return ev[np.argsort(t, kind="stable")]


# ----------------------------------------------------------------------------- N-CARS
class NCARS(CameraDataset):
    """N-CARS (Sironi et al. 2018): 100 ms ATIS recordings of cars and background, 120x100 crops;
    15,422 training and 8,607 test samples.

    Layout: ``n-cars_train/{background,cars}/*_td.dat`` (and ``n-cars_test``), Prophesee DAT files,
    as in the official ``Prophesee_Dataset_n_cars`` archive (which holds one zip per split).
    Labels: 0 background, 1 car.
    """

    NAME = "NCARS"
    sensor_size = (120, 100, 2)
    classes = ["background", "cars"]
    _URL = "http://www.prophesee.ai/resources/Prophesee_Dataset_n_cars.zip"
    _ZIP = ("Prophesee_Dataset_n_cars.zip", "553ce464d6e5e617b3c21ce27c19368e")
    NESTED = ("Prophesee_Dataset_n_cars",)
    RESOURCES = {
        "train": (_URL, *_ZIP, "n-cars_train", ("n-cars_train.zip",)),
        "test": (_URL, *_ZIP, "n-cars_test", ("n-cars_test.zip",)),
    }

    def _list(self, folder: Path) -> list[tuple[Path, int]]:
        return self._class_folders(folder, "*.dat")

    def _read(self, path: Path) -> np.ndarray:
        return read_prophesee_dat(path).events


# ----------------------------------------------------------------------------- N-Caltech101
class NCaltech101(CameraDataset):
    """N-Caltech101 (Orchard et al. 2015): Caltech101 images recorded with an ATIS (304x240) in three
    saccades; 8,709 recordings of 101 object classes plus ``BACKGROUND_Google``.  There is no
    official split (``split="all"``).

    Layout: ``Caltech101/<class>/image_<NNNN>.bin`` (N-MNIST's 5-byte format, with time overflow
    markers), as inside the official archive (a zip holding ``Caltech101.zip``).  Labels index
    :attr:`classes`, the class folders sorted by name.  Coordinates are kept as recorded (tonic
    shifts each recording to start at x = y = 0).
    """

    NAME = "NCaltech101"
    sensor_size = (304, 240, 2)
    SPLITS = ("all",)
    RESOURCES = {
        "all": ("https://data.mendeley.com/public-files/datasets/cy6cvx3ryv/files/"
                "36b5c52a-b49d-4853-addb-a836a8883e49/file_downloaded", "N-Caltech101-archive.zip",
                "66201824eabb0239c7ab992480b50ba3", "Caltech101", ("Caltech101.zip",)),
    }

    def __init__(self, root: PathLike | None = None, transform: Callable | None = None, download: bool = False,
                 base_url: str | None = None, split: str = "all") -> None:
        super().__init__(root, split, transform, download, base_url)

    def _list(self, folder: Path) -> list[tuple[Path, int]]:
        self.classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
        return self._class_folders(folder, "*.bin")

    def _read(self, path: Path) -> np.ndarray:
        return read_nmnist(path, sensor_size=self.sensor_size)


# ----------------------------------------------------------------------------- CIFAR10-DVS
class CIFAR10DVS(CameraDataset):
    """CIFAR10-DVS (Li et al. 2017): CIFAR-10 images moved in front of a DVS128, 1,000 recordings per
    class, 10 classes; no official split (``split="all"``).

    Layout: ``<class>/cifar10_<class>_<n>.aedat4`` for the 10 CIFAR-10 classes (the AEDAT4 release
    also used by tonic: a zip holding one zip per class).  Timestamps are kept as stored.
    """

    NAME = "CIFAR10DVS"
    sensor_size = (128, 128, 2)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    SPLITS = ("all",)
    RESOURCES = {
        "all": ("https://figshare.com/ndownloader/files/38023437", "CIFAR10DVS.zip",
                "ce3a4a0682dc0943703bd8f749a7701c", ".", tuple(f"{c}.zip" for c in classes)),
    }

    def __init__(self, root: PathLike | None = None, transform: Callable | None = None, download: bool = False,
                 base_url: str | None = None, split: str = "all") -> None:
        super().__init__(root, split, transform, download, base_url)

    def _locate(self, rel: str) -> Path | None:
        for base in (self.root, self.root / self.NAME):
            if all((base / c).is_dir() for c in self.classes):
                return base
        return None

    def _list(self, folder: Path) -> list[tuple[Path, int]]:
        return self._class_folders(folder, "*.aedat4")

    def _read(self, path: Path) -> np.ndarray:
        return read_aedat4(path).events


# ----------------------------------------------------------------------------- ASL-DVS
class ASLDVS(CameraDataset):
    """ASL-DVS (Bi et al. 2019): 24 American Sign Language letters (no j, z) recorded with a DAVIS240,
    4,200 samples each; no official split (``split="all"``).

    Layout: ``.mat`` files (fields ``ts``, ``x``, ``y``, ``pol``) in folders whose name ends in the
    letter, anywhere below the dataset folder, as the official archive (a zip of per-subject zips)
    unpacks.  Labels index :attr:`classes` (a-z, as tonic's, so j and z have no samples); ``y`` is
    flipped to count from the top, as tonic does.  ``.mat`` files are read as data only.
    """

    NAME = "ASLDVS"
    sensor_size = (240, 180, 2)
    classes = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    SPLITS = ("all",)
    RESOURCES = {
        "all": ("https://www.dropbox.com/sh/ibq0jsicatn7l6r/AACNrNELV56rs1YInMWUs9CAa?dl=1", "ASLDVS.zip",
                "33f8b87bf45edc0bfed0de41822279b9", ".", ("Yin*.zip",)),
    }

    def __init__(self, root: PathLike | None = None, transform: Callable | None = None, download: bool = False,
                 base_url: str | None = None, split: str = "all") -> None:
        super().__init__(root, split, transform, download, base_url)

    def _locate(self, rel: str) -> Path | None:
        for base in (self.root / self.NAME, self.root):
            if base.is_dir() and next(base.rglob("*.mat"), None) is not None:
                return base
        return None

    def _list(self, folder: Path) -> list[tuple[Path, int]]:
        files = sorted(f for f in folder.rglob("*.mat") if f.parent.name[-1:].lower() in self.classes)
        return [(f, self.classes.index(f.parent.name[-1].lower())) for f in files]

    def _read(self, path: Path) -> np.ndarray:
        from scipy.io import loadmat

        try:
            m = loadmat(path)
        except Exception as e:  # scipy's parser fails in many ways on corrupt files
            raise DataError(f"{path}: not a readable .mat file ({type(e).__name__}: {e})") from None
        missing = [k for k in ("ts", "x", "y", "pol") if k not in m]
        if missing:
            raise DataError(f"{path}: ASL-DVS .mat file lacks {', '.join(missing)}")
        cols = [np.asarray(m[k]).ravel() for k in ("ts", "x", "y", "pol")]
        if len({len(c) for c in cols}) != 1 or any(c.dtype.kind not in "iuf" for c in cols):
            raise DataError(f"{path}: ts, x, y, pol are not numeric columns of one length (corrupt file)")
        if any(c.dtype.kind == "f" and (not np.isfinite(c).all() or (c != np.round(c)).any()) for c in cols):
            raise DataError(f"{path}: ts, x, y or pol is not a whole number (corrupt file)")
        t, x, y, p = (c.astype(np.int64) for c in cols)
        return make_events(t, x, p, self.sensor_size[1] - 1 - y)
