"""Downloads against a local HTTP server that can break off transfers, and archive extraction next to a user's files."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile

import numpy as np
import pytest

from neuro.datasets.download import MANIFEST, download, extract
from neuro.errors import DataError

PAYLOAD = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()


@pytest.fixture
def server():
    """Serves ``state["files"]``; ``state["cuts"]`` lists byte counts after which successive responses
    drop the connection; ``state["requests"]`` records each request's Range header."""
    state = {"files": {}, "cuts": [], "requests": [], "bad_range": False}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            data = state["files"].get(self.path.lstrip("/"))
            rng = self.headers.get("Range")
            state["requests"].append(rng)
            if data is None:
                self.send_error(404)
                return
            start = int(rng.split("=")[1].split("-")[0]) if rng else 0
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if state["bad_range"]:  # a broken server: answers 206 but from byte 0
                start = 0
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if state["cuts"]:
                body = body[: state["cuts"].pop(0)]
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{srv.server_address[1]}"
    yield state
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("with_md5", [False, True])
def test_cut_transfer_is_refused_kept_and_resumed(server, tmp_path, with_md5):
    server["files"]["f.bin"] = PAYLOAD
    server["cuts"] = [150_000, 50_000]
    md5 = hashlib.md5(PAYLOAD).hexdigest() if with_md5 else None
    dest, part = tmp_path / "f.bin", tmp_path / "f.bin.part"
    with pytest.raises(DataError, match="broke off after 150,000 of 300,000 bytes.*run the same command again"):
        download(f"{server['url']}/f.bin", dest, md5, progress=False)
    assert not dest.exists() and part.stat().st_size == 150_000
    # the resumed transfer breaks off too: Content-Range gives the total
    with pytest.raises(DataError, match="200,000 of 300,000"):
        download(f"{server['url']}/f.bin", dest, md5, progress=False)
    assert not dest.exists() and part.stat().st_size == 200_000
    download(f"{server['url']}/f.bin", dest, md5, progress=False)
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    assert server["requests"] == [None, "bytes=150000-", "bytes=200000-"]


def test_oversized_part_is_discarded_after_416(server, tmp_path):
    server["files"]["f.bin"] = PAYLOAD
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD + b"stale tail")
    dest = download(f"{server['url']}/f.bin", tmp_path / "f.bin", progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server["requests"] == [f"bytes={len(PAYLOAD) + 10}-", None]


def test_complete_part_is_accepted_after_416(server, tmp_path):
    server["files"]["f.bin"] = PAYLOAD
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    dest = download(f"{server['url']}/f.bin", tmp_path / "f.bin", progress=False)
    assert dest.read_bytes() == PAYLOAD and server["requests"] == [f"bytes={len(PAYLOAD)}-"]


def test_resume_from_the_wrong_offset_restarts(server, tmp_path):
    server["files"]["f.bin"] = PAYLOAD
    server["bad_range"] = True
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1000])
    dest = download(f"{server['url']}/f.bin", tmp_path / "f.bin", progress=False)
    assert dest.read_bytes() == PAYLOAD and server["requests"] == ["bytes=1000-", None]


# ----------------------------------------------------------------------------- extraction


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".extracting")]


def test_extract_never_deletes_a_users_folder(tmp_path):
    to = tmp_path / "NMNIST"
    (to / "Train").mkdir(parents=True)
    (to / "Train" / "mine.txt").write_text("my notes")
    archive = _zip(tmp_path / "a.zip", {"Train/0/00001.bin": b"x", "Test/0/00001.bin": b"y"})
    with pytest.raises(DataError, match=r"Train already exists.*not unpacked there by neuro"):
        extract(archive, to)
    assert (to / "Train" / "mine.txt").read_text() == "my notes"
    assert not (to / "Train" / "0").exists() and not (to / "Test").exists()  # nothing moved
    assert not _leftovers(to)


def test_extract_replaces_only_its_own_unchanged_output(tmp_path):
    to = tmp_path / "out"
    archive = _zip(tmp_path / "a.zip", {"Train/0/00001.bin": b"x"})
    extract(archive, to)
    assert (to / "Train" / "0" / "00001.bin").read_bytes() == b"x" and (to / MANIFEST).exists()
    extract(archive, to)  # its own output, unchanged: replaced
    assert (to / "Train" / "0" / "00001.bin").read_bytes() == b"x"
    (to / "Train" / "added.txt").write_text("mine")
    with pytest.raises(DataError, match="already exists"):
        extract(archive, to)
    assert (to / "Train" / "added.txt").read_text() == "mine" and not _leftovers(to)


def test_extract_corrupt_archive_leaves_nothing(tmp_path):
    to = tmp_path / "out"
    bad = tmp_path / "b.zip"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(DataError, match="b.zip"):
        extract(bad, to)
    assert not to.exists()  # the folder it created is gone again
