"""The base class of all neuron modules: input checks, state, backend dispatch."""

from __future__ import annotations

import math

import torch
from torch import nn

from neuro.backends import get_backend, resolve_backend
from neuro.core.checks import checks_enabled, report_bad
from neuro.core.spec import NeuronSpec, State
from neuro.core.surrogate import DEFAULT_ALPHA, surrogate_code
from neuro.errors import ConfigError, DTypeError, NeuroError, ShapeError


def all_finite(t: torch.Tensor) -> bool:
    """Whether ``t`` holds no NaN or inf.  A finite sum proves it in one cheap reduction (NaN and
    inf never cancel to a finite sum); only a non-finite sum (or an overflow) needs the exact test."""
    t = t.detach()
    return math.isfinite(float(t.sum())) or bool(torch.isfinite(t).all())


def check_finite(owner: str, **values: object) -> None:
    """Raise :class:`ConfigError` naming the first of ``values`` that is not a finite number (``None`` is skipped).

    The one place where neuron parameters are checked: a NaN threshold or reset would make a
    neuron silently never spike (every comparison with NaN is false).
    """
    for name, v in values.items():
        if v is None:
            continue
        try:
            f = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{owner}: {name} must be a number, got {v!r}") from None
        if not math.isfinite(f):
            raise ConfigError(f"{owner}: {name} must be finite, got {v!r}")


def check_state_finite(owner: str, **tensors: torch.Tensor | None) -> None:
    """Raise when a state passed in by the caller holds NaN or inf (a neuron would never recover).

    Immediate on CPU (:class:`ConfigError`); non-blocking on CUDA (reported at the next neuron call,
    as the kernels' input checks are).  Off with :func:`set_checks`.
    """
    if not checks_enabled():
        return
    for name, t in tensors.items():
        if t is None:
            continue
        message = (f"{owner}: the state passed in (state.{name}) contains NaN or inf; start from init_state() "
                   "or pass the state a previous call returned")
        if t.is_cuda:
            report_bad((~torch.isfinite(t).all()).reshape(1), message)
        elif not all_finite(t):
            raise ConfigError(message)


def decay_from(tau: float | None, beta: float | None, name: str = "tau") -> float:
    """A decay factor from a time constant in steps (``1 - 1/tau``) or directly from ``beta``."""
    if (tau is None) == (beta is None):
        raise ConfigError(f"give exactly one of {name}= (time constant in steps) or its decay beta=")
    for what, v in ((name, tau), ("beta", beta)):
        if v is not None and not isinstance(v, int | float):
            try:
                float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"{what} must be a number, got {v!r}") from None
    if beta is not None:
        if not 0.0 <= beta <= 1.0:
            raise ConfigError(f"decay beta must be in [0, 1], got {beta}")
        return float(beta)
    assert tau is not None
    if not tau >= 1.0:
        raise ConfigError(f"time constant {name} must be >= 1 step (decay 1 - 1/tau in [0, 1)), got {tau}")
    return 1.0 - 1.0 / float(tau)


