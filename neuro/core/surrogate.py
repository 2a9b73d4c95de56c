"""Surrogate gradients: a Heaviside spike forward, a smooth derivative backward.

Each surrogate is a function ``g(u)`` of the distance to threshold ``u = v - threshold`` with a
sharpness ``alpha`` (larger = narrower).  The forward pass is always ``u > 0``.

=============  ===========================================  ===============
name           derivative g(u)                              default alpha
=============  ===========================================  ===============
atan           alpha/2 / (1 + (pi/2 * alpha * u)^2)         2.0
sigmoid        alpha * sig(alpha u) * (1 - sig(alpha u))    4.0
fast_sigmoid   1 / (1 + alpha |u|)^2   (SuperSpike)         25.0
triangle       alpha * max(0, 1 - alpha |u|)                1.0
rectangle      alpha * [|u| < 1 / (2 alpha)]                1.0
=============  ===========================================  ===============

``atan`` and ``sigmoid`` match SpikingJelly's ``surrogate.ATan`` / ``surrogate.Sigmoid``;
``fast_sigmoid`` matches snnTorch's ``surrogate.fast_sigmoid(slope=alpha)``.  The integer codes
are what the fused kernels receive.
"""

from __future__ import annotations

import math

import torch

from neuro.errors import ConfigError

SURROGATES: dict[str, int] = {"atan": 0, "sigmoid": 1, "fast_sigmoid": 2, "triangle": 3, "rectangle": 4}
DEFAULT_ALPHA: dict[str, float] = {
    "atan": 2.0,
    "sigmoid": 4.0,
    "fast_sigmoid": 25.0,
    "triangle": 1.0,
    "rectangle": 1.0,
}


def surrogate_code(name: str) -> int:
    """The kernel code of surrogate ``name``; a clear error for unknown names."""
    try:
        return SURROGATES[name]
    except KeyError:
        raise ConfigError(
            f"unknown surrogate {name!r}; expected one of {', '.join(SURROGATES)}"
        ) from None


def surrogate_grad(u: torch.Tensor, code: int, alpha: float) -> torch.Tensor:
    """The surrogate derivative g(u) (torch, any device); the definition the kernels follow."""
    if code == 0:
        return (alpha / 2) / (1 + (math.pi / 2 * alpha * u) ** 2)
    if code == 1:
        s = torch.sigmoid(alpha * u)
        return alpha * s * (1 - s)
    if code == 2:
        return 1.0 / (1 + alpha * u.abs()) ** 2
    if code == 3:
        return alpha * torch.clamp(1 - alpha * u.abs(), min=0)
    if code == 4:
        return alpha * (u.abs() < 0.5 / alpha).to(u.dtype)
    raise ConfigError(f"unknown surrogate code {code}")


class SpikeFn(torch.autograd.Function):
    """Heaviside forward, surrogate derivative backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, code: int, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)
        ctx.code, ctx.alpha = code, alpha
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        return grad * surrogate_grad(u, ctx.code, ctx.alpha), None, None


def spike(u: torch.Tensor, surrogate: str = "atan", alpha: float | None = None) -> torch.Tensor:
    """Spike where ``u > 0``, with the named surrogate gradient."""
    code = surrogate_code(surrogate)
    return SpikeFn.apply(u, code, DEFAULT_ALPHA[surrogate] if alpha is None else float(alpha))
