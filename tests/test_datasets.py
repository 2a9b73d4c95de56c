"""Event data: readers on the real fixture files and on files written here in the exact formats,
transforms, datasets, downloads from a local HTTP server, audio to spikes."""

from __future__ import annotations

import bisect
import functools
import hashlib
import http.server
import os
import struct
import subprocess
import sys
import threading
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import neuro.datasets as D
from neuro.errors import ConfigError, DataError, DatasetNotFoundError

# ----------------------------------------------------------------------------- real fixtures


def test_nmnist_fixture(shared_data):
    ev = D.read_nmnist(shared_data / "fixtures" / "sample_nmnist.bin")
    assert len(ev) == 4325
    assert (ev["x"].max(), ev["y"].max()) == (33, 33)
    assert int((ev["p"] == 1).sum()) == 2145
    import tonic.io

    theirs = tonic.io.read_mnist_file(str(shared_data / "fixtures" / "sample_nmnist.bin"),
                                      dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    for k in "xytp":
        np.testing.assert_array_equal(ev[k], theirs[k])
    assert (ev["t"][0], ev["t"][-1]) == (654, 311175)
    assert tuple(ev[0]) == (7, 15, 654, 1)


def test_prophesee_fixtures(shared_data):
    dat = D.read_prophesee_dat(shared_data / "fixtures" / "sample_ncars.dat")
    assert len(dat.events) == 2009
    assert dat.events["t"].min() == 0 and dat.events["t"].max() == 99952
    assert dat.events["x"].max() <= 77 and dat.events["y"].max() <= 41
    evt3 = D.read_events(shared_data / "fixtures" / "evt3_sample.raw")
    ref = np.load(shared_data / "fixtures" / "evt3_sample.npy")
    assert evt3.format == "prophesee_evt3" and len(evt3.events) == len(ref)
    for k in "txyp":
        np.testing.assert_array_equal(evt3.events[k], ref[k])
    evt2 = D.read_events(shared_data / "fixtures" / "evt2_sample.raw")
    assert evt2.format == "prophesee_evt2" and len(evt2.events) > 0
    assert np.all(np.diff(evt2.events["t"]) >= 0)


def test_aedat4_fixture(shared_data):
    s = D.read_events(shared_data / "fixtures" / "sample.aedat4")
    assert s.format == "aedat4" and s.sensor_size[:2] == (320, 240)
    assert len(s.events) > 10_000
    s.check_bounds()


def test_mnist_idx(shared_data):
    m = D.MNIST(shared_data, train=False)
    assert len(m) == 10_000 and m[0][0].shape == (28, 28) and 0 <= m[0][1] <= 9
    assert float(m.images.max()) == 1.0
    p1, p2 = D.PermutedMNIST(m, 1), D.PermutedMNIST(m, 2)
    assert not torch.equal(p1.perm, p2.perm)
    torch.testing.assert_close(p1[5][0].sort().values, m[5][0].flatten().sort().values)


def test_nmnist_folder_dataset(shared_data):
    ds = D.NMNIST(shared_data / "nmnist-small", transform=D.ToFrame(D.NMNIST.sensor_size, n_time_bins=8))
    assert len(ds) == 1000 and sorted(set(ds.targets)) == list(range(10))
    x, y = ds[0]
    assert x.shape == (8, 2, 34, 34) and x.sum() > 100
    sac = D.NMNIST(shared_data / "nmnist-small", first_saccade=True)
    assert sac[0][0]["t"].max() < 105_000


# ----------------------------------------------------------------------------- files written here


def test_nmnist_roundtrip_overflow_and_truncation(tmp_path):
    ev = D.make_events(t=[5, 100, 70000], x=[1, 2, 33], p=[0, 1, 1], y=[3, 4, 0])
    D.write_nmnist(tmp_path / "a.bin", ev)
    back = D.read_nmnist(tmp_path / "a.bin")
    for k in "xytp":
        np.testing.assert_array_equal(back[k], ev[k])
    # an ATIS overflow marker (y == 240) adds 2**13 µs to every later event and is dropped
    raw = bytearray((tmp_path / "a.bin").read_bytes())
    raw[5:10] = bytes([0, 240, 0, 0, 0])
    (tmp_path / "b.bin").write_bytes(bytes(raw))
    b = D.read_nmnist(tmp_path / "b.bin")
    assert len(b) == 2 and b["t"][1] == 70000 + 2**13
    (tmp_path / "c.bin").write_bytes(bytes(raw[:-2]))
    with pytest.raises(DataError, match="c.bin.*5-byte"):
        D.read_nmnist(tmp_path / "c.bin")


def test_dat_written_here(tmp_path):
    header = b"% Data file containing CD events.\n% Width 120\n% Height 100\n"
    t = np.array([10, 20, 4294967290, 5], dtype=np.uint64)  # the last one wraps past 2**32
    x, y, p = np.array([1, 119, 5, 6]), np.array([2, 99, 0, 7]), np.array([1, 0, 1, 0])
    words = np.empty(8, "<u4")
    words[0::2] = t & 0xFFFFFFFF
    words[1::2] = x | (y << 14) | (p << 28)
    (tmp_path / "a.dat").write_bytes(header + bytes([0, 8]) + words.tobytes())
    s = D.read_events(tmp_path / "a.dat")
    assert s.sensor_size == (120, 100, 2)
    np.testing.assert_array_equal(s.events["t"], [10, 20, 4294967290, 5 + 2**32])
    np.testing.assert_array_equal(s.events["y"], y)
    (tmp_path / "b.dat").write_bytes(header + bytes([0, 8]) + words.tobytes()[:-3])
    with pytest.raises(DataError, match="b.dat.*8-byte"):
        D.read_events(tmp_path / "b.dat")


def test_shd_hdf5_written_here_float16_upcast(tmp_path):
    ev = [D.make_events(t=[0, 500_000, 1_300_000], x=[0, 350, 699]), D.make_events(t=[1000], x=[3])]
    D.write_shd(tmp_path / "shd_train.h5", ev, [7, 19], [f"w{k}" for k in range(20)], speakers=[1, 2])
    ds = D.SHD(tmp_path, "train")
    assert len(ds) == 2 and ds.classes[19] == "w19" and list(ds.speakers) == [1, 2]
    x, y = ds[0]
    assert y == 7 and x["x"].tolist() == [0, 350, 699]
    assert x["t"][-1] == pytest.approx(1_300_000, abs=600)  # float16 seconds: ~0.5 ms resolution, no overflow
    frames = D.Compose([D.Downsample(channel_factor=5), D.ToFrame((140, 1, 1), time_window=10_000, t0="zero")])(x)
    assert frames.shape == (x["t"][-1] // 10_000 + 1, 140) and frames[0, 0] == 1 and frames[-1, 139] == 1
    assert frames.sum() == 3


def test_format_errors(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="unknown event format"):
        D.read_events(tmp_path / "x.txt")
    (tmp_path / "e.bin").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        D.read_events(tmp_path / "e.bin")
    (tmp_path / "bad.gz").write_bytes(b"\x00\x00\x08\x03junk")
    with pytest.raises(DataError, match="IDX"):
        D.read_idx(tmp_path / "bad.gz")
    ev = D.make_events(t=[0], x=[40], p=[0], y=[0])
    with pytest.raises(DataError, match="outside the sensor"):
        D.EventStream(ev, (34, 34, 2), "nmnist").check_bounds()
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        D.SHD(tmp_path / "none")


# ----------------------------------------------------------------------------- transforms


def _camera(n=2000, seed=0):
    g = np.random.default_rng(seed)
    return D.make_events(t=np.sort(g.integers(0, 100_000, n)), x=g.integers(0, 34, n), p=g.integers(0, 2, n),
                         y=g.integers(0, 34, n))


def test_to_frame_modes_conserve_events():
    ev = _camera()
    s = (34, 34, 2)
    assert D.ToFrame(s, n_time_bins=7)(ev).sum() == len(ev)
    f = D.ToFrame(s, time_window=10_000)(ev)
    assert f.shape[0] == (ev["t"][-1] - ev["t"][0]) // 10_000 + 1 and f.sum() == len(ev)
    c = D.ToFrame(s, event_count=300)(ev)
    assert c.shape[0] == 7 and c[0].sum() == 300 and c.sum() == len(ev)
    sp = D.to_sparse(ev, s, 10_000)
    assert torch.equal(sp.to_dense(), torch.from_numpy(f))


def test_transforms_behave():
    ev = _camera()
    assert len(D.DropEvent(0.5, seed=1)(ev)) == pytest.approx(1000, rel=0.1)
    j = D.TimeJitter(50, seed=1)(ev)
    assert len(j) == len(ev) and np.all(np.diff(j["t"]) >= 0)
    sj = D.SpatialJitter((34, 34, 2), 1.0, seed=1)(ev)
    assert 0 < len(sj) <= len(ev) and sj["x"].max() < 34
    assert D.CropTime(10_000, 20_000)(ev)["t"].min() >= 10_000
    d = D.Downsample(spatial_factor=2)(ev)
    assert d["x"].max() <= 16
    audio = D.make_events(t=np.arange(100), x=np.full(100, 695))
    sh = D.ChannelShift(700, 10, seed=3)(audio)
    assert len(sh) in (0, 100)
    # denoise: an isolated event goes, a supported one stays
    clean = D.make_events(t=[0, 100, 50_000], x=[5, 6, 30], p=[0, 0, 0], y=[5, 5, 30])
    kept = D.Denoise((34, 34, 2), 1000)(clean)
    assert kept["t"].tolist() == [100]


# ----------------------------------------------------------------------------- absolute timestamps (AEDAT4)


def _denoise_reference(ev, sensor_size, filter_time):
    """Brute force: keep an event when some event at its pixel or a neighbour has a time in [t - filter_time, t)."""
    W, H, _ = sensor_size
    audio = "y" not in ev.dtype.names
    xs, ts = ev["x"].tolist(), ev["t"].tolist()
    ys = [0] * len(xs) if audio else ev["y"].tolist()
    by_pixel: dict[tuple[int, int], list[int]] = {}
    for x, y, t in zip(xs, ys, ts, strict=True):
        by_pixel.setdefault((x, y), []).append(t)
    for times in by_pixel.values():
        times.sort()
    keep = []
    for x, y, t in zip(xs, ys, ts, strict=True):
        found = False
        for q in [(x + dx, y + dy) for dx in (-1, 0, 1) for dy in ((0,) if audio else (-1, 0, 1))]:
            times = by_pixel.get(q, [])
            k = bisect.bisect_left(times, t) - 1  # the latest time strictly before t
            found = found or (k >= 0 and t - times[k] <= filter_time)
        keep.append(found)
    return np.array(keep)


def _frames_reference(ev, sensor_size, n_bins, t0, span):
    """Plain loop: event k goes to bin floor((t - t0) * n_bins / span), computed in Python integers."""
    W, H, P = sensor_size
    out = np.zeros((n_bins, P, H, W), np.float32)
    for x, y, t, p in zip(ev["x"].tolist(), ev["y"].tolist(), ev["t"].tolist(), ev["p"].tolist(), strict=True):
        b = (t - t0) * n_bins // span
        if 0 <= b < n_bins:
            out[b, p, y, x] += 1
    return out


@pytest.fixture(scope="module")
def aedat4(shared_data):
    return D.read_events(shared_data / "fixtures" / "sample.aedat4")


def test_denoise_on_absolute_timestamps_matches_brute_force(aedat4):
    s = aedat4
    assert s.events["t"].min() > 1.6e15  # µs since 1970
    ref = _denoise_reference(s.events, s.sensor_size, 10_000)
    full = D.Denoise(filter_time=10_000)(s)  # an EventStream in, an EventStream out
    assert isinstance(full, D.EventStream) and full.sensor_size == s.sensor_size
    np.testing.assert_array_equal(full.events, s.events[ref])
    shifted = s.events.copy()
    shifted["t"] -= shifted["t"].min()  # the same recording on a relative clock keeps the same events
    np.testing.assert_array_equal(D.Denoise(s.sensor_size)(shifted)[["x", "y", "p"]], full.events[["x", "y", "p"]])
    assert 60_000 < len(full.events) < 100_000  # the old int64 key overflowed and kept 11,300


def test_denoise_audio_and_simultaneous_events():
    g = np.random.default_rng(3)
    t = np.sort(g.integers(0, 40_000, 3000)) + 1_700_000_000_000_000
    audio = D.make_events(t=t, x=g.integers(0, 50, 3000))
    np.testing.assert_array_equal(D.Denoise((50, 1, 1), 300)(audio), audio[_denoise_reference(audio, (50, 1, 1), 300)])
    same_time = D.make_events(t=[5, 5], x=[3, 4], p=[0, 0], y=[3, 3])
    assert len(D.Denoise((34, 34, 2), 100)(same_time)) == 0


def test_frames_and_crops_on_absolute_timestamps_match_references(aedat4):
    s = aedat4
    ev, sensor = s.events, s.sensor_size
    t_first, t_last = int(ev["t"].min()), int(ev["t"].max())
    f = D.ToFrame(time_window=50_000)(s)
    n = (t_last - t_first) // 50_000 + 1
    np.testing.assert_array_equal(f, _frames_reference(ev, sensor, n, t_first, n * 50_000))
    f7 = D.ToFrame(sensor, n_time_bins=7)(ev)
    np.testing.assert_array_equal(f7, _frames_reference(ev, sensor, 7, t_first, t_last - t_first + 1))
    start = t_first + 123_456  # an explicit origin in µs
    f3 = D.ToFrame(sensor, n_time_bins=3, t0=start)(ev)
    np.testing.assert_array_equal(f3, _frames_reference(ev, sensor, 3, start, t_last - start + 1))
    with pytest.raises(ConfigError, match="absolute timestamp"):  # was a 35 PiB allocation
        D.ToFrame(sensor, time_window=1000, t0="zero")(ev)
    crop = D.CropTime(0, 100_000)(s)
    expect = [k for k, t in enumerate(ev["t"].tolist()) if 0 <= t - t_first < 100_000]
    assert len(crop.events) == len(expect) > 10_000  # was 0
    np.testing.assert_array_equal(crop.events, ev[expect])
    assert len(D.CropTime(0, 100_000, t0="zero")(ev)) == 0  # times as stored: nothing before 1970 + 0.1 s
    window = D.CropTime(100_000, 200_000, t0=t_first)(ev)
    assert window["t"].min() >= t_first + 100_000 and window["t"].max() < t_first + 200_000
    sp = D.to_sparse(ev, sensor, 50_000).to_dense().numpy()
    np.testing.assert_array_equal(sp, f)


def test_every_transform_accepts_an_event_stream(aedat4):
    s = aedat4
    ev = s.events
    for tr in (D.DropEvent(0.5, seed=1), D.TimeJitter(50, seed=1), D.SpatialJitter(s.sensor_size, 1.0, seed=1),
               D.CropTime(0, 50_000), D.Denoise(s.sensor_size), D.Downsample(spatial_factor=1)):
        out = tr(s)
        assert isinstance(out, D.EventStream) and out.format == "aedat4" and out.path == s.path
        again = type(tr)(**{k: v for k, v in vars(tr).items() if not k.startswith("_")})(ev)  # fresh rng
        np.testing.assert_array_equal(out.events, again)
    j = D.TimeJitter(50, seed=1)(s)
    assert np.abs(np.sort(j.events["t"]) - ev["t"]).max() < 1000 and np.all(np.diff(j.events["t"]) >= 0)
    d = D.Downsample(spatial_factor=4)(s)
    assert d.sensor_size == (80, 60, 2) and d.events["x"].max() < 80
    assert D.Compose([D.Downsample(spatial_factor=4), D.ToFrame(n_time_bins=2)])(s).shape == (2, 2, 60, 80)
    audio = D.EventStream(D.make_events(t=[1, 2], x=[0, 699]), (700, 1, 1), "shd_hdf5")
    assert D.ChannelShift(700, 0, seed=0)(audio).events["x"].tolist() == [0, 699]
    with pytest.raises(ConfigError, match="sensor_size"):
        D.ToFrame(n_time_bins=2)(ev)  # a bare array carries no sensor size


def test_transform_options_are_checked():
    for bad in (lambda: D.ToFrame((34, 34, 2), time_window=0), lambda: D.ToFrame((34, 34, 2), n_time_bins=-1),
                lambda: D.ToFrame((34, 34, 2), n_time_bins=2, t0="last"), lambda: D.Downsample(spatial_factor=0),
                lambda: D.CropTime(10, 5), lambda: D.Denoise((34, 34, 2), -1)):
        with pytest.raises(ConfigError):
            bad()
    ev = D.make_events(t=[0, 10], x=[40, 1], p=[0, 1], y=[0, 0])  # x=40 is outside a 34-pixel sensor
    for tr in (D.ToFrame((34, 34, 2), n_time_bins=2), D.Denoise((34, 34, 2))):
        with pytest.raises(DataError, match="outside the sensor"):
            tr(ev)


# ----------------------------------------------------------------------------- readers refuse what a format cannot hold


def _dat(path, header: bytes, t, x, y, p):
    words = np.empty(2 * len(t), "<u4")
    words[0::2] = np.asarray(t, np.uint64) & 0xFFFFFFFF
    words[1::2] = np.asarray(x) | (np.asarray(y) << 14) | (np.asarray(p) << 28)
    path.write_bytes(header + bytes([0, 8]) + words.tobytes())
    return path


def test_nmnist_events_outside_the_sensor_are_refused(tmp_path):
    ev = D.make_events(t=[5, 100], x=[1, 34], p=[0, 1], y=[3, 4])
    D.write_nmnist(tmp_path / "wide.bin", ev)
    with pytest.raises(DataError, match=r"wide\.bin.*outside the sensor.*x in \[1, 34\]"):
        D.read_events(tmp_path / "wide.bin")
    assert len(D.read_nmnist(tmp_path / "wide.bin", sensor_size=(240, 180, 2))) == 2  # another ATIS sensor


def test_dat_header_and_events_are_validated(tmp_path):
    t, x, y, p = [10, 20], [1, 2], [3, 4], [0, 1]
    for name, header, msg in [("neg.dat", b"% Width -5\n% Height 10\n", "width -5"),
                              ("zero.dat", b"% Width 10\n% Height 0\n", "height 0"),
                              ("word.dat", b"% Width 1O\n% Height 10\n", "Width = '1O' is not an integer"),
                              ("geom.dat", b"% geometry 12x\n", "geometry"),
                              ("small.dat", b"% Width 2\n% Height 10\n", "outside the sensor")]:
        with pytest.raises(DataError, match=rf"{name}.*{msg}"):
            D.read_events(_dat(tmp_path / name, header, t, x, y, p))
    with pytest.raises(DataError, match=r"pol\.dat.*polarity 3"):
        D.read_events(_dat(tmp_path / "pol.dat", b"% Width 10\n", t, x, y, [0, 3]))
    with pytest.raises(DataError, match=r"back\.dat.*back in time at event 1"):  # a drop too small to be a wrap
        D.read_events(_dat(tmp_path / "back.dat", b"% Width 10\n", [5000, 4000], x, y, p))
    with pytest.raises(DataError, match=r"cut\.dat.*ends inside its '%' header"):
        (tmp_path / "cut.dat").write_bytes(b"% Width 10\n% Hei")
        D.read_events(tmp_path / "cut.dat")


def test_missing_and_non_regular_files_raise_data_error(tmp_path):
    for reader in (D.read_events, D.read_nmnist, D.read_prophesee_dat, D.read_aedat4, D.read_prophesee_raw):
        with pytest.raises(DataError, match=r"nothing\.bin"):
            reader(tmp_path / "nothing.bin")
    (tmp_path / "folder.bin").mkdir()
    with pytest.raises(DataError, match=r"folder\.bin.*not a regular file"):
        D.read_events(tmp_path / "folder.bin")


def _shd(tmp_path, name, samples, labels=None, keys=None):
    labels = [0] * len(samples) if labels is None else labels
    D.write_shd(tmp_path / name, samples, labels, keys or ["a", "b"])
    return tmp_path / name


def test_shd_values_are_validated(tmp_path):
    bad_channel = _shd(tmp_path, "ch.h5", [D.make_events(t=[0, 10], x=[3, 700])])
    with pytest.raises(DataError, match=r"ch\.h5.*channel 700"):
        D.read_events(bad_channel)
    neg = tmp_path / "neg.h5"
    _shd(tmp_path, "neg.h5", [D.make_events(t=[0, 10], x=[3, 4])])
    import h5py

    with h5py.File(neg, "r+") as f:
        f["spikes/times"][0] = np.array([-0.5, 0.1], np.float16)
    with pytest.raises(DataError, match=r"neg\.h5.*negative or non-finite"):
        D.read_events(neg)
    with pytest.raises(DataError, match=r"lab\.h5.*labels in \[5, 5\] but 2 class names"):
        D.ShdFile(_shd(tmp_path, "lab.h5", [D.make_events([1], [1])], labels=[5]))
    with pytest.raises(DataError, match=r"none\.h5.*no samples"):
        D.read_events(_shd(tmp_path, "none.h5", []))
    with h5py.File(tmp_path / "nolabels.h5", "w") as f:
        f.create_dataset("spikes/times", (1,), dtype=h5py.vlen_dtype(np.float16))
        f.create_dataset("spikes/units", (1,), dtype=h5py.vlen_dtype(np.uint16))
        f.create_group("labels")  # a group where a dataset belongs: h5py would raise a raw error later
    with pytest.raises(DataError, match=r"nolabels\.h5.*'labels' is missing or not a dataset"):
        D.ShdFile(tmp_path / "nolabels.h5")


def test_corrupt_shd_heap_is_refused_before_h5py_reads_it(tmp_path):
    """A heap object whose size field grew by 2048 made h5py spin forever inside spikes/times."""
    path = _shd(tmp_path, "spin.h5", [D.make_events(t=np.arange(50) * 1000, x=np.arange(50) % 700)] * 4)
    raw = bytearray(path.read_bytes())
    first_object = raw.find(b"GCOL") + 16
    raw[first_object + 9] ^= 1 << 3  # size field of the first heap object (+2048)
    path.write_bytes(bytes(raw))
    code = "import sys, neuro.datasets as D\nf = D.ShdFile(sys.argv[1])\n[f.events(i) for i in range(len(f))]"
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                       env=_env())
    assert r.returncode == 1 and "DataError" in r.stderr and "spin.h5" in r.stderr and "heap" in r.stderr


def _env() -> dict:
    import neuro

    return {**os.environ, "PYTHONPATH": str(Path(neuro.__file__).resolve().parents[1])}


# ----------------------------------------------------------------------------- AEDAT4 written here


AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"


def _flat_ioheader(description: str, compression: int = 0) -> bytes:
    """An ``IOHE`` flatbuffer: root offset, identifier, vtable, table (compression, data table position, string)."""
    d = description.encode()
    b = struct.pack("<I", 24) + b"IOHE" + struct.pack("<HHHHH", 10, 20, 4, 8, 16) + bytes(6)
    b += struct.pack("<iiqI", 16, compression, -1, 4) + struct.pack("<I", len(d)) + d + b"\0"
    return b + bytes(-len(b) % 8)


def _flat_events(events) -> bytes:
    """A size-prefixed ``EVTS`` packet of ``(t, x, y, on)`` events."""
    body = struct.pack("<I", 16) + b"EVTS" + struct.pack("<HHH", 6, 8, 4) + bytes(2) + struct.pack("<iI", 8, 8)
    body += bytes(4) + struct.pack("<I", len(events))
    body += b"".join(struct.pack("<qhh?xxx", t, x, y, on) for t, x, y, on in events)
    return struct.pack("<I", len(body)) + body


def _aedat4_file(path, payloads, width=34, height=34, compression=0):
    desc = (f'<dv version="2.0"><node name="outInfo" path="/o/"><node name="0" path="/o/0/">'
            f'<attr key="typeIdentifier" type="string">EVTS</attr><node name="info" path="/o/0/info/">'
            f'<attr key="sizeX" type="int">{width}</attr><attr key="sizeY" type="int">{height}</attr>'
            f"</node></node></node></dv>")
    head = _flat_ioheader(desc, compression)
    out = AEDAT4_MAGIC + struct.pack("<I", len(head)) + head
    out += b"".join(struct.pack("<II", 0, len(p)) + p for p in payloads)
    path.write_bytes(out)
    return path


def test_aedat4_written_here_is_read_and_validated(tmp_path):
    ok = _aedat4_file(tmp_path / "ok.aedat4", [_flat_events([(10, 1, 2, True), (20, 3, 4, False)]),
                                               _flat_events([(30, 33, 33, True)])])
    s = D.read_events(ok)
    assert s.sensor_size == (34, 34, 2) and s.events["t"].tolist() == [10, 20, 30]
    assert s.events["p"].tolist() == [1, 0, 1] and s.events["x"].tolist() == [1, 3, 33]
    for name, events, msg in [("back.aedat4", [(30, 1, 1, True), (20, 1, 1, True)], "back in time at event 1"),
                              ("wide.aedat4", [(10, 34, 1, True)], "outside the sensor"),
                              ("neg.aedat4", [(-5, 1, 1, True)], "negative timestamp")]:
        with pytest.raises(DataError, match=rf"{name}.*{msg}"):
            D.read_events(_aedat4_file(tmp_path / name, [_flat_events(events)]))
    with pytest.raises(DataError, match=r"flat\.aedat4.*sensor size \(0, 34, 2\)"):
        D.read_events(_aedat4_file(tmp_path / "flat.aedat4", [], width=0))


def test_aedat4_rust_panic_becomes_data_error(tmp_path):
    """An LZ4 packet that unpacks to 4 bytes makes the aedat decoder panic (pyo3 PanicException, a BaseException)."""
    lz4_frame = bytes.fromhex("04224d184040c0") + struct.pack("<I", 4 | 1 << 31) + b"\1\2\3\4" + bytes(4)
    path = _aedat4_file(tmp_path / "panic.aedat4", [lz4_frame], compression=1)
    with pytest.raises(DataError, match=r"panic\.aedat4.*corrupt AEDAT4"):
        D.read_events(path)


def test_aedat4_declared_sizes_are_checked_before_decoding(tmp_path):
    ok = _aedat4_file(tmp_path / "ok.aedat4", [_flat_events([(10, 1, 2, True)])])
    raw = bytearray(ok.read_bytes())
    huge = bytearray(raw)
    huge[14:18] = struct.pack("<I", 2**31)  # a 2 GiB header in a tiny file: aedat allocated it and aborted
    (tmp_path / "huge.aedat4").write_bytes(bytes(huge))
    code = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
            "from neuro.cli import main\nsys.exit(main(['events', 'info', sys.argv[1]]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "huge.aedat4")], capture_output=True, text=True,
                       timeout=120, env=_env())
    assert r.returncode == 2 and "huge.aedat4" in r.stderr and "declares 2147483648 bytes" in r.stderr
    desc = bytearray(raw)
    at = raw.find(b"<dv") - 4
    desc[at : at + 4] = struct.pack("<I", 10**6)  # the description string runs past the header
    (tmp_path / "desc.aedat4").write_bytes(bytes(desc))
    with pytest.raises(DataError, match=r"desc\.aedat4.*description runs past the header"):
        D.read_events(tmp_path / "desc.aedat4")
    packet = bytearray(raw)
    at = 18 + struct.unpack_from("<I", raw, 14)[0] + 4  # the first packet's length
    packet[at : at + 4] = struct.pack("<I", 2**32 - 1)
    (tmp_path / "packet.aedat4").write_bytes(bytes(packet))
    with pytest.raises(DataError, match=r"packet\.aedat4.*packet 0 .* declares 4294967295 bytes"):
        D.read_events(tmp_path / "packet.aedat4")


