"""Hebbian learning based orthogonal projection (HLOP; Xiao et al., ICLR 2024).

Each protected layer gets a group of *subspace neurons* ``y`` joined to the layer's presynaptic
neurons ``x`` by lateral weights ``H`` (``x -> y``) and ``-H^T`` (``y -> x``):

* ``y = H x`` (the subspace neurons integrate the presynaptic activity trace),
* ``x^- = -H^T y`` (their feedback to the presynaptic side),
* Hebbian + anti-Hebbian learning ``dH = y x^T + y (x^-)^T = y x^T - y y^T H``, which is Oja's
  subspace rule: the rows of ``H`` converge to an orthonormal basis of the principal subspace of
  ``E[x x^T]``.

Once a task is learned its neurons are frozen, and the trace that drives every later weight
update is ``x + x^- = (I - H^T H) x``: the update ``dW = delta (x + x^-)^T`` has no component in
the old tasks' input subspace, so the outputs on old inputs do not move.  New neurons added for a
new task learn with ``y`` and ``x^-`` computed over *all* neurons (old and new), so they take up
the residual subspace the old ones do not span.

Layers: linear layers use their input vector as ``x``; convolutions use the unfolded input
patches (``C_in * k_h * k_w`` features, one row per output position), for which projecting every
patch equals projecting the reshaped weight gradient ``g (I - H^T H)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neuro.errors import ConfigError, ShapeError


def _conv_of(layer: nn.Module) -> nn.Conv2d | None:
    return layer if isinstance(layer, nn.Conv2d) else None


def input_dim(layer: nn.Module) -> int:
    """The presynaptic dimension HLOP works in: ``in_features`` or ``C_in * k_h * k_w``."""
    if isinstance(layer, nn.Linear):
        return layer.in_features
    conv = _conv_of(layer)
    if conv is not None:
        if conv.groups != 1:
            raise ConfigError("HLOP supports convolutions with groups=1 only")
        return conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    raise ConfigError(f"HLOP protects nn.Linear / nn.Conv2d layers (SeqLinear, SeqConv2d), got {type(layer).__name__}")


def unfold_patches(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Input patches of ``conv`` as rows: ``[B, C, H, W] -> [B * L, C * k_h * k_w]``."""
    if x.dim() != 4 or x.shape[1] != conv.in_channels:
        raise ShapeError(f"conv patches need [B, {conv.in_channels}, H, W], got {tuple(x.shape)}")
    if isinstance(conv.padding, str):
        raise ConfigError("unfold_patches needs numeric conv padding, not padding='same'/'valid'")
    cols = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def layer_trace(layer: nn.Module, x: torch.Tensor, max_rows: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Presynaptic activity trace of ``layer`` for input ``x`` as rows ``[n, input_dim]``.

    ``x`` is the layer's input, time-major ``[T, B, ...]`` (averaged over time: the rate trace of
    a spiking input) or already a trace ``[B, ...]``.  Convolution inputs are unfolded into
    patches; ``max_rows`` keeps a random subset of rows to bound the cost of Hebbian updates.
    """
    conv = _conv_of(layer)
    n = input_dim(layer)
    feat = 1 if conv is None else 3
    if x.dim() == feat + 2:
        x = x.mean(0)
    if x.dim() != feat + 1:
        raise ShapeError(f"{type(layer).__name__} trace expects [T, B, ...] or [B, ...] input, got {tuple(x.shape)}")
    rows = x if conv is None else unfold_patches(x, conv)
    if rows.shape[-1] != n:
        raise ShapeError(f"{type(layer).__name__} expects {n} presynaptic features, got {rows.shape[-1]}")
    if max_rows is not None and rows.shape[0] > max_rows:
        idx = torch.randperm(rows.shape[0], generator=generator, device=rows.device)[:max_rows]
        rows = rows[idx]
    return rows.detach()


def project_out(x: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``x (I - B^T B)`` for rows ``x [..., N]`` and a basis ``B [M, N]`` (rows ~ orthonormal)."""
    if basis.shape[0] == 0:
        return x
    if x.shape[-1] != basis.shape[1]:
        raise ShapeError(f"cannot project {x.shape[-1]}-d vectors with a {basis.shape[1]}-d basis")
    return x - (x @ basis.T) @ basis


