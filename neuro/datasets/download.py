"""Downloads that never leave a half file: temp file, resume, md5 check, atomic rename, progress bar."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from neuro.errors import DataError


def md5sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike[str], md5: str | None = None, progress: bool = True,
             timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest``.

    Data goes to ``dest + ".part"``; an interrupted download resumes from it (HTTP Range).  The
    finished file's md5 is checked before it is renamed into place, so ``dest`` either does not
    exist or is complete and verified.  A wrong checksum deletes the partial file and raises.
    An existing ``dest`` with the right md5 is kept as is.
    """
    dest = Path(dest)
    if dest.exists() and (md5 is None or md5sum(dest) == md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the partial file is already complete
            resp = None
        else:
            raise DataError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DataError(f"download of {url} failed: {e}; check the network or place the file at {dest}") from None
    if resp is not None:
        with resp:
            resumed = resp.status == 206
            total = resp.headers.get("Content-Length")
            total = int(total) + (have if resumed else 0) if total else None
            mode = "ab" if resumed else "wb"
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, initial=have if resumed else 0, unit="B", unit_scale=True, desc=dest.name)
            with open(part, mode) as f:
                while block := resp.read(1 << 16):
                    f.write(block)
                    if bar is not None:
                        bar.update(len(block))
            if bar is not None:
                bar.close()
    if md5 is not None:
        got = md5sum(part)
        if got != md5:
            part.unlink(missing_ok=True)
            raise DataError(f"{url}: md5 {got} does not match the expected {md5}; the download was removed, retry")
    os.replace(part, dest)
    return dest


def extract(archive: str | os.PathLike[str], to: str | os.PathLike[str]) -> Path:
    """Unpack a zip, tar(.gz) or .gz archive into ``to`` (staged in a temp folder, then moved).

    Members that would land outside ``to`` are refused.
    """
    archive, to = Path(archive), Path(to)
    stage = to.with_name(to.name + ".extracting")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                bad = z.testzip()
                if bad is not None:
                    raise DataError(f"{archive}: corrupt member {bad}")
                for m in z.namelist():
                    if not (stage / m).resolve().is_relative_to(stage.resolve()):
                        raise DataError(f"{archive}: member {m} would be written outside the target folder")
                z.extractall(stage)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                t.extractall(stage, filter="data")
        elif archive.suffix == ".gz":
            import gzip

            with gzip.open(archive, "rb") as src, open(stage / archive.stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            raise DataError(f"{archive}: unknown archive type")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise DataError(f"{archive}: corrupt archive ({e}); delete it and download again") from None
    except DataError:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    to.mkdir(parents=True, exist_ok=True)
    for item in stage.iterdir():
        target = to / item.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(item, target)
    stage.rmdir()
    return to