# ----------------------------------------------------------------------------- Prophesee RAW


def test_evt3_with_a_long_header_is_read(shared_data, tmp_path):
    src = (shared_data / "fixtures" / "evt3_sample.raw").read_bytes()
    pos = src.index(b"\n") + 1  # after the first header line
    extra = b"".join(b"%% comment line %03d padding the header of a real camera file\n" % k for k in range(78))
    (tmp_path / "long.raw").write_bytes(src[:pos] + extra + src[pos:])
    assert len(extra) > 4096
    long, ref = D.read_events(tmp_path / "long.raw"), D.read_events(shared_data / "fixtures" / "evt3_sample.raw")
    np.testing.assert_array_equal(long.events, ref.events)


def test_raw_files_the_decoder_cannot_read_raise_data_error(tmp_path):
    (tmp_path / "header_only.raw").write_bytes(b"% evt 3.0\n% geometry 640x480\n")
    empty = D.read_events(tmp_path / "header_only.raw")
    assert len(empty.events) == 0 and empty.sensor_size == (640, 480, 2)
    (tmp_path / "junk.raw").write_bytes(b"% evt 2.0\n" + bytes([0x00, 0x00, 0x00, 0x50]) * 4)  # word type 0x5
    with pytest.raises(DataError, match=r"junk\.raw.*EVT2 word 0 .* unknown type 0x5"):  # expelliarmus gave None
        D.read_events(tmp_path / "junk.raw")
    (tmp_path / "cut.raw").write_bytes(b"% evt 3.0\n% geometry 64")  # expelliarmus looped forever on this
    with pytest.raises(DataError, match=r"cut\.raw.*ends inside its '%' header"):
        D.read_events(tmp_path / "cut.raw")
    (tmp_path / "geom.raw").write_bytes(b"% evt 3.0\n% format EVT3;width=abc;height=480\n")
    with pytest.raises(DataError, match=r"geom\.raw.*format width = 'abc' is not an integer"):
        D.read_events(tmp_path / "geom.raw")


