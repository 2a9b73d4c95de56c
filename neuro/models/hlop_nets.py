"""The continual-learning networks of the HLOP experiments: a spiking MLP (permuted MNIST) and a small
spiking CNN (split N-MNIST), both bias-free, with one output head per task when asked.

Both expose ``protected_layers()`` (the layers whose updates HLOP and GPM project);
:class:`SpikingMLP` also trains online through time (``online_backward``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neuro.core.spec import State
from neuro.errors import ConfigError
from neuro.layers import Flatten, SeqConv2d, SeqLinear
from neuro.neurons import LIF


def _lif(tau: float = 2.0) -> LIF:
    # the reference's BPTT setting: tau 2, no input decay, soft reset, detached reset, sigmoid(4)
    return LIF(tau=tau, v_reset=None, decay_input=False, detach_reset=True, surrogate="sigmoid", alpha=4.0)


class _TraceLinear(torch.autograd.Function):
    """``y = x W^T``; the weight gradient uses a presynaptic trace instead of ``x``: ``dW = g^T trace``."""

    @staticmethod
    def forward(ctx, x, trace, weight):
        ctx.save_for_backward(trace, weight)
        return x @ weight.T

    @staticmethod
    def backward(ctx, g):
        trace, weight = ctx.saved_tensors
        return g @ weight, None, g.T @ trace


class SpikingMLP(nn.Module):
    """Bias-free spiking MLP (the HLOP paper's PMNIST net is 784-800-800-10) with a direct input.

    The static input is presented for ``T`` steps; the output is the time-averaged membrane input
    of the last layer.  ``heads > 1`` gives one output layer per task (not projected).
    """

    def __init__(self, sizes: tuple[int, ...] = (784, 800, 800, 10), T: int = 6, tau: float = 2.0,
                 heads: int = 1) -> None:
        super().__init__()
        if len(sizes) < 2 or T < 1 or heads < 1:
            raise ConfigError("SpikingMLP needs >= 2 sizes, T >= 1 and heads >= 1")
        self.sizes, self.T = tuple(sizes), int(T)
        self.hidden = nn.ModuleList(SeqLinear(a, b, bias=False) for a, b in zip(sizes[:-2], sizes[1:-1], strict=True))
        self.neurons = nn.ModuleList(_lif(tau) for _ in self.hidden)
        self.heads = nn.ModuleList(SeqLinear(sizes[-2], sizes[-1], bias=False) for _ in range(heads))
        self.decay = 1.0 - 1.0 / tau

    def protected_layers(self) -> list[nn.Module]:
        return [*self.hidden, *(self.heads if len(self.heads) == 1 else [])]

    def _head(self, head: int | None) -> nn.Module:
        return self.heads[0 if head is None else head]

    def forward(self, x: torch.Tensor, head: int | None = None) -> torch.Tensor:
        h = x.reshape(x.shape[0], -1).unsqueeze(0).expand(self.T, -1, -1)
        for lin, lif in zip(self.hidden, self.neurons, strict=True):
            h = lif(lin(h))
        return self._head(head)(h).mean(0)

    def online_backward(self, x: torch.Tensor, y: torch.Tensor, head: int | None = None, project=None,
                        observe=None) -> float:
        """Online training through time (OTTT-style): no backpropagation through time.

        At every step the loss of that step's output is backpropagated through the layers only
        (membrane states are detached between steps); each weight gradient is the postsynaptic
        error times the presynaptic trace ``a_t = decay * a_{t-1} + s_t``, optionally projected by
        ``project(layer_index, trace)``.  ``observe(layer_index, mean_input)`` receives the
        time-averaged presynaptic activity for Hebbian learning.  Returns the mean loss.
        """
        layers = [*self.hidden, self._head(head)]
        inp = x.reshape(x.shape[0], -1)
        states: list[State | None] = [None] * len(self.hidden)
        traces = [torch.zeros(inp.shape[0], lay.in_features) for lay in layers]
        sums = [torch.zeros_like(tr) for tr in traces]
        total, n_prot = 0.0, len(self.protected_layers())
        for _ in range(self.T):
            h = inp
            for i, lay in enumerate(layers):
                traces[i] = self.decay * traces[i] + h.detach()
                sums[i] += h.detach()
                tr = traces[i] if project is None or i >= n_prot else project(i, traces[i])
                h = _TraceLinear.apply(h, tr, lay.weight)
                if i < len(self.hidden):
                    st = states[i]
                    h, new = self.neurons[i].step(h, None if st is None else State(st.v.detach()))
                    states[i] = new
            loss = F.cross_entropy(h, y) / self.T
            loss.backward()
            total += float(loss.detach())
        if observe is not None:
            for i in range(n_prot):
                observe(i, sums[i] / self.T)
        return total


class SpikingConvNet(nn.Module):
    """Small bias-free spiking CNN for event frames ``[B, T, C, H, W]`` with one head per task.

    conv 5x5/2 -> LIF -> conv 3x3/2 -> LIF -> fc -> LIF -> head; the convolutions and the fc
    layer are protected (HLOP projects conv updates through unfolded input patches).
    """

    def __init__(self, in_shape: tuple[int, int, int] = (2, 34, 34), channels: tuple[int, int] = (16, 32),
                 hidden: int = 128, classes: int = 2, heads: int = 5, tau: float = 2.0) -> None:
        super().__init__()
        c, h, w = in_shape
        self.conv1 = SeqConv2d(c, channels[0], 5, stride=2, padding=2, bias=False)
        self.conv2 = SeqConv2d(channels[0], channels[1], 3, stride=2, padding=1, bias=False)
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        h4, w4 = (h2 + 1) // 2, (w2 + 1) // 2
        self.fc = SeqLinear(channels[1] * h4 * w4, hidden, bias=False)
        self.n1, self.n2, self.n3 = _lif(tau), _lif(tau), _lif(tau)
        self.flatten = Flatten()
        self.heads = nn.ModuleList(SeqLinear(hidden, classes, bias=False) for _ in range(heads))
        # event frames are sparse (a few % of pixels): scale the initial weights so that every
        # layer fires at a few % to ~10 % from the start (the default init leaves it silent)
        for lay, gain in ((self.conv1, 5.0), (self.conv2, 2.5), (self.fc, 2.5)):
            nn.init.normal_(lay.weight, 0.0, gain / lay.weight[0].numel() ** 0.5)

    def protected_layers(self) -> list[nn.Module]:
        return [self.conv1, self.conv2, self.fc]

    def forward(self, x: torch.Tensor, head: int | None = None) -> torch.Tensor:
        s = x.transpose(0, 1)  # [T, B, C, H, W]
        s = self.n2(self.conv2(self.n1(self.conv1(s))))
        s = self.n3(self.fc(self.flatten(s)))
        return self.heads[0 if head is None else head](s).mean(0)