def project_weight_grad(grad: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Project a linear ``[out, in]`` or conv ``[out, C, kh, kw]`` weight gradient off ``basis``.

    Equal to computing the gradient from projected presynaptic inputs (or patches) at every time
    step, because the weight gradient is linear in them.
    """
    return project_out(grad.reshape(grad.shape[0], -1), basis).reshape(grad.shape)


class Subspace(nn.Module):
    """Subspace neurons of one layer: lateral weights ``H [M, N]`` learned by Oja's subspace rule.

    Args:
        in_features: presynaptic dimension ``N``.
        lr: Hebbian learning rate (the reference uses 0.001 for raw pixel input, 0.01 otherwise).
        momentum: momentum of the Hebbian updates (``m <- mu m + (1 - mu) dH``).
        clamp: bound on each element of ``dH`` (keeps early, large updates stable).
        spiking_steps: if given, the subspace neurons are spiking: their signed activity ``y`` is
            represented by a spike count over this many steps of high-frequency bursts
            (``round(clip(y, +-scale) / scale * steps) / steps * scale``).
        spike_scale: the activity that saturates a spiking subspace neuron.
    """

    weight: torch.Tensor
    momentum_buffer: torch.Tensor

    def __init__(self, in_features: int, lr: float = 0.01, momentum: float = 0.9, clamp: float = 10.0,
                 spiking_steps: int | None = None, spike_scale: float = 20.0) -> None:
        super().__init__()
        if in_features < 1:
            raise ConfigError(f"in_features must be >= 1, got {in_features}")
        if lr <= 0 or not 0 <= momentum < 1:
            raise ConfigError(f"need lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}")
        if spiking_steps is not None and spiking_steps < 1:
            raise ConfigError(f"spiking_steps must be >= 1, got {spiking_steps}")
        self.in_features, self.lr, self.momentum, self.clamp = int(in_features), float(lr), float(momentum), clamp
        self.spiking_steps, self.spike_scale = spiking_steps, float(spike_scale)
        self.register_buffer("weight", torch.zeros(0, in_features))
        self.register_buffer("momentum_buffer", torch.zeros(0, in_features))
        self.n_fixed = 0

    @property
    def n_neurons(self) -> int:
        return self.weight.shape[0]

    def add_neurons(self, k: int, generator: torch.Generator | None = None) -> None:
        """Add ``k`` plastic subspace neurons (random orthonormal rows); raises if ``M + k > N``."""
        if k < 0:
            raise ConfigError(f"number of new subspace neurons must be >= 0, got {k}")
        if self.n_neurons + k > self.in_features:
            raise ConfigError(
                f"subspace of {self.n_neurons} + {k} neurons exceeds the layer's input dimension "
                f"{self.in_features}; a subspace cannot be larger than the space it lives in (use fewer neurons)"
            )
        if k == 0:
            return
        q = torch.randn(self.in_features, k, generator=generator, dtype=self.weight.dtype)
        q = torch.linalg.qr(q)[0].T.to(self.weight.device)
        self.weight = torch.cat([self.weight, q])
        self.momentum_buffer = torch.cat([self.momentum_buffer, torch.zeros_like(q)])

    def freeze(self) -> None:
        """Fix all current neurons (end of a task): they stop learning and start protecting."""
        self.n_fixed = self.n_neurons

    def fixed_basis(self) -> torch.Tensor:
        """Rows of ``H`` belonging to frozen neurons (the old tasks' subspace)."""
        return self.weight[: self.n_fixed]

    def _spikes(self, y: torch.Tensor) -> torch.Tensor:
        if self.spiking_steps is None:
            return y
        s, n = self.spike_scale, self.spiking_steps
        return torch.round(y.clamp(-s, s) / s * n) / n * s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Subspace-neuron activity ``y = H x`` for traces ``x [B, N]`` (all neurons)."""
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"Subspace expects {self.in_features} presynaptic features, got {x.shape[-1]}")
        return self._spikes(x @ self.weight.T)

    def feedback(self, y: torch.Tensor) -> torch.Tensor:
        """Lateral feedback ``x^- = -H^T y`` onto the presynaptic side."""
        return -(y @ self.weight)

    @torch.no_grad()
    def hebbian_update(self, x: torch.Tensor, iterations: int = 1) -> None:
        """``iterations`` steps of ``dH = E[y x^T + y (x^-)^T]`` on the plastic neurons only."""
        if self.n_neurons == self.n_fixed:
            return
        x = x.reshape(-1, self.in_features).to(self.weight.dtype)
        f = self.n_fixed
        for _ in range(iterations):
            y = self(x)
            dh = y[:, f:].T @ (x + self.feedback(y)) / x.shape[0]
            if self.clamp is not None:
                dh = dh.clamp(-self.clamp, self.clamp)
            m = self.momentum_buffer[f:]
            m.mul_(self.momentum).add_(dh, alpha=1 - self.momentum)
            self.weight[f:] += self.lr * m

    def orthonormality_error(self) -> float:
        """``max |H H^T - I|``: how far the learned rows are from an orthonormal basis."""
        if self.n_neurons == 0:
            return 0.0
        g = self.weight @ self.weight.T
        return float((g - torch.eye(self.n_neurons, dtype=g.dtype, device=g.device)).abs().max())

    def lateral_trace(self, x: torch.Tensor) -> torch.Tensor:
        """The trace after the circuit settles with the frozen neurons: ``x + x^- = (I - H_f^T H_f) x``."""
        return project_out(x, self.fixed_basis())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, neurons={self.n_neurons} ({self.n_fixed} fixed), lr={self.lr}"


class GradientProjection:
    """Projects the weight gradients of ``layers`` off per-layer bases (HLOP's or GPM's memory).

    ``bases()`` returns one basis ``[M, N]`` per layer; hooks on the weights replace each
    gradient ``g`` by ``g (I - B^T B)`` while ``enabled``.  This is the weight-side form of
    projecting every presynaptic input (or conv patch) at every time step, so it serves any
    method whose weight update is ``delta x^T`` summed over steps (BPTT with surrogate gradients).
    """

    def __init__(self, layers: Sequence[nn.Module], bases) -> None:
        self.layers, self.bases, self.enabled = list(layers), bases, True
        for lay in self.layers:
            input_dim(lay)
        self._handles = [lay.weight.register_hook(self._hook(i)) for i, lay in enumerate(self.layers)]

    def _hook(self, i: int):
        def hook(grad: torch.Tensor) -> torch.Tensor:
            if not self.enabled:
                return grad
            b = self.bases()[i]
            return grad if b.shape[0] == 0 else project_weight_grad(grad, b.to(grad.dtype))

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


class HLOP:
    """HLOP for a set of layers: subspace neurons, trace capture, Hebbian learning and projection.

    Per task: :meth:`begin_task` adds ``k`` neurons per layer; during training the layers' inputs
    are captured as traces (forward pre-hooks, time-averaged), :meth:`hebbian_step` runs Oja's rule
    on them, and weight gradients are projected off the frozen subspace (``project="grad"``, the
    BPTT path).  Methods that compute their own updates from presynaptic traces (online learning)
    call :meth:`project_trace` instead.  :meth:`end_task` freezes the neurons.

    Args:
        layers: ``nn.Linear`` / ``nn.Conv2d`` layers (``SeqLinear``, ``SeqConv2d``) to protect.
        lr: Hebbian learning rate, one for all or one per layer.
        iterations: Oja iterations per training batch (the reference uses 5).
        max_rows: at most this many trace rows per update (conv layers give one row per patch).
        project: ``"grad"`` (hooks on weight gradients) or ``"trace"`` (the caller projects traces).
        momentum, spiking_steps: see :class:`Subspace`.
    """

    def __init__(self, layers: Sequence[nn.Module], lr: float | Sequence[float] = 0.01, iterations: int = 5,
                 max_rows: int | None = 2048, project: str = "grad", momentum: float = 0.9,
                 spiking_steps: int | None = None, seed: int = 0) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ConfigError("HLOP needs at least one layer to protect")
        lrs = [lr] * len(self.layers) if isinstance(lr, int | float) else list(lr)
        if len(lrs) != len(self.layers):
            raise ConfigError(f"got {len(lrs)} Hebbian learning rates for {len(self.layers)} layers")
        if project not in ("grad", "trace"):
            raise ConfigError(f"project must be 'grad' or 'trace', got {project!r}")
        self.subspaces = [Subspace(input_dim(lay), lr=r, momentum=momentum, spiking_steps=spiking_steps)
                          for lay, r in zip(self.layers, lrs, strict=True)]
        dev = self.layers[0].weight.device
        for s in self.subspaces:
            s.to(dev)
        self.iterations, self.max_rows = int(iterations), max_rows
        self.generator = torch.Generator().manual_seed(seed)
        self.learning = True  # capture traces and learn the plastic neurons
        self._traces: list[torch.Tensor | None] = [None] * len(self.layers)
        self._pre = [lay.register_forward_pre_hook(self._capture(i)) for i, lay in enumerate(self.layers)]
        self.projection = GradientProjection(self.layers, self.bases) if project == "grad" else None

    def _capture(self, i: int):
        def hook(module: nn.Module, inputs: tuple) -> None:
            if self.learning and module.training and torch.is_grad_enabled():
                self.observe(i, inputs[0])

        return hook

    def observe(self, i: int, x: torch.Tensor) -> None:
        """Record layer ``i``'s presynaptic input (``[T, B, ...]`` or a trace ``[B, ...]``)."""
        self._traces[i] = layer_trace(self.layers[i], x.detach(), self.max_rows, self.generator)

    def bases(self) -> list[torch.Tensor]:
        """The frozen (old-task) subspace of every layer."""
        return [s.fixed_basis() for s in self.subspaces]

    def begin_task(self, neurons: int | Sequence[int]) -> None:
        """Add plastic subspace neurons for a new task (``neurons`` per layer)."""
        ks = [neurons] * len(self.layers) if isinstance(neurons, int) else list(neurons)
        if len(ks) != len(self.layers):
            raise ConfigError(f"got {len(ks)} subspace sizes for {len(self.layers)} layers")
        for s, k in zip(self.subspaces, ks, strict=True):
            s.add_neurons(k, self.generator)

    def hebbian_step(self) -> None:
        """Run Oja's rule on the traces captured since the last call, then forget them."""
        for i, s in enumerate(self.subspaces):
            if self._traces[i] is not None:
                s.hebbian_update(self._traces[i], self.iterations)
            self._traces[i] = None

    def project_trace(self, i: int, trace: torch.Tensor) -> torch.Tensor:
        """Layer ``i``'s presynaptic trace after the lateral circuit: ``(I - H^T H) x`` (frozen H)."""
        lay = self.layers[i]
        if _conv_of(lay) is None:
            return self.subspaces[i].lateral_trace(trace)
        raise ConfigError("project_trace works on linear-layer traces; conv layers use project='grad'")

    def end_task(self) -> None:
        """Freeze the neurons learned on the task that just ended."""
        for s in self.subspaces:
            s.freeze()
        self._traces = [None] * len(self.layers)

    def remove(self) -> None:
        """Detach all hooks from the layers."""
        for h in self._pre:
            h.remove()
        if self.projection is not None:
            self.projection.remove()

    def state_dict(self) -> dict:
        return {"weights": [s.weight.clone() for s in self.subspaces], "n_fixed": [s.n_fixed for s in self.subspaces]}
