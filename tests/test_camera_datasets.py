"""AEDAT 2.0 / 3.x readers on files crafted here (checked against tonic's decoders where they agree),
and the camera datasets downloaded from a local server in their official layouts."""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_datasets import _aedat4_file, _flat_events, _RangeHandler  # noqa: F401  (the local server's handler)

import neuro.datasets as D
from neuro.datasets.aedat_legacy import _PACKET
from neuro.errors import DataError, DatasetNotFoundError


def _cam(n, W, H, seed=0, t0=0, span=1 << 20):
    g = np.random.default_rng(seed)
    return D.make_events(np.sort(g.integers(t0, t0 + span, n)), g.integers(0, W, n), g.integers(0, 2, n),
                         g.integers(0, H, n))


# ----------------------------------------------------------------------------- AEDAT 2.0
def test_aedat2_dvs128_roundtrip_wraparound_and_jaer_layout(tmp_path):
    ev = _cam(3000, 128, 128, span=(1 << 32) - 1)
    D.write_aedat2(tmp_path / "a.aedat", ev)
    s = D.read_events(tmp_path / "a.aedat")
    assert s.format == "aedat2" and s.sensor_size == (128, 128, 2) and np.array_equal(s.events, ev)
    # the raw jAER address of (x=5, y=9, ON): x flipped into bits 1-7, y in bits 8-14, bit 0 clear for ON
    raw = (tmp_path / "a.aedat").read_bytes()
    one = D.make_events([7], [5], [1], [9])
    D.write_aedat2(tmp_path / "one.aedat", one)
    assert (tmp_path / "one.aedat").read_bytes()[-8:] == struct.pack(">II", ((127 - 5) << 1) | (9 << 8), 7)
    # a 32-bit timestamp wrap continues time; any other step back is corruption
    head, body = raw[: len(raw) - 8 * len(ev)], np.frombuffer(raw[len(raw) - 8 * len(ev):], ">u4").reshape(-1, 2)
    wrapped = body.copy()
    wrapped[1500:, 1] = (wrapped[1500:, 1].astype(np.int64) - wrapped[1500, 1] + 5).astype(np.uint32)
    wrapped[:1500, 1] = np.sort(np.random.default_rng(1).integers((1 << 32) - 10**6, 1 << 32, 1500)).astype(np.uint32)
    (tmp_path / "w.aedat").write_bytes(head + wrapped.astype(">u4").tobytes())
    t = D.read_events(tmp_path / "w.aedat").events["t"]
    assert np.all(np.diff(t) >= 0) and t[-1] >= 1 << 32
    back = body.copy()
    back[10, 1] = back[9, 1] - 1 if back[9, 1] > 0 else 0
    back[10, 1], back[11, 1] = back[11, 1], back[9, 1] - 1
    (tmp_path / "b.aedat").write_bytes(head + back.astype(">u4").tobytes())
    with pytest.raises(DataError, match=r"b\.aedat.*back in time"):
        D.read_events(tmp_path / "b.aedat")
    (tmp_path / "t.aedat").write_bytes(raw[:-3])
    with pytest.raises(DataError, match=r"t\.aedat.*whole number of 8-byte"):
        D.read_events(tmp_path / "t.aedat")
    big = body.copy()
    big[3, 0] = 1 << 20
    (tmp_path / "big.aedat").write_bytes(head + big.astype(">u4").tobytes())
    with pytest.raises(DataError, match=r"big\.aedat.*beyond DVS128"):
        D.read_events(tmp_path / "big.aedat")


