"""neuro.plot: event frames that keep both polarities visible, rasters, layer recordings, delays,
float-vs-Loihi agreement; the curves of a training run; neuro events plot on SHD files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro.plot as P
from neuro.datasets import make_events
from neuro.errors import ConfigError


def _camera(x, y, t, p) -> np.ndarray:
    return make_events(np.asarray(t), np.asarray(x), np.asarray(p), np.asarray(y))


def _frame(fig, k: int = 0) -> np.ndarray:
    return np.asarray(fig.axes[k].images[0].get_array())


def test_event_frames_colour_each_polarity_and_never_cancel():
    # a 20x20 sensor: row 5 has one ON event per pixel, row 6 one OFF event per pixel, row 7 one of each;
    # pixel (0, 0) is a hot pixel with 500 ON events
    xs = list(range(20)) * 4 + [0] * 500
    ys = [5] * 20 + [6] * 20 + [7] * 40 + [0] * 500
    ps = [1] * 20 + [0] * 20 + [1] * 20 + [0] * 20 + [1] * 500
    ev = _camera(xs, ys, np.arange(len(xs)), ps)
    fig = P.event_frames(ev, (20, 20, 2), n_bins=1)
    img = _frame(fig)  # [H, W, 3] RGB in [0, 1], white background
    on, off, both, empty = img[5, 3], img[6, 3], img[7, 3], img[12, 12]
    assert np.allclose(empty, 1.0)
    assert on[0] > on[2] + 0.3 and off[2] > off[0] + 0.3  # red for ON, blue for OFF
    assert both.max() < 0.6  # ON and OFF together darken the pixel: they add, they do not cancel to white
    # the hot pixel does not wash out the single events (scaled to the hottest pixel they would be ~white)
    assert on.min() < 0.5 and off.min() < 0.5
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert labels == ["ON (p = 1)", "OFF (p = 0)"]
    P._plt().close(fig)


def test_event_frames_split_rows_and_bad_arguments():
    ev = _camera([0, 1], [0, 0], [0, 10], [1, 0])
    fig = P.event_frames(ev, (2, 1, 2), n_bins=2, split=True)
    assert len(fig.axes) == 4 and fig.axes[0].get_ylabel() == "ON" and fig.axes[2].get_ylabel() == "OFF"
    assert _frame(fig, 3)[0, 1, 2] > _frame(fig, 3)[0, 1, 0] + 0.3  # the OFF row, second bin: blue
    P._plt().close(fig)
    with pytest.raises(ConfigError, match="n_bins must be between 1 and 64"):
        P.event_frames(ev, (2, 1, 2), n_bins=0)


def test_event_raster_by_polarity_and_for_audio():
    ev = _camera([0, 1, 1], [0, 0, 1], [0, 5, 9], [1, 0, 1])
    fig = P.event_raster(ev, (2, 2, 2))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ON (p = 1)", "OFF (p = 0)"]
    assert sorted(len(c.get_offsets()) for c in ax.collections) == [1, 2]
    P._plt().close(fig)
    audio = make_events(np.array([0, 1000, 2000]), np.array([3, 4, 699]))
    fig = P.plot_events(audio, (700, 1, 1))
    assert fig.axes[0].get_ylabel() == "channel" and fig.axes[0].get_legend() is None
    P._plt().close(fig)


def _model() -> nn.Module:
    from neuro.layers import SeqLinear
    from neuro.neurons import LI, LIF

    torch.manual_seed(0)
    m = nn.Sequential(SeqLinear(6, 8), LIF(tau=2.0, backend="torch"), SeqLinear(8, 3), LI(tau=2.0, backend="torch"))
    with torch.no_grad():
        m[0].weight.mul_(4)
    return m.eval()


def test_record_activity_matches_the_forward_pass_and_membranes_reset():
    m = _model()
    x = (torch.rand(15, 2, 6) < 0.5).float()
    with torch.no_grad():
        hidden = m[1](m[0](x))[:, 1]
        out = m(x)[:, 1]
    m[3].backend = "gpu"  # recording runs the torch reference (no kernel compilation, any machine) ...
    acts = P.record_activity(m, x, sample=1)
    assert m[3].backend == "gpu"  # ... and gives each layer its own backend back
    assert [a.spiking for a in acts] == [True, False]
    np.testing.assert_array_equal(acts[0].spikes, hidden.numpy())
    np.testing.assert_allclose(acts[1].spikes, out.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts[1].v, out.numpy(), rtol=1e-5, atol=1e-6)  # a readout's output is its membrane
    assert acts[0].spikes.sum() > 0 and (acts[0].v[acts[0].spikes > 0] == 0).all()  # reset to 0 after a spike
    fig = P.spike_raster(acts)
    assert fig.axes[0].get_title(loc="left") == f"1: {int(acts[0].spikes.sum())} spikes"
    P._plt().close(fig)
    fig = P.membrane_traces(acts, layer="1", neurons=2)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1] == "threshold"
    assert len(fig.axes[0].get_legend().get_texts()) == 3  # two neurons and the threshold
    P._plt().close(fig)
    with pytest.raises(ConfigError, match="out of range"):
        P.membrane_traces(acts, layer=5)
    with pytest.raises(ConfigError, match="x holds 2 samples"):
        P.record_activity(m, x, sample=2)


def test_hardware_agreement_per_layer():
    m = _model()
    x = (torch.rand(20, 3, 6) < 0.5).float()
    fig, records = P.hardware_agreement(m, x)
    assert [r["kind"] for r in records] == ["spiking", "readout"]
    with torch.no_grad():
        float_spikes = int((m[1](m[0](x)) > 0).sum())
    assert records[0]["float_spikes"] == float_spikes > 0
    assert records[0]["agreement"] > 0.9 and records[0]["same_spikes"] > 0.8
    assert records[1]["membrane_correlation"] > 0.9
    P._plt().close(fig)


def test_delay_histogram_counts_every_synapse():
    from neuro.models.delay_snn import DelaySNN

    m = DelaySNN(n_in=5, hidden=4, n_layers=1, n_out=3, max_delay=3, input_length=10)
    fig = P.delay_histogram(m)
    counts = [sum(p.get_height() for p in ax.patches) for ax in fig.axes]
    assert counts == [d.integer_delays().numel() for d in m.delay_layers()]
    P._plt().close(fig)
    with pytest.raises(ConfigError, match="no delayed layers"):
        P.delay_histogram(nn.Linear(2, 2))


def test_curves_have_whole_epochs_and_the_test_accuracy():
    from neuro.training import history_figure

    for n in (1, 3, 12):
        h = [{"epoch": k, "train_loss": 1 / k, "val_loss": 1.1 / k, "train_accuracy": 0.5, "val_accuracy": 0.6}
             for k in range(1, n + 1)]
        fig = history_figure(h, test_accuracy=0.85, best_epoch=min(2, n))
        fig.canvas.draw()
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks and all(float(t).is_integer() for t in ticks), (n, ticks)
        assert any("test 0.850" in t.get_text() for t in fig.axes[1].get_legend().get_texts())
        P._plt().close(fig)


def test_events_plot_picks_an_shd_sample_and_shows_its_label(tmp_path, monkeypatch, capsys):
    from neuro.cli import main
    from neuro.datasets import write_shd

    samples = [make_events(np.array([0, 10, 20]) + k, np.array([1, 2, 3]) + k) for k in range(3)]
    write_shd(tmp_path / "s.h5", samples, [4, 7, 9], [f"word{k}" for k in range(10)])
    shown = {}

    def keep(fig, path, dpi=100):
        shown["title"] = fig.axes[0].get_title()
        shown["n"] = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
        P._plt().close(fig)

    monkeypatch.setattr(P, "save", keep)
    assert main(["events", "plot", str(tmp_path / "s.h5"), "-o", str(tmp_path / "p.png"), "--sample", "1"]) == 0
    assert "recording 1 of 3, label 7 (word7)" in shown["title"] and shown["n"] == 3
    assert main(["events", "plot", str(tmp_path / "s.h5"), "-o", str(tmp_path / "p.png"), "--sample", "3"]) == 2
    assert "--sample 3" in capsys.readouterr().err


def test_spiking_fsdd_to_hdf5_is_read_by_shd(tmp_path, shared_data):
    import neuro.datasets as D

    audio = D.SpikingFSDD(shared_data, speakers=["george"], cache_dir=tmp_path / "cache")
    audio.audio.items = audio.audio.items[:2]  # two recordings are enough to check the round trip
    audio.targets, audio.speakers = audio.targets[:2], audio.speakers[:2]
    assert audio.encode_all(progress=False) == 2 and audio.encode_all(progress=False) == 0  # cached the second time
    audio.to_hdf5(tmp_path / "shd_train.h5")
    shd = D.SHD(tmp_path, "train")
    assert len(shd) == 2 and [y for _, y in shd] == audio.targets
    np.testing.assert_array_equal(shd[1][0]["x"], audio.events(1)["x"])


def test_lazy_package_names_all_resolve():
    import neuro
    import neuro.datasets as D

    for pkg in (neuro, D):
        names = set(pkg.__all__) - {"__version__"}
        assert names == set(pkg._MODULE_OF), pkg.__name__
        for name in names:
            assert getattr(pkg, name) is not None
    with pytest.raises(AttributeError):
        D.no_such_name  # noqa: B018
