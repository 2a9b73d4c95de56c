"""Pictures of event data and of what a model does with it.

Event data (numpy and matplotlib only, so plotting a recording does not import torch):

- :func:`event_frames`: a camera recording as frames over time, ON events in red and OFF events in
  blue (added, never cancelling), each polarity scaled to a high percentile of its own counts so a
  few hot pixels do not wash the frames out; ``split=True`` shows ON and OFF in separate rows.
- :func:`event_raster`: events as dots, channel (or pixel) against time, coloured by polarity.
- :func:`plot_events`: frames for a camera, a raster for audio channels.

Models (these import torch when called):

- :func:`record_activity`: every neuron layer's spikes and membrane over time for one sample.
- :func:`spike_raster`, :func:`membrane_traces`: those recordings as pictures.
- :func:`delay_histogram`: the learned synaptic delays of every delayed layer.
- :func:`hardware_agreement`: per layer, how often the Loihi fixed-point simulation spikes exactly
  where the float model does (and how many spikes each makes).

Every function returns a matplotlib ``Figure``; :func:`save` writes it (PNG by the file name) and
closes it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuro.errors import ConfigError, ShapeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Activity", "ON_COLOR", "OFF_COLOR", "delay_histogram", "event_frames", "event_raster", "hardware_agreement",
    "membrane_traces", "plot_events", "record_activity", "save", "spike_raster",
]

ON_COLOR = (0.84, 0.15, 0.16)  # red: polarity 1 (brightness increased)
OFF_COLOR = (0.12, 0.47, 0.71)  # blue: polarity 0 (brightness decreased)
MAX_BINS = 64


def _plt():
    """pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _polarity_legend(fig_or_ax, **kw: Any) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=ON_COLOR, label="ON (p = 1)"), Patch(color=OFF_COLOR, label="OFF (p = 0)")]
    fig_or_ax.legend(handles=handles, **kw)


def _scale(counts: np.ndarray, percentile: float) -> np.ndarray:
    """Counts scaled to [0, 1] by a percentile of the non-zero counts (robust to hot pixels)."""
    nz = counts[counts > 0]
    if nz.size == 0:
        return np.zeros_like(counts, dtype=np.float32)
    top = max(float(np.percentile(nz, percentile, method="lower")), 1.0)
    return np.clip(counts / top, 0.0, 1.0).astype(np.float32)


def event_frames(events: np.ndarray, sensor_size: tuple[int, int, int], n_bins: int = 6, *, split: bool = False,
                 percentile: float = 99.0, title: str | None = None) -> Figure:
    """A camera recording (``x, y, t, p`` events) as ``n_bins`` frames of equal duration, side by side.

    ON (p = 1) counts are drawn in red and OFF (p = 0) in blue on white, mixed where both occur;
    each polarity is scaled to the ``percentile`` of its non-zero pixel counts over the whole
    recording.  ``split=True`` draws ON and OFF in two rows instead of one.
    """
    if not 1 <= int(n_bins) <= MAX_BINS:
        raise ConfigError(f"n_bins must be between 1 and {MAX_BINS} (frames side by side), got {n_bins}")
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile must be in (0, 100], got {percentile}")
    if "y" not in (events.dtype.names or ()):
        raise ShapeError("event_frames takes camera events (x, y, t, p); use event_raster for audio channels")
    from neuro.datasets.events import to_dense

    W, H, P = sensor_size
    frames = to_dense(events, (W, H, max(P, 2)), int(n_bins))  # [bins, P, H, W]
    on = _scale(frames[:, 1], percentile)
    off = _scale(frames[:, 0], percentile)
    t = events["t"].astype(np.int64)
    span_ms = ((int(t.max()) - int(t.min()) + 1) if len(t) else 0) / n_bins / 1000
    rows = 2 if split else 1
    plt = _plt()
    fig, axes = plt.subplots(rows, n_bins, figsize=(1.9 * n_bins + 0.4, 2.1 * rows + 0.7), squeeze=False)

    def tint(level: np.ndarray, color: tuple[float, float, float]) -> np.ndarray:
        # white where there are no events, the full colour at the scale's top
        return 1.0 - level[..., None] * (1.0 - np.asarray(color, np.float32))

    for k in range(n_bins):
        if split:
            images = [tint(on[k], ON_COLOR), tint(off[k], OFF_COLOR)]
        else:
            # both polarities add their colour's absorbance: ON + OFF at one pixel is dark purple, never white
            images = [np.clip(tint(on[k], ON_COLOR) + tint(off[k], OFF_COLOR) - 1.0, 0.0, 1.0)]
        for r, img in enumerate(images):
            ax = axes[r, k]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{k * span_ms:.0f}-{(k + 1) * span_ms:.0f} ms", fontsize=8)
        if split and k == 0:
            axes[0, 0].set_ylabel("ON", fontsize=9)
            axes[1, 0].set_ylabel("OFF", fontsize=9)
    fig.suptitle(title or f"{len(events)} events", fontsize=10)
    fig.tight_layout(rect=(0, 0.1 if rows == 1 else 0.06, 1, 1))
    _polarity_legend(fig, loc="lower center", ncol=2, fontsize=8, frameon=False)
    return fig


