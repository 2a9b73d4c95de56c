"""Liquid state machines: a fixed random spiking reservoir whose states feed trained readouts.

:class:`LiquidStateMachine` places ``n`` LIF neurons on a 3-D grid (80% excitatory, 20%
inhibitory by default), connects them either at random (probability ``p``) or by distance with
probability ``C * exp(-(D / lam)^2)`` using Maass et al.'s E/I-specific ``C`` (E->E 0.3, E->I 0.2,
I->E 0.4, I->I 0.1, ``lam = 2``), draws weights from a Gaussian, a uniform, or a resistive-memory
model (device conductances with device-to-device variability quantized to a finite number of
levels, used as differential pairs), and rescales the recurrent matrix to a chosen spectral
radius.  Inhibitory neurons' outgoing weights are negative.

The reservoir runs time-major ``[T, B, n_in] -> spikes [T, B, n]``: the input projection is one
matmul over all steps; on CPU the recurrence runs in one fused kernel (one sample per thread, only
the neurons that spiked propagate), elsewhere (or with ``neuron.backend="torch"``) one sparse
product and one LIF step per time step, the reference the kernel is tested against.  :meth:`features`
turns spikes into rates, binned counts or exponential traces.  Nothing here is trained.
The voltage decay is ``1 - 1/tau`` or ``beta`` when given.  The reservoir exports to NIR (one
recurrent subgraph) and quantizes to one recurrent Loihi layer (:func:`neuro.hardware.loihi.quantize`).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError, ShapeError
from neuro.layers import Recurrent
from neuro.models.registry import register_model
from neuro.neurons import LIF

MAASS_C = {("E", "E"): 0.3, ("E", "I"): 0.2, ("I", "E"): 0.4, ("I", "I"): 0.1}

def _kernel():
    """The fused reservoir kernel (numba), loaded on first use; ``None`` when numba cannot run."""
    from neuro.kernels import reservoir_cpu

    return reservoir_cpu.reservoir_scan if reservoir_cpu.available()[0] else None


def grid_positions(n: int) -> np.ndarray:
    """Integer 3-D grid coordinates for ``n`` neurons (the most cubic box that holds them)."""
    side = int(np.ceil(n ** (1 / 3)))
    zz, yy, xx = np.meshgrid(np.arange(side), np.arange(side), np.arange(side), indexing="ij")
    return np.stack([xx.ravel(), yy.ravel(), zz.ravel()], 1)[:n].astype(np.float64)


def spectral_radius_of(w: np.ndarray) -> float:
    """Largest eigenvalue modulus (sparse Arnoldi for large sparse matrices, dense otherwise)."""
    if w.shape[0] > 200:
        import scipy.sparse as sp
        from scipy.sparse.linalg import ArpackNoConvergence, eigs

        try:
            return float(np.abs(eigs(sp.csr_matrix(w), k=1, which="LM", return_eigenvectors=False, tol=1e-6,
                                     maxiter=5000)).max())
        except ArpackNoConvergence:
            pass
    return float(np.max(np.abs(np.linalg.eigvals(w))))


def rram_weights(shape: tuple[int, ...], rng: np.random.Generator, levels: int = 16, g_min: float = 1.0,
                 g_max: float = 10.0, d2d: float = 0.1) -> np.ndarray:
    """Weights from a resistive-memory model: differential conductance pairs ``G+ - G-``.

    Each device is programmed to one of ``levels`` conductances in ``[g_min, g_max]`` (chosen at
    random, as a random-weight reservoir would be) and lands with Gaussian device-to-device
    variability of relative std ``d2d``; the result is normalized to unit std.
    """
    if levels < 2:
        raise ConfigError(f"a resistive-memory model needs at least 2 conductance levels, got {levels}")
    grid = np.linspace(g_min, g_max, levels)
    gp = grid[rng.integers(0, levels, shape)] * (1 + d2d * rng.standard_normal(shape))
    gn = grid[rng.integers(0, levels, shape)] * (1 + d2d * rng.standard_normal(shape))
    w = gp - gn
    return w / (w.std() + 1e-12)


class LiquidStateMachine(nn.Module):
    """A fixed spiking reservoir (see the module docstring)."""

    def __init__(
        self,
        n_in: int,
        n: int = 1000,
        frac_exc: float = 0.8,
        connectivity: Literal["distance", "random"] = "distance",
        p: float = 0.1,
        lam: float = 2.0,
        C: dict[tuple[str, str], float] | None = None,
        p_in: float = 0.1,
        weights: Literal["gaussian", "uniform", "rram"] = "gaussian",
        spectral_radius: float | None = 0.9,
        input_scale: float = 1.0,
        rec_scale: float = 1.0,
        tau: float = 10.0,
        v_threshold: float = 1.0,
        beta: float | None = None,
        rram_levels: int = 16,
        rram_d2d: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 <= frac_exc <= 1.0:
            raise ConfigError(f"frac_exc must be in [0, 1], got {frac_exc}")
        for name, val in (("p", p), ("p_in", p_in)):
            if not 0.0 <= val <= 1.0:
                raise ConfigError(f"connection probability {name} must be in [0, 1], got {val}")
        C = dict(MAASS_C if C is None else C)
        if any(not 0.0 <= c <= 1.0 for c in C.values()):
            raise ConfigError(f"connection constants C must be in [0, 1], got {C}")
        if n < 1 or n_in < 1:
            raise ConfigError(f"population sizes must be positive, got n={n}, n_in={n_in}")
        rng = np.random.default_rng(seed)
        self.n_in, self.n = n_in, n
        n_exc = int(round(frac_exc * n))
        exc = np.zeros(n, bool)
        exc[rng.permutation(n)[:n_exc]] = True
        if connectivity == "distance":
            pos = grid_positions(n)
            d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
            ci = exc.astype(int)  # 1 = E, 0 = I
            table = np.array([[C[("I", "I")], C[("I", "E")]], [C[("E", "I")], C[("E", "E")]]])
            cmat = table[ci[:, None], ci[None, :]]  # [pre, post]
            prob = cmat * np.exp(-d2 / lam**2)
        elif connectivity == "random":
            prob = np.full((n, n), p)
        else:
            raise ConfigError(f"connectivity must be 'distance' or 'random', got {connectivity!r}")
        np.fill_diagonal(prob, 0.0)
        mask = rng.random((n, n)) < prob  # [pre, post]

        def draw(shape: tuple[int, ...]) -> np.ndarray:
            if weights == "gaussian":
                return np.abs(rng.standard_normal(shape))
            if weights == "uniform":
                return rng.random(shape)
            if weights == "rram":
                return np.abs(rram_weights(shape, rng, rram_levels, d2d=rram_d2d))
            raise ConfigError(f"weights must be 'gaussian', 'uniform' or 'rram', got {weights!r}")

        w = draw((n, n)) * mask
        w[~exc] *= -1.0  # inhibitory presynaptic neurons
        if spectral_radius is not None and np.any(w):
            rho = spectral_radius_of(w)
            if rho > 0:
                w *= spectral_radius / rho
        w_in = draw((n_in, n)) * (rng.random((n_in, n)) < p_in)
        w_in *= np.sign(rng.standard_normal((n_in, n)))
        self.register_buffer("w_rec", torch.as_tensor(w.T.copy() * rec_scale, dtype=torch.float32))  # [post, pre]
        self.register_buffer("w_in", torch.as_tensor(w_in.T.copy() * input_scale, dtype=torch.float32))
        self.register_buffer("excitatory", torch.as_tensor(exc))
        # beta (the voltage decay per step) overrides tau (beta = 1 - 1/tau)
        self.neuron = LIF(tau=None if beta is not None else tau, beta=beta, decay_input=False,
                          v_threshold=v_threshold, v_reset=0.0)
        self.connections = int(mask.sum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reservoir spikes ``[T, B, n]`` for input ``[T, B, n_in]``."""
        if x.dim() != 3 or x.shape[-1] != self.n_in:
            raise ShapeError(f"LiquidStateMachine expects [T, B, {self.n_in}], got shape {tuple(x.shape)}")
        drive = x @ self.w_in.t()
        if self._fused(drive):
            return self._run_fused(drive.contiguous())
        s = drive.new_zeros(drive.shape[1:])
        state = None
        out = []
        # the recurrent matrix is sparse (a few percent of pairs connect): one sparse product per step
        with warnings.catch_warnings():  # torch marks CSR support "beta"; the product used here is stable
            warnings.simplefilter("ignore", UserWarning)
            w_rec = self.w_rec.to_sparse_csr() if x.device.type == "cpu" else self.w_rec
        with torch.no_grad():
            for t in range(x.shape[0]):
                rec = (w_rec @ s.t()).t() if w_rec.layout == torch.sparse_csr else s @ w_rec.t()
                s, state = self.neuron.step(drive[t] + rec, state)
                out.append(s)
        return torch.stack(out)

    def as_sequential(self) -> nn.Sequential:
        """The reservoir as the layer chain exporters read: one ``Recurrent`` layer (input projection,
        recurrent matrix and the LIF population), computing what :meth:`forward` computes."""
        rec = Recurrent(self.n_in, self.n, self.neuron, bias=False)
        with torch.no_grad():
            rec.ff.weight.copy_(self.w_in)
            rec.rec.weight.copy_(self.w_rec)
        return nn.Sequential(rec)

    def _fused(self, drive: torch.Tensor) -> bool:
        """Whether the fused CPU kernel applies: float32 on CPU, no forced backend, and the neuron the
        kernel implements (LIF, ``h = beta v + x``, scalar ``beta``, hard reset to 0)."""
        spec = self.neuron.spec()
        return (drive.device.type == "cpu" and drive.dtype == torch.float32 and _kernel() is not None
                and self.neuron.backend in (None, "auto", "cpu") and self.neuron.decays()[0].numel() == 1
                and spec.spiking and spec.hard_reset and spec.v_reset == 0.0
                and not (spec.decay_input or spec.cuba or spec.adaptive))

    def _run_fused(self, drive: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(drive)
        beta = np.float32(self.neuron.decays()[0].item())
        _kernel()(drive.numpy(), *self._outgoing(), beta, np.float32(self.neuron.v_threshold), out.numpy())
        return out

    def _outgoing(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each neuron's outgoing synapses as CSR arrays (row pointers, targets, weights), rebuilt
        only when ``w_rec`` changes (its storage or in-place version)."""
        key = (self.w_rec.data_ptr(), self.w_rec._version, tuple(self.w_rec.shape))
        if getattr(self, "_outgoing_key", None) != key:
            wt = self.w_rec.t().numpy()  # [pre, post]
            pre, post = np.nonzero(wt)  # row-major: grouped by pre, post ascending
            ptr = np.zeros(self.n + 1, np.int64)
            np.cumsum(np.bincount(pre, minlength=self.n), out=ptr[1:])
            self._outgoing_csr = (ptr, post.astype(np.int64), np.ascontiguousarray(wt[pre, post], np.float32))
            self._outgoing_key = key
        return self._outgoing_csr

    @staticmethod
    def features(spikes: torch.Tensor, kind: str = "rates", bins: int = 4, tau: float = 10.0) -> torch.Tensor:
        """``[T, B, n] -> [B, F]``: mean ``rates``, ``counts`` in ``bins`` time bins, or a ``trace``
        (exponentially filtered spikes at the last step, time constant ``tau`` steps)."""
        if kind == "rates":
            return spikes.mean(0)
        if kind == "counts":
            chunks = torch.tensor_split(spikes, bins, dim=0)
            return torch.cat([c.sum(0) for c in chunks], dim=1)
        if kind == "trace":
            T = spikes.shape[0]
            w = torch.exp(-torch.arange(T - 1, -1, -1, dtype=spikes.dtype) / tau)
            return torch.einsum("t,tbn->bn", w, spikes)
        raise ConfigError(f"unknown feature kind {kind!r}; expected rates, counts or trace")

    def synaptic_ops(self, spikes: torch.Tensor, x: torch.Tensor) -> float:
        """Synaptic operations per sample: each reservoir spike times its fan-out, plus input events."""
        fan_out = (self.w_rec != 0).sum(0).float()  # per presynaptic neuron
        fan_in_ops = (x != 0).float().sum((0, 2)) * float((self.w_in != 0).sum() / max(self.n_in, 1))
        rec = (spikes.sum(0) * fan_out).sum(1)
        return float((rec + fan_in_ops).mean())


@register_model("lsm")
def lsm(**config) -> LiquidStateMachine:
    return LiquidStateMachine(**config)