def test_detect_format_reads_only_the_head(tmp_path):
    big = tmp_path / "big.aedat4"
    with open(big, "wb") as f:
        f.write(AEDAT4_MAGIC)
        f.truncate(256 << 20)  # sparse: 256 MiB of zeros
    tracemalloc.start()
    try:
        assert D.detect_format(big) == "aedat4"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the old read_bytes() held the whole file


# ----------------------------------------------------------------------------- audio, spiking FSDD


def test_cochlea_encoder_on_a_tone():
    rate = 8000
    tone = np.sin(2 * np.pi * 1000 * np.arange(rate // 2) / rate).astype(np.float32)
    enc = D.CochleaEncoder(channel_norm=0.0)  # the plain filterbank: a steady tone stays in its channel
    ev = enc.encode(tone, rate)
    assert len(ev) > 50
    centres = np.geomspace(80, 0.95 * 8000, 700)
    peak = np.bincount(ev["x"], minlength=700).argmax()
    assert 800 < centres[peak] < 1250  # the most active channel is tuned near 1 kHz
    assert ev["t"].max() <= 510_000


def test_dynamic_range_keeps_quiet_sounds():
    """A 2 kHz tone 30 dB below a 500 Hz one (a weak consonant beside a vowel): with a 20 dB window
    (``dynamic_range=100``) its channels stay silent; with 40 dB (``10_000``) they fire."""
    rate = 8000
    t = np.arange(rate // 2) / rate
    wave = (np.sin(2 * np.pi * 500 * t) + 10 ** (-30 / 20) * np.sin(2 * np.pi * 2000 * t)).astype(np.float32)
    centres = np.geomspace(80, 0.95 * 8000, 700)
    near = (centres > 1800) & (centres < 2200)
    counts = {}
    for dr in (100.0, 10_000.0):
        ev = D.CochleaEncoder(channel_norm=0.0, dynamic_range=dr).encode(wave, rate)
        counts[dr] = int(near[ev["x"]].sum())
    assert counts[100.0] == 0 and counts[10_000.0] > 20, counts
    with pytest.raises(ValueError, match="dynamic_range must be positive"):
        D.CochleaEncoder(dynamic_range=0)


def test_channel_norm_levels_the_channels():
    """Channel normalization moves every channel's mean level over the recording to the common mean,
    removing a speaker's or microphone's fixed spectral tilt; the plain filterbank keeps the tilt."""
    from scipy.signal import lfilter

    rate = 8000
    rng = np.random.default_rng(0)
    noise = rng.normal(size=rate // 2) * (1 + np.sin(2 * np.pi * 4 * np.arange(rate // 2) / rate))
    tilted = lfilter([1.0, -0.95], [1.0], noise).astype(np.float32)  # highs much louder than lows
    spread = {}
    for norm in (0.0, 1.0):
        level = D.CochleaEncoder(channel_norm=norm).envelope(tilted, rate).mean(0)
        spread[norm] = level[50:650].std()  # away from the edges of the 4 kHz band
    assert spread[1.0] < 0.25 * spread[0.0], spread  # clipping at 0 and 1 keeps a little


def test_spiking_fsdd_cache_and_hdf5(shared_data, tmp_path):
    ds = D.SpikingFSDD(shared_data, speakers=["jackson"], cache_dir=tmp_path / "cache")
    assert len(ds) == 500 and set(ds.speakers) == {"jackson"}
    ev, y = ds[0]
    assert len(ev) > 200 and ev["x"].max() < 700
    again, _ = ds[0]  # from the cache
    np.testing.assert_array_equal(ev, again)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    small = torch.utils.data.Subset(ds, range(3))
    out = D.write_shd(tmp_path / "shd_train.h5", [small[i][0] for i in range(3)], [0, 1, 2], ds.classes)
    assert out is None and len(D.SHD(tmp_path)) == 3


def test_pad_collate_time_major():
    x, y, lengths = D.pad_time_major([(np.ones((3, 4)), 1), (np.ones((5, 4)), 0)])
    assert x.shape == (5, 2, 4) and lengths.tolist() == [3, 5] and y.tolist() == [1, 0]
    assert x[3:, 0].sum() == 0
    assert D.length_mask(lengths).sum() == 8


# ----------------------------------------------------------------------------- downloads


@pytest.fixture
def http_root(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_RangeHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single 'bytes=N-' range support (for resume)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        rng = self.headers.get("Range")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        if start >= len(data) and rng:
            self.send_error(416)
            return
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


def _nmnist_zip(path: Path, split: str = "Train") -> str:
    with zipfile.ZipFile(path, "w") as z:
        for d in range(10):
            ev = D.make_events(t=[10 * d, 20 * d + 5], x=[d, d], p=[0, 1], y=[1, 2])
            buf = Path(path.parent / "tmp.bin")
            D.write_nmnist(buf, ev)
            z.write(buf, f"{split}/{d}/{d + 1:05d}.bin")
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_verify_extract_and_reject_corrupt(http_root, tmp_path, monkeypatch):
    served, url = http_root
    md5 = _nmnist_zip(served / "train.zip")
    monkeypatch.setitem(D.NMNIST.RESOURCES, "Train", ("unused", "train.zip", md5))
    ds = D.NMNIST(tmp_path / "data", download=True, base_url=url)
    assert len(ds) == 10 and ds[3][1] == 3
    assert not list((tmp_path / "data").rglob("*.part"))
    # a corrupted archive is rejected (md5) and nothing is left that looks complete
    (served / "train.zip").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DataError, match="md5"):
        D.NMNIST(tmp_path / "fresh", download=True, base_url=url)
    assert not (tmp_path / "fresh" / "NMNIST" / "train.zip").exists()
    assert not list((tmp_path / "fresh").rglob("*.part"))
    assert not (tmp_path / "fresh" / "NMNIST" / "Train").exists()


def test_download_resumes_partial_file(http_root, tmp_path):
    served, url = http_root
    payload = bytes(range(256)) * 4000
    (served / "f.bin").write_bytes(payload)
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(payload[:12345])  # an interrupted earlier download
    from neuro.datasets.download import download

    download(f"{url}/f.bin", dest, hashlib.md5(payload).hexdigest(), progress=False)
    assert dest.read_bytes() == payload and not (tmp_path / "f.bin.part").exists()
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{url}/missing.zip", tmp_path / "m.zip", progress=False)


def test_tensor_cache_keyed_by_transform(shared_data, tmp_path):
    a = D.NMNIST(shared_data / "nmnist-small", transform=D.ToFrame(D.NMNIST.sensor_size, n_time_bins=4))
    b = D.NMNIST(shared_data / "nmnist-small", transform=D.ToFrame(D.NMNIST.sensor_size, n_time_bins=6))
    ca, cb = D.CachedDataset(a, tmp_path), D.CachedDataset(b, tmp_path)
    assert ca.dir != cb.dir  # a changed transform never reads the other's tensors
    x1, _ = ca[3]
    assert (ca.dir / "3.pt").exists() and not list(ca.dir.glob("*.tmp"))
    x2, _ = D.CachedDataset(a, tmp_path)[3]  # a fresh wrapper reads the cached file
    np.testing.assert_array_equal(x1, x2)
    assert cb[3][0].shape[0] == 6


def _nmnist_tree(train_dir: Path) -> dict[str, np.ndarray]:
    """Two tiny recordings in the official layout ``Train/<digit>/<n>.bin``."""
    recs = {"3": D.make_events(np.array([0, 150_000, 299_999, 300_000]), np.array([1, 2, 3, 4]),
                               np.array([0, 1, 1, 0]), np.array([5, 6, 7, 8])),
            "7": D.make_events(np.array([10, 20]), np.array([33, 0]), np.array([1, 0]), np.array([0, 33]))}
    for digit, ev in recs.items():
        (train_dir / digit).mkdir(parents=True)
        D.write_nmnist(train_dir / digit / "00001.bin", ev)
    return recs


def test_nmnist_finds_the_subset_layout_and_prepared_frames_count_its_events(tmp_path):
    recs = _nmnist_tree(tmp_path / "nmnist-small" / "Train")
    ds = D.NMNIST(tmp_path)  # root/nmnist-small/Train, as in the shared data folder
    assert ds.targets == [3, 7] and len(ds) == 2
    frames, labels = D.nmnist_frames(tmp_path, n_bins=3)
    assert frames.shape == (2, 3, 2, 34, 34) and labels.tolist() == [3, 7]
    ev = recs["3"]
    assert frames[0].sum() == 3  # the event at 300 ms lies outside [0, 300 ms)
    for t, x, p, y in zip(ev["t"][:3], ev["x"][:3], ev["p"][:3], ev["y"][:3], strict=True):
        assert frames[0, t * 3 // 300_000, p, y, x] == 1
    with pytest.raises(DatasetNotFoundError, match="nmnist-small"):
        D.NMNIST(tmp_path / "elsewhere")


def test_prepared_nmnist_frames_pick_recorded_files_in_order(tmp_path):
    """``files=`` (names as a checkpoint records its split) selects and orders recordings; a missing one is named."""
    _nmnist_tree(tmp_path / "Train")
    ds = D.NMNIST(tmp_path)
    assert ds.names == ["3/00001.bin", "7/00001.bin"] and ds.folder == tmp_path / "Train"
    all_frames, _ = D.nmnist_frames(tmp_path, n_bins=3)
    frames, labels = D.nmnist_frames(tmp_path, n_bins=3, files=["7/00001.bin", "3/00001.bin"])
    assert labels.tolist() == [7, 3] and torch.equal(frames, all_frames.flip(0))
    with pytest.raises(DataError, match=r"1 of 2 N-MNIST recordings are missing .*5/00009\.bin"):
        D.nmnist_frames(tmp_path, files=["3/00001.bin", "5/00009.bin"])
