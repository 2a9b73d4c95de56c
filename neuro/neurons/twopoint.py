"""Two-point (two-compartment) neurons: a basal compartment integrates the receptive field ``R``,
an apical compartment the context ``C``, and a modulatory transfer function ``A(R, C)`` decides
what is transmitted: context amplifies or attenuates feed-forward drive.

Modulation functions (by name):

* ``kay_phillips``: ``A = R/2 * (1 + exp(R*C))`` (Kay & Phillips 1997): context alone cannot drive
  the neuron, agreeing context amplifies, disagreeing context attenuates;
* ``generalized``: ``A = R * (k1 + (1 - k1) * exp(k2*R*C))`` (defaults ``k1 = 0.5, k2 = 2``);
* ``cooperation``: ``A = R^2 + 2R + C*(1 + |R|)`` (Adeel's cooperation function);
* ``burst``: ``A = R * (1 + sigmoid(C))``: burst-style apical gain; each basal event becomes a
  burst with probability ``sigmoid(C)`` (as in burstprop), so the expected drive is 1x to 2x ``R``.

:class:`TwoPointLIF` runs the recurrence of :mod:`neuro.core.twopoint` (apical leaky
compartment with time constant ``tau_apical``, modulation, somatic LIF) on fused numba (CPU) or
Triton (CUDA) kernels, or the torch reference.  :class:`TwoPointRate` is the rate unit
``sigmoid(A(R, C))``.  :class:`TwoPointLayer` wires the context: from another stream or modality
(distal), from the layer's neighbours (proximal) or from a higher layer (feedback).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neuro.backends import get_backend, resolve_backend
from neuro.core.checks import checks_enabled
from neuro.core.surrogate import DEFAULT_ALPHA, surrogate_code
from neuro.core.twopoint import MODULATION_CODES, TwoPointSpec, TwoPointState, modulation_fn
from neuro.errors import ConfigError, DTypeError, NeuroError, ShapeError
from neuro.neurons.base import DecayParameter, all_finite, check_finite, check_state_finite, decay_from

MODULATIONS = tuple(MODULATION_CODES)


def _code(kind: str) -> int:
    try:
        return MODULATION_CODES[kind]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown modulation {kind!r}; expected one of {', '.join(MODULATIONS)}") from None


def _check_pair(r: torch.Tensor, c: torch.Tensor, who: str, min_dim: int = 1) -> None:
    for name, t in (("receptive field", r), ("context", c)):
        if not isinstance(t, torch.Tensor):
            raise DTypeError(f"{who}: the {name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise DTypeError(f"{who}: the {name} must be floating point, got {t.dtype}; convert with .float()")
    if r.shape != c.shape:
        raise ShapeError(f"{who}: receptive field {tuple(r.shape)} and context {tuple(c.shape)} must have the same "
                         "shape; project the context to the layer's size first (e.g. a Linear to its features)")
    if r.dim() < min_dim:
        raise ShapeError(f"{who} expects a time-major sequence [T, B, ...], got shape {tuple(r.shape)}; "
                         "use .step() for one time step")


def modulate(r: torch.Tensor, c: torch.Tensor, kind: str = "kay_phillips", k1: float = 0.5,
             k2: float = 2.0) -> torch.Tensor:
    """The modulatory transfer function ``A(R, C)`` named ``kind`` (elementwise)."""
    code = _code(kind)
    check_finite("modulate", k1=k1, k2=k2)
    _check_pair(r, c, "modulate")
    return modulation_fn(r, c, code, k1, k2)


class TwoPointLIF(nn.Module):
    """A spiking two-point neuron layer over ``[T, B, ...]`` sequences: ``layer(R, C)`` returns spikes.

    Args:
        modulation: ``kay_phillips``, ``generalized``, ``cooperation`` or ``burst``.
        tau / beta: somatic membrane time constant in steps, or its decay.
        tau_apical / beta_apical: apical time constant (``1`` = the context of this step only).
        learn_beta, learn_apical: learn the somatic / apical decays (per neuron with ``shape``).
        k1, k2: the generalized function's constants.
        v_threshold, v_reset (``None``: soft reset), decay_input, detach_reset, surrogate, alpha,
        backend: as :class:`~neuro.neurons.lif.LIF`.
    """

    def __init__(self, modulation: str = "kay_phillips", tau: float | None = 2.0, *, beta: float | None = None,
                 tau_apical: float | None = 1.0, beta_apical: float | None = None, learn_beta: bool = False,
                 learn_apical: bool = False, shape: tuple[int, ...] = (), k1: float = 0.5, k2: float = 2.0,
                 v_threshold: float = 1.0, v_reset: float | None = 0.0, decay_input: bool = True,
                 detach_reset: bool = False, surrogate: str = "atan", alpha: float | None = None,
                 backend: str | None = None) -> None:
        super().__init__()
        self._mod = _code(modulation)
        check_finite(type(self).__name__, k1=k1, k2=k2, v_threshold=v_threshold, v_reset=v_reset, alpha=alpha)
        self.modulation, self.k1, self.k2 = modulation, float(k1), float(k2)
        self._sg = surrogate_code(surrogate)
        self.surrogate = surrogate
        self.alpha = float(DEFAULT_ALPHA[surrogate] if alpha is None else alpha)
        if self.alpha <= 0:
            raise ConfigError(f"surrogate sharpness alpha must be > 0, got {alpha}")
        self.v_threshold, self.v_reset = float(v_threshold), None if v_reset is None else float(v_reset)
        self.decay_input, self.detach_reset = decay_input, detach_reset
        self.backend = backend
        if backend not in (None, "auto"):
            get_backend(backend)
        self.beta = DecayParameter(decay_from(None if beta is not None else tau, beta), learn_beta, shape)
        self.beta_apical = DecayParameter(
            decay_from(None if beta_apical is not None else tau_apical, beta_apical, "tau_apical"), learn_apical, shape)

    def spec(self) -> TwoPointSpec:
        return TwoPointSpec(self._mod, self.k1, self.k2, self.v_threshold,
                            0.0 if self.v_reset is None else float(self.v_reset), self.v_reset is not None,
                            self.decay_input, self.detach_reset, self._sg, self.alpha)

    def init_state(self, batch_shape: tuple[int, ...], device=None, dtype=torch.float32) -> TwoPointState:
        """The resting state (membrane and apical potential zero) for inputs ``[B, *features]``."""
        z = torch.zeros(batch_shape, device=device, dtype=dtype)
        return TwoPointState(z, z.clone())

    def forward(self, r: torch.Tensor, c: torch.Tensor, state: TwoPointState | None = None,
                return_state: bool = False) -> torch.Tensor | tuple[torch.Tensor, TwoPointState]:
        _check_pair(r, c, type(self).__name__, min_dim=2)
        T, inner = r.shape[0], tuple(r.shape[1:])
        if T == 0:
            raise ShapeError(f"{type(self).__name__} got an empty sequence (T = 0, shape {tuple(r.shape)}); give at "
                             "least one time step")
        if state is None:
            state = self.init_state(inner, r.device, r.dtype)
        else:
            self._check_state(state, inner)
        backend = resolve_backend(self.backend, r.device)
        if checks_enabled() and backend.name == "torch" and not (all_finite(r) and all_finite(c)):
            raise NeuroError("two-point neuron input (receptive field or context) contains NaN or inf")
        M = math.prod(inner)

        def flat(p: torch.Tensor) -> torch.Tensor:
            p = p.to(device=r.device, dtype=r.dtype)
            try:
                return p.expand(inner).reshape(M)
            except RuntimeError:
                raise ShapeError(f"{type(self).__name__} has per-neuron decays of shape {tuple(p.shape)} that do not "
                                 f"match the input's feature shape {inner[1:]}") from None

        st = TwoPointState(state.v.reshape(M), state.p.reshape(M))
        out, new = backend.scan_twopoint(self.spec(), r.reshape(T, M), c.reshape(T, M), st, flat(self.beta()),
                                         flat(self.beta_apical()))
        out = out.reshape(r.shape)
        if not return_state:
            return out
        return out, TwoPointState(new.v.reshape(inner), new.p.reshape(inner))

    def step(self, r_t: torch.Tensor, c_t: torch.Tensor, state: TwoPointState | None = None
             ) -> tuple[torch.Tensor, TwoPointState]:
        """One time step on ``[B, *features]`` (torch reference): returns (spikes, new state)."""
        _check_pair(r_t, c_t, f"{type(self).__name__}.step")
        inner = tuple(r_t.shape)
        if state is None:
            state = self.init_state(inner, r_t.device, r_t.dtype)
        else:
            self._check_state(state, inner)
        return self._step(r_t, c_t, state)

    def _check_state(self, state: TwoPointState, inner: tuple[int, ...]) -> None:
        """A caller's state: a TwoPointState of two ``inner``-shaped finite tensors."""
        if not isinstance(state, TwoPointState) or any(tuple(s.shape) != inner for s in state):
            got = [tuple(s.shape) for s in state] if isinstance(state, TwoPointState) else type(state).__name__
            raise ShapeError(f"state must be a TwoPointState of two {inner} tensors (the input's [B, ...]), got {got}")
        check_state_finite(type(self).__name__, v=state.v, p=state.p)

    def _step(self, r_t: torch.Tensor, c_t: torch.Tensor, state: TwoPointState) -> tuple[torch.Tensor, TwoPointState]:
        """:meth:`step` without the checks, for loops that pass back the state the previous step returned."""
        inner = tuple(r_t.shape)
        M = math.prod(inner)
        a_v = self.beta().to(r_t).expand(inner).reshape(M)
        a_c = self.beta_apical().to(r_t).expand(inner).reshape(M)
        out, new = get_backend("torch").scan_twopoint(self.spec(), r_t.reshape(1, M), c_t.reshape(1, M),
                                                      TwoPointState(state.v.reshape(M), state.p.reshape(M)), a_v, a_c)
        return out[0].reshape(inner), TwoPointState(new.v.reshape(inner), new.p.reshape(inner))

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"hard({self.v_reset})"
        return (f"modulation={self.modulation}, v_threshold={self.v_threshold}, reset={reset}, "
                f"surrogate={self.surrogate}(alpha={self.alpha}), backend={self.backend or 'auto'}")


