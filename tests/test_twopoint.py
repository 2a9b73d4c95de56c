"""Two-point neurons, the energy metric, and the audio-visual experiment on real data."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from neuro import LIF
from neuro.errors import ConfigError, ShapeError
from neuro.layers import SeqLinear
from neuro.learning.energy import count_operations
from neuro.neurons.twopoint import TwoPointLIF, TwoPointRate, modulate


def test_modulation_functions_exact_values():
    r, c = torch.tensor([1.0, -1.0, 0.0, 2.0]), torch.tensor([1.0, 1.0, 5.0, -0.5])
    torch.testing.assert_close(modulate(r, c, "kay_phillips"), 0.5 * r * (1 + torch.exp(r * c)))
    torch.testing.assert_close(modulate(r, c, "generalized"), r * (0.5 + 0.5 * torch.exp(2 * r * c)))
    torch.testing.assert_close(modulate(r, c, "cooperation"), r**2 + 2 * r + c * (1 + r.abs()))
    torch.testing.assert_close(modulate(r, c, "burst"), r * (1 + torch.sigmoid(c)))
    # context alone cannot drive a Kay-Phillips unit; agreeing context amplifies, disagreeing attenuates
    assert modulate(torch.tensor([0.0]), torch.tensor([9.0]))[0] == 0
    assert modulate(torch.tensor([1.0]), torch.tensor([1.0]))[0] > 1 > modulate(torch.tensor([1.0]),
                                                                                  torch.tensor([-1.0]))[0]
    assert math.isfinite(float(modulate(torch.tensor([50.0]), torch.tensor([50.0]))[0]))  # no overflow


def test_bad_input():
    with pytest.raises(ConfigError, match="unknown modulation 'gate'"):
        TwoPointLIF("gate")
    with pytest.raises(ShapeError, match="same shape"):
        TwoPointLIF()(torch.zeros(3, 2, 4), torch.zeros(3, 2, 5))


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_two_point_lif_is_lif_of_the_modulated_drive(backend):
    r, c = torch.rand(20, 3, 6) * 2, torch.randn(20, 3, 6)
    tp = TwoPointLIF("kay_phillips", tau=2.0, backend=backend)
    ref = LIF(tau=2.0, backend="torch")
    assert torch.equal(tp(r, c), ref(modulate(r, c)))
    rg, cg = r.clone().requires_grad_(), c.clone().requires_grad_()
    tp(rg, cg).sum().backward()
    assert cg.grad.abs().sum() > 0  # context is learned through the modulation
    assert TwoPointRate()(r, c).max() <= 1


def test_energy_counts_spike_driven_and_dense_operations():
    m = nn.Sequential(SeqLinear(4, 3), nn.Identity())
    x = torch.zeros(5, 2, 4)
    x[0, 0, 1] = 1
    x[3, 1, 2] = 1  # two input spikes, fan-out 3 each
    ops = count_operations(m, x)
    assert ops.synops == 6 and ops.macs == 0 and ops.synops_per_sample == 3
    dense = count_operations(m, torch.rand(5, 2, 4) + 0.1)
    assert dense.synops == 0 and dense.macs == 5 * 2 * 3 * 4
    assert dense.energy_per_sample_nj == pytest.approx(5 * 3 * 4 * 4.6 / 1000)


def test_audio_visual_experiment_on_real_pairs(shared_data):
    from neuro.experiments.twopoint import twopoint_av

    r = twopoint_av(shared_data, epochs=2, hidden=32)
    for kind in ("two_point", "point"):
        assert r[kind]["accuracy"] > 0.3  # chance 0.1
        assert r[kind]["params"] == r["two_point"]["params"]  # equal parameters
        assert r[kind]["accuracy_silenced_50"] <= r[kind]["accuracy"] + 0.05
    assert isinstance(r["target_met"], bool)


def test_context_sources():
    from neuro.neurons.twopoint import TwoPointLayer

    torch.manual_seed(0)
    x, z = torch.rand(12, 2, 5) * 2, torch.rand(12, 2, 3)
    distal = TwoPointLayer(5, 4, "distal", n_context=3, tau=2.0)
    assert distal(x, z).shape == (12, 2, 4)
    with pytest.raises(ShapeError, match="other stream"):
        distal(x)
    prox = TwoPointLayer(5, 4, "proximal", tau=2.0)
    s = prox(x)
    # step 0 has no lateral context: it equals the modulated drive with C = 0
    first = prox.neuron.lif(modulate(prox.ff(x[:1]), torch.zeros(1, 2, 4)))
    assert torch.equal(s[:1], first)
    top = nn.Linear(4, 3)
    fb = TwoPointLayer(5, 4, "feedback", top=top, n_top=3, tau=2.0)
    assert fb(x).shape == (12, 2, 4)
    with pytest.raises(ConfigError, match="needs top"):
        TwoPointLayer(5, 4, "feedback")
    with pytest.raises(ConfigError, match="context must be"):
        TwoPointLayer(5, 4, "global")
