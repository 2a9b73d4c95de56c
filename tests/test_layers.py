"""Layers over time equal their per-step definitions; bad shapes give clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro import LIF
from neuro.errors import ConfigError, ShapeError
from neuro.layers import (
    Flatten,
    Recurrent,
    SeqAvgPool2d,
    SeqBatchNorm,
    SeqConv1d,
    SeqConv2d,
    SeqDropout,
    SeqLinear,
    SeqMaxPool2d,
    SeqSumPool2d,
    SeqWrap,
)


def _per_step(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([module(x[t]) for t in range(x.shape[0])])


@pytest.mark.parametrize(
    "layer,per_step,shape",
    [
        (SeqLinear(6, 4), None, (5, 3, 6)),
        (SeqConv1d(2, 3, 3, padding=1), None, (5, 3, 2, 9)),
        (SeqConv2d(2, 3, 3, padding=1), None, (5, 3, 2, 8, 8)),
        (SeqMaxPool2d(2), nn.MaxPool2d(2), (5, 3, 2, 8, 8)),
        (SeqAvgPool2d(2), nn.AvgPool2d(2), (5, 3, 2, 8, 8)),
        (SeqWrap(nn.Conv2d(2, 3, 3)), None, (4, 2, 2, 6, 6)),
    ],
)
def test_sequence_layers_equal_per_step(layer, per_step, shape):
    x = torch.randn(*shape)
    ref = per_step if per_step is not None else (layer.module if isinstance(layer, SeqWrap) else layer)
    if isinstance(layer, SeqLinear | SeqConv1d | SeqConv2d):
        ref = getattr(nn, type(layer).__name__.removeprefix("Seq"))(
            *([layer.in_features, layer.out_features] if isinstance(layer, SeqLinear) else
              [layer.in_channels, layer.out_channels, layer.kernel_size]),
            **({} if isinstance(layer, SeqLinear) else {"padding": layer.padding}),
        )
        ref.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x), _per_step(ref, x))


def test_sum_pool_sums_spike_counts():
    x = (torch.rand(3, 2, 1, 4, 4) > 0.5).float()
    y = SeqSumPool2d(2)(x)
    torch.testing.assert_close(y[..., 0, 0], x[..., :2, :2].sum((-1, -2)))


def test_batchnorm_statistics_over_time_and_batch():
    x = torch.randn(7, 5, 4) * 3 + 2
    bn = SeqBatchNorm(4).train()
    y = bn(x)
    flat = y.reshape(-1, 4)
    torch.testing.assert_close(flat.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(flat.var(0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
    # conv features: channels at dim 2, statistics also over space
    xc = torch.randn(3, 2, 4, 5, 5) + 1
    yc = SeqBatchNorm(4)(xc)
    torch.testing.assert_close(yc.transpose(0, 2).reshape(4, -1).mean(1), torch.zeros(4), atol=1e-5, rtol=0)


def test_dropout_one_mask_per_sequence():
    d = SeqDropout(0.5).train()
    y = d(torch.ones(10, 4, 50))
    dropped = y == 0
    assert dropped.any() and not dropped.all()
    assert torch.equal(dropped, dropped[:1].expand_as(dropped)), "the mask must not change over time"
    d.eval()
    assert torch.equal(d(torch.ones(3, 2, 5)), torch.ones(3, 2, 5))
    with pytest.raises(ConfigError):
        SeqDropout(1.0)


def test_recurrent_layer_equals_manual_loop():
    torch.manual_seed(1)
    layer = Recurrent(5, 6, LIF(tau=2.0, v_reset=None))
    x = torch.rand(12, 2, 5) * 2
    y = layer(x)
    s = torch.zeros(2, 6)
    v = torch.zeros(2, 6)
    out = []
    for t in range(12):
        h = 0.5 * v + 0.5 * (layer.ff(x[t]) + layer.rec(s))
        s = (h > 1.0).float()
        v = h - s
        out.append(s)
    torch.testing.assert_close(y, torch.stack(out))
    assert y.sum() > 0


def test_flatten_and_shape_errors():
    assert Flatten()(torch.zeros(2, 3, 4, 5)).shape == (2, 3, 20)
    with pytest.raises(ShapeError, match="expects 6 input features"):
        SeqLinear(6, 2)(torch.zeros(3, 2, 5))
    with pytest.raises(ShapeError, match="5 dims"):
        SeqConv2d(1, 1, 3)(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ShapeError, match="channels at dim 2"):
        SeqBatchNorm(3)(torch.zeros(2, 2, 4))
