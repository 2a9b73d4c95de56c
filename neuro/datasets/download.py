"""Downloads that never pass off a half file: resumable ``.part`` file, length and md5 checks, atomic
rename, progress bar; and archive extraction that never deletes what it did not create."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from neuro.errors import DataError

MANIFEST = ".neuro-extracted.json"
"""File in an extraction folder recording what :func:`extract` put there (name -> file listing)."""


def md5sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike[str], md5: str | None = None, progress: bool = True,
             timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest``.

    Data goes to ``dest + ".part"`` and is renamed to ``dest`` only when complete: the byte count
    must match the size the server announced (``Content-Length``, ``Content-Range`` on resume) and,
    when given, the md5 must match.  A transfer that breaks off keeps the ``.part`` and raises
    :class:`DataError`; the next call resumes it with an HTTP Range request.  A ``.part`` the server
    cannot continue (larger than the file, or not verifiable) is discarded and fetched again.  A wrong
    checksum deletes the partial file and raises.  An existing ``dest`` with the right md5 is kept.
    """
    dest = Path(dest)
    if dest.exists() and (md5 is None or md5sum(dest) == md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.exists() and not _transfer(url, part, part.stat().st_size, md5, progress, timeout):
        part.unlink()  # not resumable: start over
    if not part.exists():
        _transfer(url, part, 0, md5, progress, timeout)
    if md5 is not None:
        got = md5sum(part)
        if got != md5:
            part.unlink(missing_ok=True)
            raise DataError(f"{url}: md5 {got} does not match the expected {md5}; the download was removed, retry")
    os.replace(part, dest)
    return dest


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """``(first byte, total size or None)`` of a ``Content-Range: bytes A-B/N`` header (``N`` may be ``*``)."""
    m = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", value or "")
    if m is None:
        return None
    return int(m[1]), None if m[2] == "*" else int(m[2])


def _total_of_416(value: str | None) -> int | None:
    """The file size a 416 answer reports (``Content-Range: bytes */N``), if any."""
    m = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", value or "")
    return int(m[1]) if m else None


def _transfer(url: str, part: Path, have: int, md5: str | None, progress: bool, timeout: float) -> bool:
    """Write ``url`` into ``part``, continuing after its first ``have`` bytes when ``have > 0``.

    Returns False when an existing ``part`` cannot be continued (the caller restarts from zero), True
    when ``part`` holds the complete file; raises :class:`DataError` otherwise.
    """
    keep = f"the partial download {part} is kept: run the same command again to resume"
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left after byte `have`: complete, or larger than the file
            total = _total_of_416(e.headers.get("Content-Range"))
            return md5sum(part) == md5 if md5 is not None else total == have
        raise DataError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DataError(f"download of {url} failed: {e}; check the network or place the file at "
                        f"{part.with_suffix('')}" + (f"; {keep}" if have else "")) from None
    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if resp.status == 206:
            rng = _content_range(resp.headers.get("Content-Range"))
            if rng is None or rng[0] != have:
                return False  # not the continuation asked for
            start = have
            total = rng[1] if rng[1] is not None else (have + length if length is not None else None)
        else:  # 200: the whole file, from byte 0
            start, total = 0, length
        received = start
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=part.name.removesuffix(".part"))
        try:
            with open(part, "ab" if start else "wb") as f:
                while block := resp.read(1 << 16):
                    f.write(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
        except (OSError, http.client.HTTPException) as e:
            raise DataError(f"download of {url} broke off after {received:,} of "
                            f"{'?' if total is None else f'{total:,}'} bytes ({e}); {keep}") from None
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received < total:
        raise DataError(f"download of {url} broke off after {received:,} of {total:,} bytes; {keep}")
    if total is not None and received > total:
        part.unlink()
        raise DataError(f"download of {url}: the server sent {received:,} bytes, more than the {total:,} it "
                        "announced; the download was removed, retry")
    return True


# ----------------------------------------------------------------------------- extraction


def _listing(path: Path) -> dict[str, list[int] | None]:
    """Every entry under ``path`` (``"."`` for itself): ``[size, mtime_ns]`` for files and links, None for folders."""

    def entry(p: Path) -> list[int] | None:
        st = p.lstat()
        return None if stat.S_ISDIR(st.st_mode) else [st.st_size, st.st_mtime_ns]

    out = {".": entry(path)}
    if out["."] is None:
        for top, dirs, files in os.walk(path):
            for name in dirs + files:
                p = Path(top, name)
                out[p.relative_to(path).as_posix()] = entry(p)
    return out


def _read_manifest(to: Path) -> dict[str, dict[str, list[int] | None]]:
    try:
        data = json.loads((to / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(to: Path, manifest: dict) -> None:
    tmp = to / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, to / MANIFEST)


def _created_here(target: Path, recorded: dict | None) -> bool:
    """True when ``target`` is what an earlier :func:`extract` put there, with nothing added or changed since."""
    if not isinstance(recorded, dict):
        return False
    return all(k in recorded and (v is None) == (recorded[k] is None) and (v is None or v == recorded[k])
               for k, v in _listing(target).items())


def _unpack(archive: Path, stage: Path) -> None:
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
        raise DataError(f"{archive}: unknown archive type (expected zip, tar or gz)")


def extract(archive: str | os.PathLike[str], to: str | os.PathLike[str]) -> Path:
    """Unpack a zip, tar(.gz) or .gz archive into ``to``.

    The archive is unpacked into a hidden staging folder inside ``to`` first; its top-level entries
    are then moved into place.  An entry that already exists in ``to`` is replaced only when an
    earlier ``extract`` created it and nothing in it was added or changed since (recorded in
    ``to/.neuro-extracted.json``); otherwise :class:`DataError` is raised before anything is moved,
    so a user's files are never deleted.  Members that would land outside ``to`` are refused.
    """
    archive, to = Path(archive), Path(to)
    created = not to.exists()
    to.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".extracting-", dir=to))
    try:
        try:
            _unpack(archive, stage)
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{archive}: corrupt archive ({e}); delete it and download again") from None
        manifest = _read_manifest(to)
        items = sorted(stage.iterdir())
        for item in items:
            target = to / item.name
            if item.name in (MANIFEST, MANIFEST + ".tmp"):
                raise DataError(f"{archive}: member {item.name} clashes with neuro's extraction record")
            if (target.exists() or target.is_symlink()) and not _created_here(target, manifest.get(item.name)):
                raise DataError(f"{archive}: {target} already exists and was not unpacked there by neuro (or was "
                                "changed since); move it away or delete it yourself, then run again")
        try:
            for item in items:
                target = to / item.name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
                listing = _listing(item)
                os.replace(item, target)
                manifest[item.name] = listing
        finally:
            _write_manifest(to, manifest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(to.iterdir()):
            to.rmdir()
        raise
    shutil.rmtree(stage, ignore_errors=True)
    return to