class DecayParameter(nn.Module):
    """A decay in [0, 1], fixed (buffer) or learnable (stored as a logit).

    ``shape`` gives one decay per neuron (feature shape, e.g. ``(256,)``); ``()`` shares one.
    """

    def __init__(self, value: float, learnable: bool = False, shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.learnable = learnable
        init = torch.full(shape, float(value))
        if learnable:
            if not 0.0 < value < 1.0:
                raise ConfigError(f"a learnable decay must start strictly inside (0, 1), got {value}")
            self.logit = nn.Parameter(torch.log(init / (1 - init)))
        else:
            self.register_buffer("value_", init)

    def forward(self) -> torch.Tensor:
        return torch.sigmoid(self.logit) if self.learnable else self.value_


class SpikingNeuron(nn.Module):
    """A neuron layer over time.

    Call it on a time-major sequence ``x`` of shape ``[T, B, *features]``; it returns a sequence
    of the same shape (spikes, or the membrane for non-spiking neurons).  ``state`` carries the
    neuron state between calls (streaming / truncated BPTT): pass ``return_state=True`` to get
    the final state, and give it back as ``state=`` next time.  :meth:`step` runs one step on
    ``[B, *features]``.
    """

    spiking = True
    cuba = False
    adaptive = False

    def __init__(
        self,
        *,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        decay_input: bool = True,
        detach_reset: bool = False,
        surrogate: str = "atan",
        alpha: float | None = None,
        backend: str | None = None,
        beta_a: float = 0.0,
        rho: float = 0.0,
    ) -> None:
        super().__init__()
        check_finite(type(self).__name__, v_threshold=v_threshold, v_reset=v_reset, alpha=alpha, beta_a=beta_a,
                     rho=rho)
        if alpha is not None and alpha <= 0:
            raise ConfigError(f"surrogate sharpness alpha must be > 0, got {alpha}")
        self.v_threshold = float(v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.decay_input = decay_input
        self.detach_reset = detach_reset
        self.surrogate = surrogate
        self.alpha = float(DEFAULT_ALPHA[surrogate] if alpha is None and surrogate in DEFAULT_ALPHA else alpha or 0)
        self._code = surrogate_code(surrogate)
        self.backend = backend
        if backend not in (None, "auto"):
            get_backend(backend)  # unknown names fail here, at construction
        self.beta_a = float(beta_a)
        self.rho = float(rho)

    # ---- to be provided by subclasses -------------------------------------------------
    def decays(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(voltage decay, current decay or None), each scalar or of the feature shape."""
        raise NotImplementedError

    # ---- common machinery --------------------------------------------------------------
    def spec(self) -> NeuronSpec:
        return NeuronSpec(
            spiking=self.spiking,
            cuba=self.cuba,
            adaptive=self.adaptive,
            hard_reset=self.v_reset is not None,
            v_th=self.v_threshold,
            v_reset=0.0 if self.v_reset is None else float(self.v_reset),
            decay_input=self.decay_input,
            detach_reset=self.detach_reset,
            surrogate=self._code,
            alpha=self.alpha,
            beta_a=self.beta_a,
            rho=self.rho,
        )

    def init_state(self, batch_shape: tuple[int, ...], device=None, dtype=torch.float32) -> State:
        """The resting state for inputs of shape ``[B, *features]``."""
        z = torch.zeros(batch_shape, device=device, dtype=dtype)
        return State(z, z.clone() if self.cuba else None, z.clone() if self.adaptive else None)

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise DTypeError(
                f"{type(self).__name__} expects a floating-point tensor, got {x.dtype}; convert with x.float()"
            )
        if x.dim() < 2:
            raise ShapeError(
                f"{type(self).__name__} expects a time-major sequence [T, B, ...] (at least 2 dims), "
                f"got shape {tuple(x.shape)}; use .step() for a single time step"
            )
        if x.shape[0] == 0:
            raise ShapeError(f"{type(self).__name__} got an empty sequence (T = 0, shape {tuple(x.shape)}); give at "
                             "least one time step")

    def _check_state(self, state: State, shape: tuple[int, ...]) -> None:
        if not isinstance(state, State):
            raise ShapeError(f"state must be a neuro State (from init_state or return_state=True), got {type(state)}")
        for name, t in zip(State._fields, state, strict=True):
            needed = name == "v" or (name == "i" and self.cuba) or (name == "a" and self.adaptive)
            if needed and (t is None or tuple(t.shape) != shape):
                got = None if t is None else tuple(t.shape)
                raise ShapeError(f"state.{name} must have shape {shape} (the input's [B, ...]), got {got}")
        check_state_finite(type(self).__name__, v=state.v, i=state.i if self.cuba else None,
                           a=state.a if self.adaptive else None)

    def forward(
        self, x: torch.Tensor, state: State | None = None, return_state: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, State]:
        self._check(x)
        T, inner = x.shape[0], tuple(x.shape[1:])
        if state is None:
            state = self.init_state(inner, x.device, x.dtype)
        else:
            self._check_state(state, inner)
        backend = resolve_backend(self.backend, x.device)
        if checks_enabled() and backend.name == "torch" and not all_finite(x):
            raise NeuroError(f"{type(self).__name__} input contains NaN or inf; check the layer feeding it")
        M = math.prod(inner)
        a_v, a_i = self.decays()
        feat = inner[1:]

        def flat(p: torch.Tensor | None) -> torch.Tensor | None:
            if p is None:
                return None
            p = p.to(device=x.device, dtype=x.dtype)
            try:
                return p.expand(inner).reshape(M)
            except RuntimeError:
                raise ShapeError(
                    f"{type(self).__name__} has per-neuron parameters of shape {tuple(p.shape)} that do not "
                    f"match the input's feature shape {feat}"
                ) from None

        st = State(
            state.v.reshape(M),
            state.i.reshape(M) if self.cuba and state.i is not None else None,
            state.a.reshape(M) if self.adaptive and state.a is not None else None,
        )
        out, new = backend.scan(self.spec(), x.reshape(T, M), st, flat(a_v), flat(a_i))
        out = out.reshape(x.shape)
        if not return_state:
            return out
        return out, State(*(None if t is None else t.reshape(inner) for t in new))

    def step(self, x_t: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One time step on ``[B, *features]``: returns (output, new state)."""
        if not isinstance(x_t, torch.Tensor) or x_t.dim() < 1:
            raise ShapeError("step() expects one time step of shape [B, ...]")
        # One step is a handful of elementwise ops: the torch reference (the definition) is the
        # fastest there; the fused kernels pay off over whole sequences.
        chosen, self.backend = self.backend, "torch"
        try:
            out, st = self.forward(x_t.unsqueeze(0), state, return_state=True)  # type: ignore[misc]
        finally:
            self.backend = chosen
        return out[0], st

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"hard({self.v_reset})"
        return (
            f"v_threshold={self.v_threshold}, reset={reset}, surrogate={self.surrogate}(alpha={self.alpha}), "
            f"backend={self.backend or 'auto'}"
        )
