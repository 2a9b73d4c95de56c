"""tonic interoperability and the event transforms that mirror tonic's: each is checked against a
brute-force per-event reference and, where the semantics match, against tonic's own transform on
the same events, in tonic's layouts and neuro's, on small and on absolute (AEDAT4-like) timestamps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import neuro.datasets as D
from neuro.errors import ConfigError, DataError

tonic = pytest.importorskip("tonic")
import tonic.slicers as ts  # noqa: E402
import tonic.transforms as tt  # noqa: E402

S = (40, 30, 2)
ABS = 1_600_000_000_000_000  # an AEDAT4-like absolute timestamp (µs since 1970)
TONIC_DTYPES = {
    "tonic": np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)]),
    "dvsgesture": np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)]),
    "nmnist": np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]),
    "cifar10dvs": np.dtype([("t", np.uint64), ("x", np.uint16), ("y", np.uint16), ("p", bool)]),
}


def _events(n=1500, t0=1, span=200_000, seed=0, dtype=None):
    g = np.random.default_rng(seed)
    ev = D.make_events(np.sort(g.integers(t0, t0 + span, n)), g.integers(0, S[0], n), g.integers(0, 2, n),
                       g.integers(0, S[1], n))
    if dtype is None:
        return ev
    out = np.zeros(n, dtype)
    for k in "xytp":
        out[k] = ev[k]
    return out


def _same(a, b):
    assert len(a) == len(b)
    for k in "xytp":
        assert np.array_equal(a[k].astype(np.int64), b[k].astype(np.int64)), k


# ----------------------------------------------------------------------------- equal to tonic
@pytest.mark.parametrize("t0", [1, ABS])
@pytest.mark.parametrize("layout", list(TONIC_DTYPES))
def test_filters_equal_tonics_on_its_layouts(layout, t0):
    ev = _events(t0=t0, dtype=TONIC_DTYPES[layout])
    _same(D.CenterCrop(S, (20, 10))(ev), tt.CenterCrop(S, (20, 10))(ev))
    _same(D.RefractoryPeriod(5000)(ev), tt.RefractoryPeriod(5000)(ev))
    _same(D.Decimation(3)(ev), tt.Decimation(3)(ev))
    _same(D.HotPixelFilter(max_rate=15)(ev), tt.DropPixel(hot_pixel_frequency=15)(ev))
    _same(D.TimeSkew(2, 100, t0="zero")(ev), tt.TimeSkew(2, 100)(ev))
    _same(D.MergePolarities()(ev), tt.MergePolarities()(ev))
    _same(D.RandomFlipLR(S, p=1)(ev), tt.RandomFlipLR(S, p=1)(ev))
    _same(D.RandomFlipUD(S, p=1)(ev), tt.RandomFlipUD(S, p=1)(ev))
    _same(D.RandomFlipPolarity(p=1)(ev), tt.RandomFlipPolarity(p=1)(ev))
    out = D.RandomFlipPolarity(p=1)(ev)
    assert out.dtype == ev.dtype and set(out["p"].astype(int)) == {0, 1}  # layout kept, 0/1 swapped


@pytest.mark.parametrize("include_incomplete", [False, True])
def test_time_surfaces_and_slicers_equal_tonics(include_incomplete):
    ev = _events(dtype=TONIC_DTYPES["tonic"])
    ours = D.ToTimesurface(S, 10_000, 5000.0, include_incomplete)(ev)
    theirs = tonic.functional.to_timesurface_numpy(ev, S, 10_000, 5000.0, include_incomplete=include_incomplete)
    assert ours.shape == theirs.shape and np.allclose(ours, theirs, atol=1e-6)
    for ours_s, theirs_s in ((D.SliceByTime(30_000, 5000, include_incomplete), ts.SliceByTime(30_000, 5000,
                                                                                              include_incomplete)),
                             (D.SliceByEventCount(700, 100, include_incomplete),
                              ts.SliceByEventCount(700, 100, include_incomplete))):
        a, b = ours_s.slice(ev, 0)[0], theirs_s.slice(ev, 0)[0]
        assert len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


# ----------------------------------------------------------------------------- brute-force references
def _refractory_ref(ev, delta):
    last, keep = {}, []
    for e in ev:
        key = (int(e["x"]), int(e["y"]))
        keep.append(key not in last or int(e["t"]) - last[key] > delta)
        last[key] = int(e["t"])
    return ev[np.array(keep, bool)]


def _voxel_ref(ev, sensor, n):
    W, H, _ = sensor
    grid = np.zeros((n, 1, H, W))
    t = [int(v) for v in ev["t"]]
    lo, hi = min(t), max(t)
    for e, te in zip(ev, t, strict=True):
        tau = (n - 1) * (te - lo) / (hi - lo)
        for k in range(n):
            grid[k, 0, e["y"], e["x"]] += (1 if e["p"] else -1) * max(0.0, 1 - abs(tau - k))
    return grid


def _surface_ref(ev, sensor, dt, tau, n):
    W, H, P = sensor
    t = [int(v) for v in ev["t"]]
    out = np.zeros((n, P, H, W))
    for k in range(n):
        end = t[0] + (k + 1) * dt
        for e, te in zip(ev, t, strict=True):
            if te < end:
                out[k, e["p"], e["y"], e["x"]] = np.exp(-(end - te) / tau)
    return out


@pytest.mark.parametrize("t0", [0, ABS])
def test_filters_and_representations_match_references_on_absolute_times(t0):
    ev = _events(300, t0=t0, span=50_000, seed=1)
    _same(D.RefractoryPeriod(2000)(ev), _refractory_ref(ev, 2000))
    counts = {}
    dec = []
    for e in ev:  # every 2nd event of each pixel
        k = (int(e["x"]), int(e["y"]))
        counts[k] = counts.get(k, 0) + 1
        dec.append(counts[k] % 2 == 0)
    _same(D.Decimation(2)(ev), ev[np.array(dec)])
    assert np.allclose(D.ToVoxelGrid(S, 4)(ev), _voxel_ref(ev, S, 4), atol=1e-5)
    assert np.allclose(D.ToTimesurface(S, 7_000, 3000.0)(ev), _surface_ref(ev, S, 7_000, 3000.0, 7), atol=1e-6)
    skewed = D.TimeSkew(1.5, 10)(ev)  # origin: the first event, so µs precision survives 1.6e15
    assert np.array_equal(skewed["t"], int(ev["t"][0]) + np.round((ev["t"] - ev["t"][0]) * 1.5 + 10).astype(np.int64))
    windows = D.SliceByTime(10_000).slice(ev)[0]
    assert len(windows) == 4 and all(np.ptp(w["t"]) < 10_000 for w in windows)
    assert sum(map(len, windows)) == int((ev["t"] < ev["t"][0] + 40_000).sum())


def test_voxel_grid_keeps_every_event_and_polarity_sign():
    ev = _events(500, seed=2)
    grid = D.ToVoxelGrid(S, 6)(ev)
    assert grid.shape == (6, 1, 30, 40)
    assert np.isclose(grid.sum(), (2 * ev["p"].astype(int) - 1).sum())  # tonic's drops the last event's weight


# ----------------------------------------------------------------------------- randomness, sensors, streams
def test_crops_noise_and_sensor_sizes():
    ev = _events(2000, seed=3)
    crop = D.RandomCrop(S, (16, 12), seed=0)(ev)
    assert crop["x"].max() < 16 and crop["y"].max() < 12 and 0 < len(crop) < len(ev)
    noisy = D.UniformNoise(S, n=500, seed=0)(ev)
    assert len(noisy) == 2500 and np.all(np.diff(noisy["t"]) >= 0)
    assert noisy["t"].min() >= ev["t"].min() and noisy["t"].max() <= ev["t"].max()
    assert noisy["x"].max() < 40 and noisy["y"].max() < 30 and set(noisy["p"]) == {0, 1}
    chain = D.Compose([D.Downsample(spatial_factor=3), D.CenterCrop(size=(10, 8)), D.MergePolarities()])
    assert D.sensor_size_after(chain, S) == (10, 8, 1)
    assert D.Downsample(spatial_factor=3).sensor_size_after(S) == (14, 10, 2)
    assert D.Downsample(channel_factor=5).sensor_size_after((700, 1, 1)) == (140, 1, 1)
    # tonic's sensor-changing transforms, alone and in tonic's Compose with neuro's
    mixed = tt.Compose([tt.Downsample(spatial_factor=0.5), D.CenterCrop(size=(16, 12)), tt.MergePolarities()])
    assert D.sensor_size_after(mixed, S) == (16, 12, 1)
    assert D.sensor_size_after(tt.RandomCrop(S, (20, 10)), S) == (20, 10, 2)
    assert D.sensor_size_after(tt.CenterCrop(S, 8), S) == (8, 8, 2)
    half = tt.Downsample(spatial_factor=0.5)(ev)
    W, H, _ = D.sensor_size_after(tt.Downsample(spatial_factor=0.5), S)
    assert half["x"].max() == W - 1 and half["y"].max() == H - 1
    s = D.EventStream(ev, S, "test")
    out = D.Compose([D.Downsample(spatial_factor=3), D.CenterCrop(size=(10, 8)), D.MergePolarities()])(s)
    assert isinstance(out, D.EventStream) and out.sensor_size == (10, 8, 1)
    out.check_bounds()
    for t in (D.RandomFlipLR(p=1, seed=0), D.RandomFlipUD(p=1), D.RandomFlipPolarity(p=1), D.RefractoryPeriod(10),
              D.Decimation(2), D.HotPixelFilter(max_events=3), D.TimeSkew(1.1), D.UniformNoise(n=5)):
        r = t(s)
        assert isinstance(r, D.EventStream) and r.sensor_size == S
        r.check_bounds()
    # seeded flips repeat; p=0 never flips
    a = [len(np.flatnonzero(D.RandomFlipLR(S, seed=7)(ev)["x"] != ev["x"])) > 0 for _ in range(3)]
    assert a == [len(np.flatnonzero(D.RandomFlipLR(S, seed=7)(ev)["x"] != ev["x"])) > 0 for _ in range(3)]
    assert np.array_equal(D.RandomFlipLR(S, p=0)(ev), ev)


def test_bad_options_and_inputs_are_refused():
    ev = _events(50)
    with pytest.raises(ConfigError, match="larger than the sensor"):
        D.CenterCrop(S, 64)(ev)
    with pytest.raises(ConfigError, match="needs sensor_size"):
        D.RandomFlipLR(p=1)(ev)
    with pytest.raises(ConfigError, match="exactly one"):
        D.HotPixelFilter()
    with pytest.raises(ConfigError, match="negative timestamps"):
        D.TimeSkew(1.0, -10**9, t0="zero")(ev)
    with pytest.raises(ConfigError, match="overlap"):
        D.SliceByTime(100, 100)
    with pytest.raises(DataError, match="time order"):
        D.SliceByTime(100).slice(ev[::-1])
    with pytest.raises(ConfigError, match="camera events"):
        D.ToVoxelGrid((700, 1, 1), 3)(D.make_events([1, 2], [3, 4]))


# ----------------------------------------------------------------------------- tonic datasets -> neuro
@pytest.fixture
def tonic_nmnist(tmp_path, monkeypatch):
    """tonic's own NMNIST class over a few N-MNIST files written here (no download)."""
    g = np.random.default_rng(0)
    for d in range(4):
        for k in range(2):
            n = 200
            ev = D.make_events(np.sort(g.integers(0, 300_000, n)), g.integers(0, 34, n), g.integers(0, 2, n),
                               g.integers(0, 34, n))
            folder = tmp_path / "NMNIST" / "Train" / str(d)
            folder.mkdir(parents=True, exist_ok=True)
            D.write_nmnist(folder / f"{k:05d}.bin", ev)
    monkeypatch.setattr(tonic.datasets.NMNIST, "_check_exists", lambda self: True)
    return tmp_path


