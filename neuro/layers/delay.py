"""Synapses with a learnable delay per synapse (dilated convolution with learnable spacings, DCLS).

:class:`DelayedLinear` maps ``[T, B, in]`` to ``[T, B, out]``; synapse ``(o, i)`` has a weight
``W[o, i]`` and a delay ``D[o, i]`` in ``[0, max_delay]`` steps:

* training (``mode="learned"``): the synapse's kernel over time is a Gaussian tap centred on the
  continuous delay, ``g_d = exp(-((d - D)/sigma)^2 / 2) / sum_d' exp(...)`` for ``d = 0..max_delay``,
  and ``y[t, o] = sum_i sum_d W[o, i] g_d x[t - d, i]`` (causal: only the past).  ``sigma`` follows a
  schedule (:func:`sigma_schedule`) down to a floor, so kernels narrow to one tap during training.
  Positions and weights both get gradients.
* evaluation (``model.eval()``) and ``mode="fixed"``: integer delays ``round(D)`` and one tap per
  synapse, computed event-driven (a scatter from each non-zero input to its outputs at
  ``t + D[o, i]``), never as a dense ``max_delay``-tap convolution.
* ``mode="none"``: no delays (a plain linear layer; the paper's ablation).

With the same weights, delays and sigma the training kernel equals the ``dcls`` package's
``Dcls1d(version="gauss")`` with ``P = (K - 1) // 2 - D`` (``K = max_delay + 1``),
``SIG = sigma - 0.27`` and the input left-padded by ``K - 1`` (tested).

Export accessor: :meth:`DelayedLinear.synapses` returns ``(weight [out, in], integer delays [out, in])``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neuro.core.checks import report_bad
from neuro.core.delays import EPS, TAIL
from neuro.errors import ConfigError, DTypeError, HardwareLimitError, ShapeError
from neuro.layers.time import check_seq

# Above this fraction of non-zero inputs the dense convolution (oneDNN) beats the event-driven kernels.
EVENT_DENSITY_MAX = 0.3


def _cpu_kernels():
    """The event-driven CPU kernels (numba), loaded on first use; ``None`` when numba cannot run."""
    from neuro.kernels import delay_cpu

    return delay_cpu if delay_cpu.available()[0] else None


def _event_path(x: torch.Tensor, n_out: int) -> bool:
    """Whether the event-driven CPU kernels apply: float32 on CPU, sparse input, outputs to vectorize over."""
    return (x.device.type == "cpu" and n_out >= 8 and x.dtype == torch.float32 and _cpu_kernels() is not None
            and torch.count_nonzero(x).item() <= EVENT_DENSITY_MAX * x.numel())


def delayed_matmul(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
    """``y[t, b, o] = sum_i W[o, i] x[t - D[o, i], b, i]`` with integer delays (causal, zero before 0).

    CPU: event-driven numba kernels (work proportional to the number of non-zero inputs).
    CUDA: a Triton gather, one tap per synapse (:mod:`neuro.kernels.delay_gpu`).
    Other devices: one masked matmul per distinct delay value.
    """
    check_seq(x, "delayed_matmul", 1)
    if weight.dim() != 2 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"delayed_matmul: weight {tuple(weight.shape)} does not match input channels {x.shape[-1]}; "
                         "weight must be [out, in]")
    if delays.shape != weight.shape:
        raise ShapeError(f"delayed_matmul: delays {tuple(delays.shape)} must have the weight's shape "
                         f"{tuple(weight.shape)}")
    if delays.is_floating_point() or delays.is_complex():
        raise DTypeError(f"delayed_matmul: delays must be integers, got {delays.dtype}; round them first "
                         "(DelayedLinear.integer_delays())")
    if delays.numel() and int(delays.min()) < 0:
        raise ConfigError(f"delayed_matmul: delays must be >= 0 (causal), got {int(delays.min())}")
    if x.device.type == "cpu" and _cpu_kernels() is not None:
        return _cpu_kernels().DelayedMatmul.apply(x, weight, delays)
    if x.device.type == "cuda":
        from neuro.kernels.delay_gpu import gather_delayed_matmul, triton

        if triton is not None:
            return gather_delayed_matmul(x, weight, delays)
    T = x.shape[0]
    y = x.new_zeros((T, x.shape[1], weight.shape[0]))
    for d in torch.unique(delays).tolist():
        if d >= T:
            continue
        wd = weight * (delays == d)
        y[d:] = y[d:] + x[: T - d] @ wd.t()
    return y


def sigma_schedule(epoch: int, epochs: int, sigma0: float, sigma_min: float = 0.5, fraction: float = 0.25) -> float:
    """Exponential decay from ``sigma0`` to ``sigma_min`` over the first ``fraction`` of the epochs, then flat."""
    final = max(1, int(epochs * fraction))
    if epoch >= final:
        return sigma_min
    return sigma0 * (sigma_min / sigma0) ** (epoch / final)


class DelayedLinear(nn.Module):
    """Fully connected synapses with one weight and one delay each (see the module docstring).

    Args:
        in_features, out_features: sizes.
        max_delay: largest delay in steps (kernel length ``max_delay + 1``).
        mode: ``"learned"`` (DCLS), ``"fixed"`` (random integer delays, frozen) or ``"none"``.
        sigma: initial Gaussian width in steps (``max_delay / 2`` by default).
        right_pad: zero steps appended to the input (output is that much longer), as SNN-delays does.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_delay: int = 24,
        mode: str = "learned",
        sigma: float | None = None,
        bias: bool = False,
        right_pad: int = 0,
    ) -> None:
        super().__init__()
        if mode not in ("learned", "fixed", "none"):
            raise ConfigError(f"DelayedLinear mode must be 'learned', 'fixed' or 'none', got {mode!r}")
        if max_delay < 0:
            raise ConfigError(f"max_delay must be >= 0, got {max_delay}")
        self.in_features, self.out_features, self.max_delay, self.mode = in_features, out_features, max_delay, mode
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        pos = torch.rand(out_features, in_features) * max_delay
        if mode == "learned":
            self.delay = nn.Parameter(pos)
        else:
            self.register_buffer("delay", pos.round() if mode == "fixed" else torch.zeros_like(pos))
        self.sigma = float(max_delay / 2 if sigma is None else sigma)
        self.right_pad = int(right_pad)  # zero steps appended to the input, so late spikes still arrive

    # ------------------------------------------------------------------ kernels
    def kernel(self, sigma: float | None = None) -> torch.Tensor:
        """The Gaussian kernel ``[out, in, K]`` over delays ``0..max_delay`` (weights included)."""
        s = self.sigma if sigma is None else sigma
        d = torch.arange(self.max_delay + 1, device=self.weight.device, dtype=self.weight.dtype)
        a = 0.5 * ((d - self.delay.unsqueeze(-1)) / s) ** 2
        # the far tail is exactly zero (see neuro.core.delays.TAIL): no subnormal taps
        g = torch.exp(-a.masked_fill(a > a.detach().amin(-1, keepdim=True) + TAIL, float("inf")))
        g = g / (g.sum(-1, keepdim=True) + EPS)
        return self.weight.unsqueeze(-1) * g

    def integer_delays(self) -> torch.Tensor:
        """Delays rounded to integer steps in ``[0, max_delay]``."""
        return self.delay.detach().round().clamp(0, self.max_delay).to(torch.int64)

    def synapses(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weight [out, in], integer delay [out, in])``: what hardware export needs."""
        return self.weight.detach().clone(), self.integer_delays()

    def clamp_(self) -> None:
        """Keep learned positions inside ``[0, max_delay]`` (called after each optimizer step)."""
        if self.mode == "learned":
            with torch.no_grad():
                self.delay.clamp_(0, self.max_delay)

    def constrain_to_hardware(self, max_delay: int = 62) -> None:
        """Round the delays to integers (one tap per synapse) and check them against a hardware limit."""
        d = self.integer_delays()
        if int(d.max()) > max_delay:
            raise HardwareLimitError(f"delays up to {int(d.max())} steps exceed the hardware limit {max_delay}")
        with torch.no_grad():
            self.delay.copy_(d.to(self.delay.dtype))

    def _check_positions(self) -> None:
        """Raise when a delay position lies outside ``[0, max_delay]`` (or is NaN).

        Out-of-range positions would otherwise be clipped silently (rounding) or put the Gaussian
        tap partly outside the kernel.  Non-blocking on CUDA (reported at the next check).
        """
        d = self.delay.detach()
        bad = ((d < 0) | (d > self.max_delay) | d.isnan()).any().reshape(1)
        message = (f"DelayedLinear({self.in_features}, {self.out_features}): delay positions must lie in "
                   f"[0, max_delay={self.max_delay}]")
        if not d.is_cuda and bool(bad):
            message += f", found values in [{float(d.min()):.4g}, {float(d.max()):.4g}]"
        report_bad(bad, message + "; call layer.clamp_() after each optimizer step (neuro's trainer does) or "
                   "load positions inside the range")

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_seq(x, self, 1)
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"DelayedLinear expects {self.in_features} input channels, got {x.shape[-1]}")
        if self.mode != "none":
            self._check_positions()
        if self.right_pad:
            x = F.pad(x, (0, 0, 0, 0, 0, self.right_pad))
        if self.mode == "none":
            y = x @ self.weight.t()
        elif self.mode == "learned" and self.training:
            if _event_path(x, self.out_features) and self.weight.dtype == torch.float32:
                y = _cpu_kernels().GaussDelayConv.apply(x, self.weight, self.delay, self.sigma, self.max_delay + 1)
            else:
                xp = F.pad(x.permute(1, 2, 0), (self.max_delay, 0))  # [B, in, T + K - 1]
                y = F.conv1d(xp, self.kernel().flip(-1)).permute(2, 0, 1)  # conv tap k applies delay K-1-k
        else:
            y = delayed_matmul(x, self.weight, self.integer_delays())
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, mode={self.mode}, "
                f"sigma={self.sigma:.3g}")