def test_aedat1_dvs128(tmp_path):
    """AEDAT 1.0: 16-bit big-endian addresses (jAER's DVS128 layout) and 32-bit timestamps."""
    ev = _cam(200, 128, 128, seed=6)
    addr = ((127 - ev["x"].astype(np.int64)) << 1) | (ev["y"].astype(np.int64) << 8) | (1 - ev["p"].astype(np.int64))
    body = np.zeros(len(ev), np.dtype([("a", ">u2"), ("t", ">u4")]))
    body["a"], body["t"] = addr, ev["t"]
    (tmp_path / "v1.aedat").write_bytes(b"#!AER-DAT1.0\r\n# DVS128\r\n" + body.tobytes())
    s = D.read_events(tmp_path / "v1.aedat")
    assert s.format == "aedat1" and s.sensor_size == (128, 128, 2) and np.array_equal(s.events, ev)
    (tmp_path / "cut.aedat").write_bytes(b"#!AER-DAT1.0\r\n" + body.tobytes()[:-4])
    with pytest.raises(DataError, match=r"cut\.aedat.*whole number of 6-byte events"):
        D.read_events(tmp_path / "cut.aedat")


def test_aedat2_davis346_equals_tonics_decoder(shared_data, tmp_path):
    """A DAVIS346 file: the real jAER header of the fixture plus DVS events and one frame (APS) sample."""
    tonic_io = pytest.importorskip("tonic.io")
    header = (shared_data / "fixtures" / "sample_aedat_header.aedat").read_bytes()
    assert D.read_events(shared_data / "fixtures" / "sample_aedat_header.aedat").sensor_size == (346, 260, 2)
    ev = _cam(500, 346, 260, seed=2)
    x, y, p = (ev[k].astype(np.int64) for k in "xyp")
    addr = ((259 - y) << 22) | ((345 - x) << 12) | (p << 11)
    body = np.stack([addr, ev["t"]], 1).astype(">u4")
    (tmp_path / "d.aedat").write_bytes(header + body.tobytes())
    s = D.read_events(tmp_path / "d.aedat")
    assert s.sensor_size == (346, 260, 2) and np.array_equal(s.events, ev)
    _, _, theirs = tonic_io.read_davis_346(str(tmp_path / "d.aedat"))
    for k in "xytp":
        assert np.array_equal(s.events[k].astype(np.int64), theirs[k].astype(np.int64)), k
    aps = np.concatenate([body[:1], np.array([[1 << 31, body[0, 1]]], ">u4"), body[1:]]).astype(">u4")
    (tmp_path / "aps.aedat").write_bytes(header + aps.tobytes())
    assert np.array_equal(D.read_events(tmp_path / "aps.aedat").events, ev)  # the frame sample is skipped


