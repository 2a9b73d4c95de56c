"""A disk cache of preprocessed samples, keyed by the dataset item and the transform's repr."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from neuro.errors import DataError
from neuro.serialization import from_plain, load_data, save_atomic, to_plain


class CachedDataset(Dataset):
    """Wrap ``dataset`` so each transformed item is computed once and stored as a ``.pt`` file.

    The cache folder name hashes ``repr(transform)`` (dataclass transforms print their settings),
    so changing the transform uses a new folder instead of stale tensors.  Files are written to a
    temporary name and renamed, so an interrupted run leaves nothing half-written.  Items are stored
    as data only (tensors, numpy arrays, numbers, strings, lists, dicts) and read back with the
    restricted unpickler, so a planted cache file cannot run code: it is refused with a DataError.
    """

    def __init__(self, dataset: Any, cache_dir: str | os.PathLike[str], key: str | None = None) -> None:
        self.dataset = dataset
        tag = key if key is not None else repr(getattr(dataset, "transform", None))
        name = type(dataset).__name__ + "-" + hashlib.md5(tag.encode()).hexdigest()[:16]
        self.dir = Path(cache_dir) / name
        self.dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        f = self.dir / f"{i}.pt"
        if f.exists():
            try:
                return from_plain(load_data(f, "cpu", "cache file"))
            except DataError as e:
                raise DataError(f"{e}; delete the cache folder {self.dir} to recompute it") from None
        item = self.dataset[i]
        save_atomic(to_plain(item, f"item {i}"), f)
        return item
