"""Layers over time: one large operation on ``[T, B, ...]`` instead of a loop over ``T``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neuro.errors import ConfigError, ShapeError


def check_seq(x: torch.Tensor, layer: nn.Module | str, feature_dims: int | None = None) -> None:
    """Raise a clear error unless ``x`` is ``[T, B, ...]`` (with ``feature_dims`` feature dims)."""
    name = layer if isinstance(layer, str) else type(layer).__name__
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name} expects a tensor [T, B, ...], got {type(x).__name__}")
    if feature_dims is not None and x.dim() != 2 + feature_dims:
        raise ShapeError(
            f"{name} expects a time-major sequence with {2 + feature_dims} dims [T, B, ...], "
            f"got shape {tuple(x.shape)}"
        )
    if x.dim() < 3:
        raise ShapeError(f"{name} expects a time-major sequence [T, B, features...], got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ShapeError(f"{name} got an empty sequence (T = 0, shape {tuple(x.shape)}); give at least one time step")


def merge_time(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, ...] -> [T*B, ...]``."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def split_time(y: torch.Tensor, T: int) -> torch.Tensor:
    """``[T*B, ...] -> [T, B, ...]``."""
    return y.reshape(T, y.shape[0] // T, *y.shape[1:])


class SeqLinear(nn.Linear):
    """``nn.Linear`` on ``[T, B, in]``: one matmul over all steps.

    On CPU, spike input (only 0 and 1) can skip the float GEMM (:func:`neuro.kernels.event_linear_cpu.event_linear`
    picks the path): on CPUs with AMX (Sapphire Rapids and later), float32 and float16 layers of at
    least 2048 x 2048 at density ``>= 0.09`` run the exact int8 split (:mod:`neuro.kernels.int_split_cpu`:
    weights and output gradients split into int8 digits, products exact in integers, one
    rounding); otherwise density ``<= max_event_density`` runs the event-driven gather-sum (sums of
    selected weight / gradient rows, added in float32 or float64).  Results equal the dense product
    to float rounding (the int8 split is usually closer to exact); the input is read once to check it.

    ``event_driven``:

    - ``None`` (default): the rule above for float32/float64/float16 layers of at least 64 x 64 and
      calls of at least ``min_event_macs`` multiply-adds, outside autocast; otherwise (and for
      bfloat16, whose AMX GEMM is faster) the dense product.
    - ``True``: the same choice for any size and float dtype (bfloat16 takes the gather-sum, adding
      in float32), with no density limit on the gather-sum.
    - ``"int8"``: the int8 split whenever the input is 0/1 (float32/bfloat16/float16; float64 takes
      the gather-sum); ``"gather"``: the gather-sum whenever the input is 0/1.
    - ``False``: always the dense product.

    Non-0/1 input always runs the dense product.  The pattern or int8 copy of the input found in the
    forward pass is reused by the backward pass.
    """

    #: Above this fraction of ones the dense GEMM is faster than the gather-sum (they cross near 12% on AVX-512 CPUs).
    max_event_density = 0.12
    #: Below this many multiply-adds per call the event path's fixed cost (~0.5 ms) exceeds the GEMM.
    min_event_macs = 2**26
    #: The values ``event_driven`` takes.
    modes = (None, True, False, "int8", "gather")

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None,
                 event_driven: bool | str | None = None) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        if not (event_driven is None or isinstance(event_driven, bool) or event_driven in ("int8", "gather")):
            raise ConfigError(f"SeqLinear(event_driven=...) must be one of {self.modes}, got {event_driven!r}")
        self.event_driven = event_driven

    def _try_events(self, x: torch.Tensor) -> bool:
        event_driven = getattr(self, "event_driven", None)  # modules pickled before the option existed
        if event_driven is False or x.device.type != "cpu" or x.dtype != self.weight.dtype:
            return False
        if event_driven is None and (
            x.dtype not in (torch.float32, torch.float64, torch.float16)
            or min(self.in_features, self.out_features) < 64
            or x.numel() * self.out_features < self.min_event_macs
            or torch.is_autocast_enabled("cpu")
        ):
            return False
        if x.dtype not in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
            return False
        from neuro.kernels.event_linear_cpu import available

        return available()[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self)
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"SeqLinear expects {self.in_features} input features, got {x.shape[-1]}")
        if self._try_events(x):
            from neuro.kernels.event_linear_cpu import event_linear

            mode = getattr(self, "event_driven", None)
            limit = self.max_event_density if mode is None else 1.0
            kernel = mode if isinstance(mode, str) else None
            y = event_linear(x.reshape(-1, self.in_features), self.weight, self.bias, limit, kernel)
            if y is not None:
                return y.reshape(*x.shape[:-1], self.out_features)
        return super().forward(x)


class SeqWrap(nn.Module):
    """Apply a per-sample module (conv, pooling, ...) to every step of ``[T, B, ...]`` at once."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self.module)
        return split_time(self.module(merge_time(x)), x.shape[0])