# ----------------------------------------------------------------------------- AEDAT 3.x
def test_aedat3_roundtrip_equals_tonic_and_overflow(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    ev = _cam(5000, 128, 128, seed=3, span=(1 << 31) - 1)
    D.write_aedat3(tmp_path / "g.aedat", ev, packet_size=1000)
    s = D.read_events(tmp_path / "g.aedat")
    assert s.format == "aedat3" and s.sensor_size == (128, 128, 2) and np.array_equal(s.events, ev)
    # tonic's packet parser (its read_dvs_ibm wrapper fails on tonic 1.7's three-value header reader)
    version, start, _ = tonic_io.read_aedat_header_from_file(str(tmp_path / "g.aedat"))
    raw = tonic_io.get_aer_events_from_file(str(tmp_path / "g.aedat"), version, start)
    addr = raw["address"].astype(np.int64)
    assert version == 3.1 and np.array_equal(s.events["t"], raw["timeStamp"])
    assert np.array_equal(s.events["x"], addr >> 17) and np.array_equal(s.events["y"], (addr >> 2) & 0x7FFF)
    assert np.array_equal(s.events["p"], (addr >> 1) & 1)
    # timestamps beyond 31 bits go through the packets' overflow counter (tonic ignores it)
    late = _cam(3000, 346, 260, seed=4, t0=(1 << 31) - 500_000, span=10**6)
    D.write_aedat3(tmp_path / "late.aedat", late, source="DAVIS346B")
    s = D.read_events(tmp_path / "late.aedat")
    assert s.sensor_size == (346, 260, 2) and np.array_equal(s.events, late)


def test_aedat3_packets_are_validated(tmp_path):
    ev = _cam(100, 128, 128, seed=5)
    D.write_aedat3(tmp_path / "g.aedat", ev)
    raw = (tmp_path / "g.aedat").read_bytes()
    start = raw.index(b"#!END-HEADER\r\n") + 14
    # invalid events (bit 0 clear) and packets of other types and sources are skipped
    words = np.frombuffer(raw[start + 28:], "<u4").reshape(-1, 2).copy()
    words[:10, 0] &= ~np.uint32(1)
    other = _PACKET.pack(2, 1, 4, 0, 0, 2, 2, 2) + bytes(8)  # a 'special' packet
    (tmp_path / "v.aedat").write_bytes(raw[:start] + other + raw[start:start + 28] + words.tobytes())
    assert np.array_equal(D.read_events(tmp_path / "v.aedat").events, ev[10:])
    for name, data, msg in [
        ("trunc", raw[:-5], "declares 800 bytes"),
        ("head", raw[: start + 10], "inside the header of packet 0"),
        ("size", raw[:start] + _PACKET.pack(1, 1, 12, 4, 0, 100, 100, 100) + raw[start + 28:] + bytes(400), "8 bytes"),
        ("count", raw[:start] + _PACKET.pack(1, 1, 8, 4, 0, 100, 101, 0) + raw[start + 28:], "impossible header"),
        ("noend", raw[:start - 14], "no #!END-HEADER"),
        ("v9", b"#!AER-DAT9.0\r\n" + raw[14:], "version '9.0' is not supported"),
    ]:
        (tmp_path / f"{name}.aedat").write_bytes(data)
        with pytest.raises(DataError, match=rf"{name}\.aedat.*{msg}"):
            D.read_events(tmp_path / f"{name}.aedat")


# ----------------------------------------------------------------------------- datasets on a local server
@pytest.fixture
def server(tmp_path):
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(served)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _zip(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return hashlib.md5(path.read_bytes()).hexdigest()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _nbin(ev) -> bytes:
    t = ev["t"].astype(np.int64)
    out = np.empty((len(ev), 5), np.uint8)
    out[:, 0], out[:, 1] = ev["x"], ev["y"]
    out[:, 2] = (ev["p"].astype(np.int64) << 7) | ((t >> 16) & 0x7F)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return out.tobytes()


def test_dvsgesture_download_layout_labels_and_tonic_transforms(server, tmp_path, monkeypatch):
    tt = pytest.importorskip("tonic.transforms")
    served, url = server
    g = np.random.default_rng(0)
    arrays = {}
    with tarfile.open(served / "ibmGestureTrain.tar.gz", "w:gz") as tar:
        for user, light in ((1, "fluorescent"), (2, "led")):
            for label in (0, 10):
                n = 300
                a = np.stack([g.integers(0, 128, n), g.integers(0, 128, n), g.integers(0, 2, n),
                              np.sort(g.integers(0, 6000, n))], 1).astype(np.float64)  # x, y, p, t in ms
                arrays[(user, label)] = a
                data = _npy(a)
                info = tarfile.TarInfo(f"ibmGestureTrain/user{user:02d}_{light}/{label}.npy")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    md5 = hashlib.md5((served / "ibmGestureTrain.tar.gz").read_bytes()).hexdigest()
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        D.DVSGesture(tmp_path / "data")
    monkeypatch.setitem(D.DVSGesture.RESOURCES, "train", ("unused", "ibmGestureTrain.tar.gz", md5,
                                                          "ibmGestureTrain", ()))
    ds = D.DVSGesture(tmp_path / "data", download=True, base_url=url)
    assert len(ds) == 4 and ds.targets == [0, 10, 0, 10] and ds.users == [1, 1, 2, 2]
    assert ds.lighting == ["fluorescent", "fluorescent", "led", "led"]
    ev, y = ds[3]
    a = arrays[(2, 10)]
    assert y == 10 and np.array_equal(ev["t"], (a[:, 3] * 1000).astype(np.int64)) and np.array_equal(ev["x"], a[:, 0])
    frames = D.DVSGesture(tmp_path / "data", transform=tt.ToFrame(D.DVSGesture.sensor_size, time_window=10_000_000))
    assert frames[0][0].shape == (1, 2, 128, 128) and frames[0][0].sum() == 300
    (ds.files[0]).write_bytes(_npy(np.zeros((3, 5))))
    with pytest.raises(DataError, match=r"0\.npy.*\[N, 4\]"):
        ds[0]


def test_ncars_ncaltech_cifar10dvs_download_nested_archives(server, tmp_path, monkeypatch):
    served, url = server
    # N-CARS: one zip holding one zip per split of Prophesee DAT files
    dat_ev = _cam(50, 120, 100, seed=1)
    dat = b"% Data file containing Event2D events.\n" + bytes([0, 8]) + np.stack(
        [dat_ev["t"], dat_ev["x"] | (dat_ev["y"].astype(np.int64) << 14) | (dat_ev["p"].astype(np.int64) << 28)],
        1).astype("<u4").tobytes()
    inner = tmp_path / "n-cars_test.zip"
    _zip(inner, {"n-cars_test/cars/obj_000001_td.dat": dat, "n-cars_test/background/obj_000002_td.dat": dat})
    md5 = _zip(served / "ncars.zip", {"Prophesee_Dataset_n_cars/n-cars_test.zip": inner.read_bytes()})
    monkeypatch.setitem(D.NCARS.RESOURCES, "test", ("unused", "ncars.zip", md5, "n-cars_test", ("n-cars_test.zip",)))
    ds = D.NCARS(tmp_path / "data", "test", download=True, base_url=url)
    assert ds.targets == [0, 1] and np.array_equal(ds[1][0], dat_ev)
    assert D.NCARS(tmp_path / "data", "test").names == ["background/obj_000002_td.dat", "cars/obj_000001_td.dat"]
    # N-Caltech101: ATIS .bin files with classes named by their folders
    ev = _cam(40, 200, 150, seed=2, span=5000)
    inner = tmp_path / "Caltech101.zip"
    _zip(inner, {f"Caltech101/{c}/image_{k:04d}.bin": _nbin(ev) for c in ("accordion", "yin_yang") for k in (1, 2)})
    md5 = _zip(served / "ncal.zip", {"Caltech101.zip": inner.read_bytes(), "Caltech101_annotations.zip": b"x"})
    monkeypatch.setitem(D.NCaltech101.RESOURCES, "all", ("unused", "ncal.zip", md5, "Caltech101", ("Caltech101.zip",)))
    ds = D.NCaltech101(tmp_path / "data", download=True, base_url=url)
    assert ds.classes == ["accordion", "yin_yang"] and ds.targets == [0, 0, 1, 1] and np.array_equal(ds[2][0], ev)
    # CIFAR10-DVS: a zip of per-class zips of AEDAT4 files
    members = {}
    for c in D.CIFAR10DVS.classes:
        z = tmp_path / f"{c}.zip"
        aed = _aedat4_file(tmp_path / "x.aedat4", [_flat_events([(10, 1, 2, True), (20, 127, 0, False)])], 128, 128)
        _zip(z, {f"{c}/cifar10_{c}_0.aedat4": aed.read_bytes()})
        members[f"{c}.zip"] = z.read_bytes()
    md5 = _zip(served / "c10.zip", members)
    monkeypatch.setitem(D.CIFAR10DVS.RESOURCES, "all", ("unused", "c10.zip", md5, ".", tuple(members)))
    ds = D.CIFAR10DVS(tmp_path / "data", download=True, base_url=url)
    assert len(ds) == 10 and ds.targets == list(range(10)) and ds[4][0]["x"].tolist() == [1, 127]
    # a corrupt download is refused by its md5 and nothing is left behind
    (served / "ncal.zip").write_bytes(b"PK broken")
    with pytest.raises(DataError, match="md5"):
        D.NCaltech101(tmp_path / "fresh", download=True, base_url=url)
    assert not list((tmp_path / "fresh").rglob("*.zip*"))


def test_asldvs_download_zip_of_zips_and_mat_validation(server, tmp_path, monkeypatch):
    from scipy.io import savemat

    served, url = server
    g = np.random.default_rng(3)
    members, arrays = {}, {}
    for letter in ("a", "c"):
        mats = {}
        for k in range(2):
            n = 80
            cols = {"ts": np.sort(g.integers(0, 10**5, n))[:, None], "x": g.integers(0, 240, n)[:, None],
                    "y": g.integers(0, 180, n)[:, None], "pol": g.integers(0, 2, n)[:, None]}
            buf = io.BytesIO()
            savemat(buf, cols)
            mats[f"{letter}/{letter}_{k:04d}.mat"] = buf.getvalue()
            arrays[(letter, k)] = cols
        inner = tmp_path / f"Yin Bi - {letter}.zip"
        _zip(inner, mats)
        members[inner.name] = inner.read_bytes()
    md5 = _zip(served / "asl.zip", members)
    monkeypatch.setitem(D.ASLDVS.RESOURCES, "all", ("unused", "asl.zip", md5, ".", ("Yin*.zip",)))
    ds = D.ASLDVS(tmp_path / "data", download=True, base_url=url)
    assert len(ds) == 4 and ds.targets == [0, 0, 2, 2]
    ev, y = ds[3]
    cols = arrays[("c", 1)]
    assert y == 2 and np.array_equal(ev["t"], cols["ts"].ravel()) and np.array_equal(ev["y"], 179 - cols["y"].ravel())
    buf = io.BytesIO()
    savemat(buf, {"ts": np.arange(3), "x": np.arange(3)})
    ds.files[0].write_bytes(buf.getvalue())
    with pytest.raises(DataError, match=r"a_0000\.mat.*lacks y, pol"):
        ds[0]
    ds.files[1].write_bytes(b"MATLAB 5.0 garbage")
    with pytest.raises(DataError, match=r"a_0001\.mat.*not a readable"):
        ds[1]


def test_dvsgesture_original_aedat3_release_cut_by_its_label_files(tmp_path):
    folder = tmp_path / "DvsGesture"
    folder.mkdir()
    recs = {}
    for name in ("user01_fluorescent", "user02_lab"):
        ev = _cam(4000, 128, 128, seed=len(recs), t0=10**6, span=9 * 10**6)
        D.write_aedat3(folder / f"{name}.aedat", ev, packet_size=512)
        (folder / f"{name}_labels.csv").write_text("class,startTime_usec,endTime_usec\n"
                                                   "1,2000000,4000000\n11,5000000,8000000\n")
        recs[name] = ev
    (folder / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser02_lab.aedat\n")
    ds = D.DVSGesture(tmp_path, split="train")
    assert ds.targets == [0, 10, 0, 10] and ds.users == [1, 1, 2, 2] and ds.lighting[2] == "lab"
    ev = recs["user02_lab"]
    seg = ev[(ev["t"] >= 5_000_000) & (ev["t"] < 8_000_000)]
    assert np.array_equal(ds[3][0], seg) and np.array_equal(ds[0][0]["t"], recs["user01_fluorescent"]["t"][
        (recs["user01_fluorescent"]["t"] >= 2_000_000) & (recs["user01_fluorescent"]["t"] < 4_000_000)])
    (folder / "user02_lab_labels.csv").write_text("class,startTime_usec,endTime_usec\n12,0,10\n")
    with pytest.raises(DataError, match=r"user02_lab_labels\.csv.*line 2 has class 12"):
        D.DVSGesture(tmp_path, split="train")
    with pytest.raises(DatasetNotFoundError, match="DVSGesture test not found"):
        D.DVSGesture(tmp_path, split="test")


def test_ncars_reads_a_real_recording(shared_data, tmp_path):
    folder = tmp_path / "NCARS" / "n-cars_test" / "cars"
    folder.mkdir(parents=True)
    (folder / "obj_000001_td.dat").write_bytes((shared_data / "fixtures" / "sample_ncars.dat").read_bytes())
    ev, label = D.NCARS(tmp_path, "test")[0]
    assert label == 1 and len(ev) == 2009 and ev["x"].max() < 120 and ev["y"].max() < 100
    assert np.array_equal(ev, D.read_events(folder / "obj_000001_td.dat").events)