def event_raster(events: np.ndarray, sensor_size: tuple[int, int, int] | None = None, *, title: str | None = None,
                 max_events: int = 200_000, seed: int = 0) -> Figure:
    """Events as dots: channel (audio ``x``; camera pixel ``y * W + x``) against time, by polarity.

    More than ``max_events`` events are thinned to a random (seeded) subset, said in the title.
    """
    names = events.dtype.names or ()
    t = events["t"].astype(np.int64)
    if "y" in names:
        if sensor_size is None:
            raise ConfigError("event_raster needs sensor_size for camera events (to number the pixels)")
        channel = events["y"].astype(np.int64) * int(sensor_size[0]) + events["x"]
        ylabel = "pixel (y * width + x)"
    else:
        channel = events["x"].astype(np.int64)
        ylabel = "channel"
    p = events["p"].astype(np.int64) if "p" in names else np.ones(len(events), np.int64)
    keep = np.arange(len(events))
    note = ""
    if len(events) > max_events:
        keep = np.sort(np.random.default_rng(seed).choice(len(events), max_events, replace=False))
        note = f" ({max_events} of {len(events)} shown)"
    t0 = int(t.min()) if len(t) else 0
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    both = len(np.unique(p)) > 1
    for value, color, label in ((1, ON_COLOR, "ON (p = 1)"), (0, OFF_COLOR, "OFF (p = 0)")):
        sel = keep[p[keep] == value]
        if len(sel):
            ax.scatter((t[sel] - t0) / 1000, channel[sel], s=0.6, color=color if both else "k", lw=0,
                       label=label, rasterized=True)
    if both:
        _polarity_legend(ax, loc="upper right", fontsize=8)
    ax.set_xlabel("time from the first event (ms)")
    ax.set_ylabel(ylabel)
    ax.set_title((title or f"{len(events)} events") + note, fontsize=10)
    fig.tight_layout()
    return fig


def plot_events(events: np.ndarray, sensor_size: tuple[int, int, int], n_bins: int = 6, *, split: bool = False,
                title: str | None = None) -> Figure:
    """Frames (:func:`event_frames`) for camera events, a raster (:func:`event_raster`) for audio channels."""
    if "y" in (events.dtype.names or ()):
        return event_frames(events, sensor_size, n_bins, split=split, title=title)
    return event_raster(events, sensor_size, title=title)