def test_tonic_dataset_with_neuro_transforms_collate_and_trainer(tonic_nmnist, tmp_path):
    from torch import nn

    from neuro import LI
    from neuro.layers import SeqLinear
    from neuro.layers.time import Flatten
    from neuro.training import TrainConfig, Trainer

    sensor = tonic.datasets.NMNIST.sensor_size
    ours = tonic.datasets.NMNIST(str(tonic_nmnist), transform=D.Compose(
        [D.RandomFlipLR(sensor, seed=0), D.RefractoryPeriod(100), D.ToFrame(sensor, n_time_bins=5)]))
    theirs = tonic.datasets.NMNIST(str(tonic_nmnist), transform=tt.Compose(
        [tt.Denoise(10_000), tt.ToFrame(sensor, n_time_bins=5)]))  # int16 frames
    assert len(ours) == 8 and ours[0][0].shape == theirs[0][0].shape == (5, 2, 34, 34)
    x, y, lengths = D.pad_time_major([ours[0], theirs[1], theirs[2]])
    assert x.shape == (5, 3, 2, 34, 34) and x.dtype == torch.float32 and y.tolist() == [0, 0, 1]
    assert torch.equal(x[:, 1], torch.as_tensor(theirs[1][0]).float())
    for data in (ours, theirs):
        model = nn.Sequential(Flatten(), SeqLinear(2 * 34 * 34, 4), LI(tau=2.0, backend="torch"))
        tr = Trainer(model, data, data,
                     TrainConfig(epochs=1, batch_size=4, progress=False, device="cpu"))
        row = tr.fit()[-1]
        assert np.isfinite(row["train_loss"]) and 0 <= row["val_accuracy"] <= 1
    # tonic's slicer protocol in neuro's SlicedDataset (and raw events are refused by collate)
    sliced = D.SlicedDataset(tonic.datasets.NMNIST(str(tonic_nmnist)), ts.SliceByTime(100_000),
                             transform=D.ToFrame(sensor, n_time_bins=2))
    assert len(sliced) == 8 * 2 and sliced.targets[:4] == [0, 0, 0, 0]
    assert sliced[1][0].shape == (2, 2, 34, 34)
    with pytest.raises(DataError, match="raw events.*ToFrame"):
        D.pad_time_major([tonic.datasets.NMNIST(str(tonic_nmnist))[0]])
    with pytest.raises(DataError, match="not a class number"):
        D.pad_time_major([(np.zeros((2, 3)), "airplanes")])


