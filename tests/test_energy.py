"""The energy metric: synaptic operations counted from actual events, MACs for dense inputs."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from neuro import LIF
from neuro.errors import ConfigError
from neuro.layers import Recurrent, SeqConv2d, SeqLinear
from neuro.layers.delay import DelayedLinear
from neuro.learning.energy import OpCounter, count_operations, is_event_tensor, register_counter


def test_linear_counts_each_spike_times_its_existing_synapses():
    fc = SeqLinear(4, 3)
    with torch.no_grad():
        fc.weight[:, 2] = 0  # input 2 has no synapses (pruned)
        fc.weight[0, 1] = 0  # input 1 has two
    x = torch.zeros(5, 2, 4)
    x[0, 0, 1] = 1  # 2 synapses
    x[3, 1, 2] = 1  # 0 synapses
    x[4, 1, 0] = 1  # 3 synapses
    x[4, 0, 3] = 2  # two events in one bin, 3 synapses each
    ops = count_operations(nn.Sequential(fc), x)
    assert ops.synops == 2 + 0 + 3 + 6 and ops.macs == 0
    assert ops.synops_per_sample == 5.5 and ops.samples == 2


def test_dense_input_costs_macs_and_energy_is_configurable():
    m = nn.Sequential(SeqLinear(4, 3), nn.Identity())
    dense = count_operations(m, torch.rand(5, 2, 4) + 0.1, e_synop_pj=1.0, e_mac_pj=10.0)
    assert dense.synops == 0 and dense.macs == 5 * 2 * 3 * 4
    assert dense.energy_per_sample_nj == pytest.approx(5 * 3 * 4 * 10.0 / 1000)
    x = torch.zeros(5, 2, 4)
    x[1, 1, 1] = 1
    sparse = count_operations(m, x, e_synop_pj=2.0)
    assert sparse.energy_per_sample_nj == pytest.approx(3 * 2.0 / 2 / 1000)
    with pytest.raises(ConfigError, match="e_mac_pj"):
        OpCounter(m, e_mac_pj=-1)


def test_event_detection():
    assert is_event_tensor(torch.tensor([0.0, 1.0, 3.0]))
    assert not is_event_tensor(torch.tensor([0.0, 0.5]))
    assert not is_event_tensor(torch.tensor([0.0, -1.0]))


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 0, 1), (1, 2, 2)])
def test_conv_synops_match_a_brute_force_count(stride, padding, dilation):
    torch.manual_seed(0)
    conv = SeqConv2d(2, 3, 3, stride=stride, padding=padding, dilation=dilation)
    with torch.no_grad():
        conv.weight[1, 0, 1, 1] = 0
    x = (torch.rand(2, 2, 2, 7, 6) < 0.3).float()
    ops = count_operations(nn.Sequential(conv), x)
    out = conv(x)
    H, W = out.shape[-2:]
    brute = 0
    for t, b, o, i, oy, ox, ky, kx in itertools.product(range(2), range(2), range(3), range(2), range(H), range(W),
                                                         range(3), range(3)):
        iy, ix = oy * stride - padding + ky * dilation, ox * stride - padding + kx * dilation
        if 0 <= iy < 7 and 0 <= ix < 6 and conv.weight[o, i, ky, kx] != 0:
            brute += int(x[t, b, i, iy, ix])
    assert ops.synops == brute and ops.macs == 0
    dense = count_operations(nn.Sequential(conv), x + 0.5)
    assert dense.macs == out.numel() * 2 * 9


def test_every_step_of_a_recurrent_layer_and_delayed_synapses_are_counted():
    torch.manual_seed(0)
    rec = Recurrent(3, 4, LIF(tau=2.0, v_threshold=0.1))
    x = (torch.rand(6, 2, 3) < 0.5).float()
    with OpCounter(rec) as counter:
        s = rec(x)
    ops = counter.result(2)
    assert ops.layers["ff"].synops == float(x.sum()) * 4
    assert ops.layers["rec"].calls == 6
    assert ops.layers["rec"].synops == float(s[:-1].detach().sum()) * 4  # the last step's spikes are never sent
    d = DelayedLinear(3, 5, max_delay=4, mode="fixed")
    assert count_operations(d, x).synops == float(x.sum()) * 5


def test_counter_accumulates_over_batches_and_accepts_new_layer_types():
    class Gate(nn.Module):
        def forward(self, x):
            return x * 2

    register_counter(Gate, lambda m, x, out: (float(x.numel()), 1.0))
    model = nn.Sequential(SeqLinear(3, 2), Gate())
    x = torch.zeros(4, 5, 3)
    x[0, :, 0] = 1
    with OpCounter(model) as counter:
        for _ in range(3):
            model(x)
    ops = counter.result(samples=15)
    assert ops.layers["0"].synops == 3 * 5 * 2 and ops.layers["1"].synops == 3 * 4 * 5 * 2
    assert ops.layers["1"].macs == 3
    assert set(ops.as_dict()["layers"]) == {"0", "1"}
    with pytest.raises(ConfigError, match="no synaptic layer"):
        OpCounter(nn.ReLU()).__enter__()
    with pytest.raises(ConfigError, match="nn.Module subclass"):
        register_counter(int, lambda m, x, o: (0.0, 0.0))