def save(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) and close it; a ConfigError if it cannot."""
    plt = _plt()
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as e:
        raise ConfigError(f"cannot write {path} ({e.strerror or e})") from None
    finally:
        plt.close(fig)
    return Path(path)


# ---------------------------------------------------------------------------------------------- models
@dataclass
class Activity:
    """One neuron layer over time for one sample: ``spikes [T, N]`` (for a non-spiking readout, its
    output, which is its membrane), ``v [T, N]``, the membrane after each step (after reset), and the
    firing threshold (``None`` for a readout)."""

    name: str
    spikes: np.ndarray
    v: np.ndarray | None
    spiking: bool
    v_threshold: float | None = None


@contextmanager
def _reference_backend(model):
    """Run every neuron layer of ``model`` on the torch reference backend (the definition the fused
    kernels match bit for bit) for the duration, so that a plot never waits for kernels to compile."""
    from neuro.neurons import SpikingNeuron

    layers = [m for m in model.modules() if isinstance(m, SpikingNeuron)]
    chosen = [m.backend for m in layers]
    try:
        for m in layers:
            m.backend = "torch"
        yield
    finally:
        for m, b in zip(layers, chosen, strict=True):
            m.backend = b


def record_activity(model, x, sample: int = 0, membrane: bool = True) -> list[Activity]:
    """Run ``model`` on ``x [T, B, ...]`` and record every neuron layer for batch entry ``sample``.

    Spikes come from the forward pass itself (forward hooks); the membrane is recomputed by stepping
    each layer on the input it received, which is exact for every neuron type.  Both run on the torch
    reference backend (the definition the fused kernels match bit for bit), so a plot never waits for
    kernels to compile.  Layers appear in the order the forward pass calls them.
    """
    import torch

    from neuro.neurons import SpikingNeuron

    x = torch.as_tensor(x)
    if x.dim() < 3:
        raise ShapeError(f"record_activity takes x [T, B, ...], got shape {tuple(x.shape)}")
    if not 0 <= sample < x.shape[1]:
        raise ConfigError(f"sample {sample} is out of range: x holds {x.shape[1]} samples")
    calls: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    modules: dict[str, SpikingNeuron] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, SpikingNeuron):
            modules[name] = m

            def hook(mod, inputs, output, name=name):
                out = output[0] if isinstance(output, tuple) else output
                calls.setdefault(name, []).append((inputs[0].detach(), out.detach()))

            handles.append(m.register_forward_hook(hook))
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad(), _reference_backend(model):
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    result = []
    for name, seq in calls.items():
        m = modules[name]
        inp = torch.cat([i for i, _ in seq])[:, sample]
        out = torch.cat([o for _, o in seq])[:, sample]
        v = None
        if membrane:
            with torch.no_grad():
                state, vs = None, []
                for t in range(inp.shape[0]):
                    _, state = m.step(inp[t:t + 1], state)
                    vs.append(state.v.reshape(-1))
                v = torch.stack(vs).float().cpu().numpy() if vs else None
        result.append(Activity(name or type(m).__name__, out.reshape(out.shape[0], -1).float().cpu().numpy(), v,
                               bool(m.spiking), float(m.v_threshold) if m.spiking else None))
    if not result:
        raise ConfigError(f"{type(model).__name__} has no neuron layers (SpikingNeuron modules) to record")
    return result


def spike_raster(activity: list[Activity], *, max_neurons: int = 200, title: str | None = None) -> Figure:
    """One panel per spiking layer: which neurons spiked at which step (at most ``max_neurons`` each,
    evenly chosen); a non-spiking readout is shown as its membrane over time."""
    plt = _plt()
    fig, axes = plt.subplots(len(activity), 1, figsize=(8, 1.6 * len(activity) + 0.8), squeeze=False, sharex=True)
    for ax, a in zip(axes[:, 0], activity, strict=True):
        T, N = a.spikes.shape
        if a.spiking:
            cols = np.unique(np.linspace(0, N - 1, min(N, max_neurons)).round().astype(int)) if N else []
            t, n = np.nonzero(a.spikes[:, cols] > 0)
            ax.scatter(t, n, s=2, c="k", marker="|", lw=0.8)
            ax.set_ylim(-0.5, len(cols) - 0.5)
            shown = f", {len(cols)} of {N} shown" if len(cols) < N else ""
            ax.set_ylabel("neuron", fontsize=8)
            ax.set_title(f"{a.name}: {int((a.spikes > 0).sum())} spikes{shown}", fontsize=9, loc="left")
        else:
            ax.plot(a.spikes, lw=0.8)
            ax.set_ylabel("membrane", fontsize=8)
            ax.set_title(f"{a.name}: readout membrane, one line per output", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title or "spikes per layer", fontsize=10)
    fig.tight_layout()
    return fig


def membrane_traces(activity: list[Activity], layer: int | str = 0, neurons: int | list[int] = 4, *,
                    title: str | None = None) -> Figure:
    """The membrane of a few neurons of one layer (by index or name) over time, its spikes marked, and
    the firing threshold (dashed); ``neurons`` is a count (the most active ones) or a list of indices."""
    a = _pick(activity, layer)
    if a.v is None:
        raise ConfigError("the activity was recorded without membrane=True; record it again with membrane=True")
    N = a.v.shape[1]
    if isinstance(neurons, int):
        order = np.argsort(-(a.spikes > 0).sum(0) if a.spiking else -np.abs(a.v).max(0), kind="stable")
        idx = sorted(order[:neurons].tolist())
    else:
        idx = [int(i) for i in neurons]
        bad = [i for i in idx if not 0 <= i < N]
        if bad:
            raise ConfigError(f"neurons {bad} are out of range: layer {a.name} has {N} neurons")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for i in idx:
        (line,) = ax.plot(a.v[:, i], lw=1, label=f"neuron {i}")
        if a.spiking:
            ts = np.nonzero(a.spikes[:, i] > 0)[0]
            ax.plot(ts, np.full(len(ts), np.nanmax(a.v[:, idx]) * 1.05 if len(a.v) else 1), "|",
                    color=line.get_color(), ms=8)
    if a.v_threshold is not None:
        ax.axhline(a.v_threshold, color="0.4", ls="--", lw=0.8, label="threshold")
    ax.set_xlabel("time step")
    ax.set_ylabel("membrane v (after reset)")
    ax.set_title(title or f"{a.name}: membrane" + (" (ticks: spikes)" if a.spiking else ""), fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _pick(activity: list[Activity], layer: int | str) -> Activity:
    if isinstance(layer, str):
        for a in activity:
            if a.name == layer:
                return a
        raise ConfigError(f"no layer named {layer!r}; recorded: {', '.join(a.name for a in activity)}")
    if not -len(activity) <= layer < len(activity):
        raise ConfigError(f"layer {layer} is out of range: {len(activity)} layers recorded")
    return activity[layer]


def delay_histogram(model, *, title: str | None = None) -> Figure:
    """Histogram of the integer synaptic delays of every delayed layer (modules with ``integer_delays()``)."""
    layers = [(n, m) for n, m in model.named_modules() if hasattr(m, "integer_delays") and hasattr(m, "max_delay")]
    if not layers:
        raise ConfigError(f"{type(model).__name__} has no delayed layers (DelayedLinear) to show")
    plt = _plt()
    fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3), squeeze=False)
    for ax, (name, m) in zip(axes[0], layers, strict=True):
        d = m.integer_delays().detach().cpu().numpy().ravel()
        ax.hist(d, bins=np.arange(int(m.max_delay) + 2) - 0.5, color="0.3")
        ax.set_title(f"{name}: mean {d.mean():.1f} steps", fontsize=9)
        ax.set_xlabel("delay (time steps)")
        ax.set_ylabel("synapses")
    fig.suptitle(title or "learned synaptic delays", fontsize=10)
    fig.tight_layout()
    return fig


def hardware_agreement(model, x, *, sample: int | None = None, title: str | None = None
                       ) -> tuple[Figure, list[dict[str, Any]]]:
    """Float model vs its Loihi fixed-point simulation (:func:`neuro.hardware.loihi.simulate`), layer by layer.

    ``x [T, B, n_in]`` holds spikes or whole-number counts.  For each spiking layer: ``same_spikes``,
    the spikes both make over the spikes either makes (1.0 = identical spike trains), ``agreement``,
    the share of (step, sample, neuron) entries where both spike or both stay silent, and both spike
    counts; for a non-spiking readout, the correlation of the two membranes.  Loihi's one step of latency per layer
    is removed first.  Returns the figure and one record per layer (JSON-able).
    """
    import torch

    from neuro.hardware.float_layers import float_layers
    from neuro.hardware.loihi import graded_message_bits, quantize, simulate

    x = torch.as_tensor(x)
    if x.dim() != 3:
        raise ShapeError(f"hardware_agreement takes x [T, B, n_in], got shape {tuple(x.shape)}")
    xs = x if sample is None else x[:, sample:sample + 1]
    fl = float_layers(model)
    net, _ = quantize(fl, clip=True, num_message_bits=graded_message_bits(xs))
    L, T = len(net.layers), xs.shape[0]
    xi = torch.cat([xs.to(torch.int64), torch.zeros((L, *xs.shape[1:]), dtype=torch.int64)])
    hw = simulate(net, xi, record=True)
    ref: list[torch.Tensor] = []
    handles = []
    from neuro.neurons import SpikingNeuron

    for m in model.modules():
        if isinstance(m, SpikingNeuron):
            handles.append(m.register_forward_hook(lambda mod, i, o: ref.append(
                (o[0] if isinstance(o, tuple) else o).detach())))
    try:
        model.eval()
        with torch.no_grad(), _reference_backend(model):
            model(xs.float())
    finally:
        for h in handles:
            h.remove()
    if len(ref) != L:
        raise ConfigError(f"{type(model).__name__}: {len(ref)} neuron layers ran but {L} were quantized; "
                          "hardware_agreement compares plain feed-forward chains")
    records = []
    for k, (q, f) in enumerate(zip(net.layers, ref, strict=True)):
        f = f.reshape(f.shape[0], f.shape[1], -1).float()[:T]
        name = q.name or f"layer {k + 1}"
        if q.readout:
            v = hw.v[k][k + 1:k + 1 + T].double() / q.state_scale  # type: ignore[index]
            a, b = f.double().flatten(), v.flatten()
            corr = float(torch.corrcoef(torch.stack([a, b]))[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
            records.append({"layer": name, "kind": "readout", "membrane_correlation": corr})
        else:
            s, fs = hw.spikes[k][k + 1:k + 1 + T] > 0, f > 0
            union = int((s | fs).sum())
            records.append({"layer": name, "kind": "spiking", "agreement": float((s == fs).float().mean()),
                            "same_spikes": int((s & fs).sum()) / union if union else 1.0,
                            "float_spikes": int(fs.sum()), "loihi_spikes": int(s.sum())})
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    spk = [r for r in records if r["kind"] == "spiking"]
    names = [r["layer"] for r in records]
    vals = [r.get("same_spikes", r.get("membrane_correlation")) for r in records]
    a1.bar(names, vals, color=["0.3" if r["kind"] == "spiking" else "tab:purple" for r in records])
    a1.set_ylim(min(0.0, *[v for v in vals if v == v]), 1.0)
    a1.set_ylabel("same spikes (readout: correlation)", fontsize=8)
    a1.set_title("float vs Loihi fixed point, per layer", fontsize=9)
    pos = np.arange(len(spk))
    a2.bar(pos - 0.2, [r["float_spikes"] for r in spk], 0.4, label="float", color="0.6")
    a2.bar(pos + 0.2, [r["loihi_spikes"] for r in spk], 0.4, label="Loihi", color="tab:orange")
    a2.set_xticks(pos, [r["layer"] for r in spk])
    a2.set_ylabel("spikes")
    a2.legend(fontsize=8)
    a2.set_title("spike counts", fontsize=9)
    for ax in (a1, a2):
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(title or f"{T} steps, {xs.shape[1]} sample(s)", fontsize=10)
    fig.tight_layout()
    return fig, records