def test_neuro_slicer_in_tonics_sliced_dataset(tonic_nmnist):
    ds = tonic.SlicedDataset(tonic.datasets.NMNIST(str(tonic_nmnist)), D.SliceByEventCount(50))
    assert len(ds) == 8 * 4 and len(ds[5][0]) == 50


def _all_transforms():
    return [D.ToFrame(S, time_window=10_000), D.ToFrame(S, event_count=100), D.ToFrame(S, n_time_bins=4),
            D.Downsample(spatial_factor=2), D.Denoise(S, 5000), D.TimeJitter(100, seed=0),
            D.SpatialJitter(S, 1.0, seed=0), D.DropEvent(0.3, seed=0), D.CropTime(0, 50_000), D.CenterCrop(S, 20),
            D.RandomCrop(S, 20, seed=0), D.RandomFlipLR(S, seed=1), D.RandomFlipUD(S, seed=1),
            D.RandomFlipPolarity(seed=1), D.MergePolarities(), D.RefractoryPeriod(1000), D.Decimation(2),
            D.HotPixelFilter(max_events=2), D.TimeSkew(1.3), D.UniformNoise(S, 50, seed=0), D.ToVoxelGrid(S, 3),
            D.ToTimesurface(S, 10_000, 3000.0)]


@pytest.mark.parametrize("layout", list(TONIC_DTYPES))
def test_every_neuro_transform_accepts_tonics_layouts_and_keeps_them(layout):
    """The same events in tonic's field orders and dtypes (bool p, uint64 t, ...) give the same result as in
    neuro's, on absolute timestamps; event outputs keep the caller's dtype."""
    ref = _events(800, t0=ABS, span=100_000)
    ev = _events(800, t0=ABS, span=100_000, dtype=TONIC_DTYPES[layout])
    for ours, theirs in zip(_all_transforms(), _all_transforms(), strict=True):
        a, b = ours(ref), theirs(ev)
        if a.dtype.names is None:
            assert np.allclose(a, b), type(ours).__name__
        else:
            assert b.dtype == ev.dtype, type(ours).__name__
            _same(a, b)


def test_tonic_transforms_on_neuro_arrays_equal_their_own_layout():
    """tonic's transforms take neuro's arrays (int8 polarity, neuro's field order) and give what they give on
    tonic's own layout."""
    ref = _events(1200, seed=4)
    theirs = _events(1200, seed=4, dtype=TONIC_DTYPES["nmnist"])
    for t in (tt.ToFrame(S, time_window=10_000), tt.ToImage(S), tt.Denoise(2000), tt.CenterCrop(S, 20),
              tt.RefractoryPeriod(1000), tt.Decimation(2), tt.DropPixel(hot_pixel_frequency=10),
              tt.MergePolarities(), tt.ToTimesurface(S, 10_000, 5000.0), tt.ToVoxelGrid(S, 3)):
        a, b = t(ref.copy()), t(theirs.copy())
        if a.dtype.names is None:
            assert np.allclose(a, b), type(t).__name__
        else:
            assert a.dtype == ref.dtype
            _same(a, b)
