"""Draw the pictures of docs/plotting.md with neuro.plot (a few seconds; no training).

    python examples/plot_gallery.py --out docs/img

Event files come from the data folder's ``fixtures/`` (set NEURO_DATA_DIR or pass --root): an
N-MNIST digit, an iniVation AEDAT4 recording and a Prophesee EVT3 recording.  The N-MNIST digit is
then fed, binned into 30 steps, through a small untrained spiking network (weights scaled so that
it spikes) to show layer rasters, membrane traces and the Loihi fixed-point agreement; the delay
histogram is that of a freshly initialized delay model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

import neuro.plot as P
from neuro.config import data_root
from neuro.datasets import read_events, to_dense
from neuro.layers import Flatten, SeqLinear
from neuro.models.delay_snn import DelaySNN
from neuro.neurons import LI, LIF


def network(n_in: int) -> nn.Module:
    """An untrained Linear-LIF-Linear-LIF-Linear-LI chain, weights scaled up so that it spikes."""
    torch.manual_seed(0)
    m = nn.Sequential(Flatten(), SeqLinear(n_in, 64), LIF(tau=4.0), SeqLinear(64, 32), LIF(tau=4.0),
                      SeqLinear(32, 10), LI(tau=4.0))
    with torch.no_grad():
        m[1].weight.mul_(20)
        m[3].weight.mul_(8)
    return m.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=None, help="data folder holding fixtures/ (default: the data dir)")
    ap.add_argument("--out", type=Path, default=Path("plots"), help="folder for the PNG files")
    args = ap.parse_args()
    fixtures = data_root(args.root) / "fixtures"
    args.out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name: str) -> None:
        written.append(P.save(fig, args.out / name, dpi=80))

    digit = read_events(fixtures / "sample_nmnist.bin")
    save(P.event_frames(digit.events, digit.sensor_size, 6, title="N-MNIST digit (sample_nmnist.bin)"),
         "events-nmnist.png")
    cam = read_events(fixtures / "sample.aedat4")
    save(P.event_frames(cam.events, cam.sensor_size, 4, title="iniVation AEDAT4 recording (sample.aedat4)"),
         "events-aedat4.png")
    evt3 = read_events(fixtures / "evt3_sample.raw")
    save(P.event_frames(evt3.events, evt3.sensor_size, 3, split=True, title="Prophesee EVT3, ON and OFF split"),
         "events-split.png")
    save(P.event_raster(digit.events, digit.sensor_size, title="N-MNIST digit as a raster"), "events-raster.png")

    x = torch.from_numpy((to_dense(digit.events, digit.sensor_size, 30) > 0).astype(np.float32))[:, None]
    model = network(int(np.prod(x.shape[2:])))
    acts = P.record_activity(model, x)
    save(P.spike_raster(acts, title="an untrained network on the N-MNIST digit"), "model-raster.png")
    save(P.membrane_traces(acts, layer=1, neurons=3), "model-membrane.png")
    fig, records = P.hardware_agreement(model, x.flatten(2))
    save(fig, "model-loihi-agreement.png")
    save(P.delay_histogram(DelaySNN(n_in=140, hidden=64, n_out=10, max_delay=24)), "model-delays.png")
    for r in records:
        print(r)
    print("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