class TwoPointRate(nn.Module):
    """A rate two-point unit: ``sigmoid(A(R, C))`` (any shape; ``R`` and ``C`` the same shape)."""

    def __init__(self, modulation: str = "kay_phillips", k1: float = 0.5, k2: float = 2.0) -> None:
        super().__init__()
        _code(modulation)
        check_finite(type(self).__name__, k1=k1, k2=k2)
        self.modulation, self.k1, self.k2 = modulation, float(k1), float(k2)

    def forward(self, r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(modulate(r, c, self.modulation, self.k1, self.k2))


CONTEXTS = ("distal", "proximal", "feedback")


class TwoPointLayer(nn.Module):
    """A layer of two-point neurons with its receptive field and one or more sources of context.

    ``context`` is one of, or a tuple of (their contributions add up in ``C``):

    * ``"distal"``: another stream or modality ``z`` given to :meth:`forward`, ``C = W_d z``
      (one matmul over the whole sequence);
    * ``"proximal"``: the layer's own neighbours at the previous step, ``C[t] = W_p s[t-1]``
      (lateral connections, no self-connections);
    * ``"feedback"``: a higher layer's previous-step output, ``C[t] = W_f y[t-1]``, where ``y`` is
      produced by ``top`` (a module applied to the layer's spikes, e.g. the next layer).

    Proximal and feedback context depend on the previous step, so those layers step through time.
    """

    def __init__(self, n_in: int, n: int, context: str | tuple[str, ...] = "distal", n_context: int | None = None,
                 top: nn.Module | None = None, n_top: int | None = None, modulation: str = "kay_phillips",
                 **neuron_kwargs) -> None:
        super().__init__()
        sources = (context,) if isinstance(context, str) else tuple(context)
        for s in sources:
            if s not in CONTEXTS:
                raise ConfigError(f"context must be 'distal', 'proximal' or 'feedback' (or a tuple of them), got {s!r}")
        if not sources:
            raise ConfigError("context needs at least one source: 'distal', 'proximal' or 'feedback'")
        self.sources, self.n = sources, n
        self.ff = nn.Linear(n_in, n)
        if "distal" in sources:
            if n_context is None:
                raise ConfigError("distal context needs n_context= (the size of the other stream)")
            self.distal = nn.Linear(n_context, n)
        if "proximal" in sources:
            self.proximal = nn.Linear(n, n, bias=False)
        if "feedback" in sources:
            if top is None or n_top is None:
                raise ConfigError("feedback context needs top= (the higher layer) and n_top= (its output size)")
            self.top = top
            self.feedback = nn.Linear(n_top, n, bias=False)
        self.neuron = TwoPointLIF(modulation, **neuron_kwargs)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        r = self.ff(x)
        c = r.new_zeros(r.shape)
        if "distal" in self.sources:
            if z is None:
                raise ShapeError("a distal-context layer needs the other stream: call layer(x, z)")
            if z.shape[:2] != x.shape[:2]:
                raise ShapeError(f"the other stream {tuple(z.shape)} must have the same [T, B] as the input "
                                 f"{tuple(x.shape)}")
            c = c + self.distal(z)
        if "proximal" not in self.sources and "feedback" not in self.sources:
            return self.neuron(r, c)
        s, fb, state, out = r.new_zeros(r.shape[1:]), None, None, []
        w_lat = None
        if "proximal" in self.sources:
            w = self.proximal.weight
            w_lat = w - torch.diag(torch.diag(w))  # no self-context
        for t in range(r.shape[0]):
            ct = c[t]
            if w_lat is not None:
                ct = ct + s @ w_lat.t()
            if fb is not None:
                ct = ct + self.feedback(fb)
            if state is None:
                s, state = self.neuron.step(r[t], ct)
            else:  # the state the neuron itself returned: no need to check it again
                s, state = self.neuron._step(r[t], ct, state)
            if "feedback" in self.sources:
                fb = self.top(s.unsqueeze(0))[0]
            out.append(s)
        return torch.stack(out)
