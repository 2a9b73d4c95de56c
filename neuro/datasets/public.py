"""The public datasets: N-MNIST, SHD, SSC, MNIST / permuted MNIST, Free Spoken Digits and its spiking version.

Every dataset takes ``root=`` (default: ``$NEURO_DATA_DIR``, else ``~/.cache/neuro/data``) and
looks for its files in the official layout under ``root`` or ``root/<Name>``; with
``download=True`` missing files are fetched from the official address, checked against their
md5 and unpacked atomically.  Without them a :class:`DatasetNotFoundError` says where the files
were looked for and how to get them.  Items are ``(x, label)``: events (or, with a
``transform``, whatever it returns; ``ToFrame`` gives frames) and an int.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from neuro.config import cache_root, data_root
from neuro.datasets.download import download as fetch
from neuro.datasets.download import extract
from neuro.datasets.readers import read_idx, read_nmnist, read_wav
from neuro.datasets.shd import N_CHANNELS, ShdFile, write_shd
from neuro.errors import DatasetNotFoundError

PathLike = str | os.PathLike[str]


def _find(root: Path, name: str, rel: str) -> Path | None:
    for base in (root, root / name):
        if (base / rel).exists():
            return base / rel
    return None


class _Transformed(Dataset):
    transform: Callable | None = None

    def _apply(self, x):
        return self.transform(x) if self.transform is not None else x


# ----------------------------------------------------------------------------- N-MNIST
class NMNIST(_Transformed):
    """N-MNIST (Orchard et al. 2015): 34x34 ATIS recordings of MNIST digits, 2 polarities.

    Reads ``Train/<digit>/<index>.bin`` and ``Test/...`` (the official zip layout), sorted by
    digit then file name, under ``root``, ``root/NMNIST`` or ``root/nmnist-small`` (the layout of the
    1,000-recording subset).  ``first_saccade=True`` keeps the first 105 ms (one saccade).
    """

    sensor_size = (34, 34, 2)
    classes = [str(d) for d in range(10)]
    RESOURCES = {
        "Train": ("https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
                  "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded", "train.zip",
                  "20959b8e626244a1b502305a9e6e2031"),
        "Test": ("https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
                 "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded", "test.zip",
                 "69ca8762b2fe404d9b9bad1103e97832"),
    }

    def __init__(self, root: PathLike | None = None, train: bool = True, transform: Callable | None = None,
                 first_saccade: bool = False, download: bool = False, base_url: str | None = None) -> None:
        self.root = data_root(root)
        split = "Train" if train else "Test"
        folder = _find(self.root, "NMNIST", split) or _find(self.root, "nmnist-small", split)
        if folder is None and download:
            url, fname, md5 = self.RESOURCES[split]
            if base_url:
                url = f"{base_url.rstrip('/')}/{fname}"
            archive = fetch(url, self.root / "NMNIST" / fname, md5)
            extract(archive, self.root / "NMNIST")
            folder = _find(self.root, "NMNIST", split)
        if folder is None:
            raise DatasetNotFoundError(
                f"N-MNIST {split} not found under {self.root} (looked for {split}/, NMNIST/{split}/ and "
                f"nmnist-small/{split}/); "
                "pass download=True or point root=/NEURO_DATA_DIR at a folder holding it"
            )
        self.files: list[Path] = []
        self.targets: list[int] = []
        for d in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()):
            for f in sorted(d.glob("*.bin")):
                self.files.append(f)
                self.targets.append(int(d.name))
        if not self.files:
            raise DatasetNotFoundError(f"{folder} holds no <digit>/*.bin recordings")
        self.folder = folder
        self.transform, self.first_saccade = transform, first_saccade

    @property
    def names(self) -> list[str]:
        """Each recording as ``<digit>/<file>.bin`` under :attr:`folder` (how checkpoints record a data split)."""
        return [f"{f.parent.name}/{f.name}" for f in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        ev = read_nmnist(self.files[i])
        if self.first_saccade:
            ev = ev[ev["t"] < 105_000]
        return self._apply(ev), self.targets[i]


# ----------------------------------------------------------------------------- SHD / SSC
class SHD(_Transformed):
    """Spiking Heidelberg Digits (Cramer et al. 2020): 700 cochlea channels, 20 classes."""

    sensor_size = (N_CHANNELS, 1, 1)
    NAME = "SHD"
    BASE_URL = "https://zenkelab.org/datasets"
    FILES = {
        "train": ("shd_train.h5.zip", "f3252aeb598ac776c1b526422d90eecb"),
        "test": ("shd_test.h5.zip", "1503a5064faa34311c398fb0a1ed0a6f"),
    }

    def __init__(self, root: PathLike | None = None, split: str = "train", transform: Callable | None = None,
                 download: bool = False, base_url: str | None = None) -> None:
        from neuro.errors import ConfigError

        if split not in self.FILES:
            raise ConfigError(f"{self.NAME} split must be one of {', '.join(self.FILES)}, got {split!r}")
        self.root = data_root(root)
        zname, md5 = self.FILES[split]
        h5 = zname.removesuffix(".zip")
        path = _find(self.root, self.NAME, h5)
        if path is None and download:
            url = f"{(base_url or self.BASE_URL).rstrip('/')}/{zname}"
            archive = fetch(url, self.root / self.NAME / zname, md5)
            extract(archive, self.root / self.NAME)
            path = _find(self.root, self.NAME, h5)
        if path is None:
            raise DatasetNotFoundError(
                f"{self.NAME} {split} file {h5} not found under {self.root} or {self.root / self.NAME}; "
                f"pass download=True (fetches {zname} from {self.BASE_URL}) or set NEURO_DATA_DIR"
            )
        self.file = ShdFile(path)
        self.classes = self.file.keys
        self.targets = self.file.labels.tolist()
        self.speakers = self.file.speakers
        self.transform = transform

    def __len__(self) -> int:
        return len(self.file)

    def __getitem__(self, i: int):
        return self._apply(self.file.events(i)), int(self.file.labels[i])


class SSC(SHD):
    """Spiking Speech Commands (35 classes), the same layout as SHD."""

    NAME = "SSC"
    FILES = {
        "train": ("ssc_train.h5.zip", "d102be95e7144fcc0553d1f45ba94170"),
        "valid": ("ssc_valid.h5.zip", "b4eee3516a4a90dd0c71a6ac23a8ae43"),
        "test": ("ssc_test.h5.zip", "a35ff1e9cffdd02a20eb850c17c37748"),
    }


# ----------------------------------------------------------------------------- MNIST
class MNIST(Dataset):
    """MNIST from the official IDX files (``train-*`` or ``t10k-*``, gzipped or not).

    Images are float tensors in [0, 1] of shape ``[28, 28]``; labels ints.
    """

    BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist"
    FILES = {
        True: [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
               ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432")],
        False: [("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")],
    }

    def __init__(self, root: PathLike | None = None, train: bool = True, download: bool = False,
                 base_url: str | None = None) -> None:
        self.root = data_root(root)
        paths = []
        for fname, md5 in self.FILES[train]:
            p = None
            for cand in (fname, fname.removesuffix(".gz")):
                p = p or _find(self.root, "mnist", cand) or _find(self.root, "MNIST", cand)
            if p is None and download:
                p = fetch(f"{(base_url or self.BASE_URL).rstrip('/')}/{fname}",
                                          self.root / "mnist" / fname, md5)
            if p is None:
                raise DatasetNotFoundError(
                    f"MNIST file {fname} not found under {self.root} (or mnist/, MNIST/); pass download=True"
                )
            paths.append(p)
        self.images = torch.from_numpy(read_idx(paths[0]).astype(np.float32) / 255.0)
        self.targets = torch.from_numpy(read_idx(paths[1]).astype(np.int64))
        if len(self.images) != len(self.targets):
            from neuro.errors import DataError

            raise DataError(f"MNIST: {len(self.images)} images but {len(self.targets)} labels")

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.images[i], int(self.targets[i])


class PermutedMNIST(Dataset):
    """MNIST with a fixed pixel permutation (task ``task``; task 0 is the identity).

    Items are flat ``[784]`` images.  The permutation is drawn from ``seed + task``.
    """

    def __init__(self, base: MNIST, task: int, seed: int = 0) -> None:
        self.base = base
        g = np.random.default_rng(seed + task)
        self.perm = torch.arange(784) if task == 0 else torch.from_numpy(g.permutation(784))
        self.flat = base.images.reshape(len(base), 784)[:, self.perm]

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        return self.flat[i], int(self.base.targets[i])


# ----------------------------------------------------------------------------- spoken digits
_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


class FSDD(Dataset):
    """Free Spoken Digit Dataset: ``recordings/<digit>_<speaker>_<take>.wav`` (8 kHz mono).

    ``speakers=`` keeps only those speakers (for speaker-independent splits).
    """

    def __init__(self, root: PathLike | None = None, speakers: list[str] | None = None) -> None:
        self.root = data_root(root)
        folder = _find(self.root, "fsdd", "recordings") or _find(self.root, "FSDD", "recordings")
        if folder is None:
            raise DatasetNotFoundError(
                f"Free Spoken Digits not found: no recordings/ under {self.root} or {self.root / 'fsdd'}; "
                "clone the FSDD repository there or set NEURO_DATA_DIR"
            )
        self.items: list[tuple[Path, int, str]] = []
        for f in sorted(folder.glob("*.wav")):
            m = _FSDD_NAME.match(f.name)
            if m and (speakers is None or m.group(2) in speakers):
                self.items.append((f, int(m.group(1)), m.group(2)))
        if not self.items:
            raise DatasetNotFoundError(f"{folder}: no recordings for speakers {speakers}")
        self.all_speakers = sorted({s for _, _, s in self.items})
        self.targets = [d for _, d, _ in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        wave, rate = read_wav(self.items[i][0])
        return (wave, rate), self.items[i][1]


class SpikingFSDD(_Transformed):
    """Free Spoken Digits turned into SHD-style spikes by :class:`CochleaEncoder` (700 channels).

    Encoded events are cached under ``$NEURO_CACHE_DIR/spiking_fsdd/<encoder hash>/`` (one ``.npy``
    per recording; default ``~/.cache/neuro/cache``), written atomically; the key changes with the
    encoder's settings.  The data folder itself is never written to.
    """

    sensor_size = (N_CHANNELS, 1, 1)
    classes = [str(d) for d in range(10)]

    def __init__(self, root: PathLike | None = None, speakers: list[str] | None = None,
                 transform: Callable | None = None, encoder=None, cache_dir: PathLike | None = None) -> None:
        from neuro.datasets.audio import CochleaEncoder

        self.audio = FSDD(root, speakers)
        self.encoder = encoder or CochleaEncoder()
        self.sensor_size = (self.encoder.n_channels, 1, 1)
        self.transform = transform
        key = hashlib.md5(json.dumps({k: v for k, v in vars(self.encoder).items()
                                      if isinstance(v, int | float | str)}, sort_keys=True).encode()).hexdigest()[:12]
        self.cache = Path(cache_dir) if cache_dir else cache_root() / "spiking_fsdd" / key
        self.targets = self.audio.targets
        self.speakers = [s for _, _, s in self.audio.items]

    def __len__(self) -> int:
        return len(self.audio)

    def _cached(self, i: int) -> Path:
        return self.cache / (self.audio.items[i][0].stem + ".npy")

    def encode_all(self, progress: bool = True) -> int:
        """Encode every recording that is not cached yet (minutes for the whole dataset the first time),
        with a progress bar on stderr when ``progress``; returns how many were encoded."""
        todo = [i for i in range(len(self)) if not self._cached(i).exists()]
        if todo and progress:
            from tqdm.auto import tqdm

            todo = tqdm(todo, desc=f"encoding {len(todo)} FSDD recordings to spikes (cached for next time)",
                        unit="rec", dynamic_ncols=True)
        n = 0
        for i in todo:
            self.events(i)
            n += 1
        return n

    def events(self, i: int) -> np.ndarray:
        f = self.audio.items[i][0]
        c = self._cached(i)
        if c.exists():
            return np.load(c)
        wave, rate = read_wav(f)
        ev = self.encoder.encode(wave, rate)
        c.parent.mkdir(parents=True, exist_ok=True)
        tmp = c.with_name(c.stem + f".{os.getpid()}.tmp.npy")
        np.save(tmp, ev)
        os.replace(tmp, c)
        return ev

    def __getitem__(self, i: int):
        return self._apply(self.events(i)), self.targets[i]

    def to_hdf5(self, path: PathLike) -> Path:
        """Write all recordings as an SHD-compatible HDF5 file.

        :class:`SHD` reads it from its folder when it is named like an official file:
        ``audio.to_hdf5(folder / "shd_train.h5")`` then ``SHD(folder, "train")``.
        """
        write_shd(path, [self.events(i) for i in range(len(self))], self.targets, self.classes,
                  [sorted(set(self.speakers)).index(s) for s in self.speakers])
        return Path(path)