class SeqConv1d(nn.Conv1d):
    """``nn.Conv1d`` on ``[T, B, C, L]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self, 2)
        return split_time(super().forward(merge_time(x)), x.shape[0])


class SeqConv2d(nn.Conv2d):
    """``nn.Conv2d`` on ``[T, B, C, H, W]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self, 3)
        return split_time(super().forward(merge_time(x)), x.shape[0])


class SeqMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` on ``[T, B, C, H, W]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self, 3)
        return split_time(super().forward(merge_time(x)), x.shape[0])


class SeqAvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` on ``[T, B, C, H, W]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self, 3)
        return split_time(super().forward(merge_time(x)), x.shape[0])


class SeqSumPool2d(nn.Module):
    """Sum pooling (what spiking chips do: spike counts add up) on ``[T, B, C, H, W]``."""

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self, 3)
        y = F.avg_pool2d(merge_time(x), self.kernel_size, self.stride) * (self.kernel_size**2)
        return split_time(y, x.shape[0])


class Flatten(nn.Module):
    """Flatten the feature dims: ``[T, B, ...] -> [T, B, prod(...)]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self)
        return x.flatten(2)


class SeqBatchNorm(nn.Module):
    """Batch norm whose statistics run over time and batch (and space for conv features).

    Input ``[T, B, C]`` or ``[T, B, C, H, W]``; ``C = num_features``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features, eps=eps, momentum=momentum, affine=affine)
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self)
        if x.shape[2] != self.num_features:
            raise ShapeError(f"SeqBatchNorm expects {self.num_features} channels at dim 2, got {x.shape[2]}")
        flat = merge_time(x)
        if flat.dim() > 2:  # [N, C, H, W] -> [N, C, H*W]
            flat = flat.flatten(2)
        return self.bn(flat).reshape(x.shape)


class SeqDropout(nn.Module):
    """Dropout with one mask per sequence: the same units are dropped at every time step."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self)
        if not self.training or self.p == 0:
            return x
        mask = torch.empty((1, *x.shape[1:]), device=x.device, dtype=x.dtype).bernoulli_(1 - self.p)
        return x * mask / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Recurrent(nn.Module):
    """A recurrent spiking layer: ``s[t] = neuron(W x[t] + R s[t-1])``.

    The input projection runs as one matmul over all steps; the recurrence is stepped.
    """

    def __init__(self, in_features: int, hidden: int, neuron: nn.Module, bias: bool = True) -> None:
        super().__init__()
        self.ff = nn.Linear(in_features, hidden, bias=bias)
        self.rec = nn.Linear(hidden, hidden, bias=False)
        self.neuron = neuron
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self, 1)
        drive = self.ff(x)
        s = drive.new_zeros(drive.shape[1:])
        state = None
        out = []
        for t in range(x.shape[0]):
            s, state = self.neuron.step(drive[t] + self.rec(s), state)
            out.append(s)
        return torch.stack(out)
