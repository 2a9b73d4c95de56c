"""``neuro bench delays``: the SHD delay model, neuro vs the same model built from dcls + SpikingJelly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from neuro.bench.timing import median, time_it
from neuro.errors import ConfigError
from neuro.models.delay_snn import DelaySNN, softmax_sum_readout


class ReferenceDelaySNN(nn.Module):
    """The SNN-delays model written with DCLS ``Dcls1d`` and SpikingJelly layers (as its authors do)."""

    def __init__(self, ours: DelaySNN) -> None:
        super().__init__()
        from DCLS.construct.modules import Dcls1d
        from spikingjelly.activation_based import layer, neuron, surrogate

        self.K = ours.max_delay + 1
        self.right = ours.delay_layers()[0].right_pad
        mods: list[nn.Module] = []
        for m in ours.net:
            name = type(m).__name__
            if name == "DelayedLinear":
                d = Dcls1d(m.in_features, m.out_features, kernel_count=1, dilated_kernel_size=self.K, bias=False,
                           version="gauss")
                with torch.no_grad():
                    d.weight.copy_(m.weight.detach().unsqueeze(-1))
                    d.P.copy_(((self.K - 1) // 2 - m.delay.detach()).reshape(d.P.shape))
                    d.SIG.fill_(m.sigma - 0.27)
                mods.append(d)
            elif name == "SeqBatchNorm":
                bn = layer.BatchNorm1d(m.num_features, step_mode="m")
                bn.load_state_dict(m.bn.state_dict())
                mods.append(bn)
            elif name == "LIF":
                mods.append(neuron.LIFNode(tau=1 / (1 - float(m.decays()[0])), decay_input=False, v_threshold=1.0,
                                           surrogate_function=surrogate.ATan(alpha=m.alpha), detach_reset=True,
                                           step_mode="m"))
            elif name == "SeqDropout":
                mods.append(layer.Dropout(m.p, step_mode="m"))
            elif name == "LI":
                mods.append(neuron.LIFNode(tau=1 / (1 - float(m.decays()[0])), decay_input=False, v_threshold=1e9,
                                           surrogate_function=surrogate.ATan(alpha=5.0), detach_reset=True,
                                           step_mode="m", store_v_seq=True))
        self.mods = nn.ModuleList(mods)

    def clamp_positions(self) -> None:
        """SNN-delays' clamp of the kernel positions to the kernel after each optimizer step."""
        with torch.no_grad():
            for m in self.mods:
                if type(m).__name__ == "Dcls1d":
                    m.P.clamp_(-(self.K // 2), self.K // 2)

    def set_eval_delays(self) -> None:
        """What SNN-delays does for evaluation: 'max' kernels with SIG = 0 and rounded positions."""
        for m in self.mods:
            if type(m).__name__ == "Dcls1d":
                m.version = m.DCK.version = "max"
                with torch.no_grad():
                    m.SIG.zero_()
                    m.P.round_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        for m in self.mods:
            if type(m).__name__ == "Dcls1d":
                x = m(F.pad(x.permute(1, 2, 0), (self.K - 1, self.right))).permute(2, 0, 1)
            elif getattr(m, "v_threshold", 0) == 1e9:
                m(x)
                x = m.v_seq
            else:
                x = m(x)
        return x


def _inputs(B: int, T: int, n_in: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # SHD-like binned counts: sparse, small integers
    x = torch.poisson(torch.full((T, B, n_in), 0.15), generator=g)
    return x, torch.randint(0, 20, (B,), generator=g)


def run_delay_bench(B: int = 64, T: int = 100, sigma: float = 0.5, repeat: int = 3,
                    device: str = "cpu", flush_denormal: bool = False) -> dict[str, Any]:
    """Time one training step and one evaluation pass of both models on ``device`` (same inputs).

    ``flush_denormal`` runs both with subnormal floats flushed to zero: the dense Gaussian kernels'
    far tails are subnormal, which slows x86 CPUs unless flushed (neuro's kernels zero them).
    """
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("bench delays --device cuda needs a CUDA GPU; none is visible (run with --device cpu)")
    # full float32 on both sides: TF32 convolutions would make the outputs differ (spikes flip)
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    flushed = torch.set_flush_denormal(flush_denormal) and flush_denormal
    if flush_denormal and not flushed:
        raise ConfigError("--flush-denormal: this CPU cannot flush subnormal floats (needs SSE3); run without it")
    try:
        r = _run(B, T, sigma, repeat, dev)
        r["config"]["flush_denormal"] = flushed
        return r
    finally:
        torch.set_flush_denormal(False)
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def _run(B: int, T: int, sigma: float, repeat: int, dev: torch.device) -> dict[str, Any]:
    torch.manual_seed(0)
    ours = DelaySNN()
    ours.set_sigma(sigma)
    ref = ReferenceDelaySNN(ours)
    ours.to(dev)
    ref.to(dev)
    x, y = _inputs(B, T, 140)
    x, y = x.to(dev), y.to(dev)

    # outputs compared without dropout (the masks are drawn differently)
    for m in (ours, ref):
        for mod in m.modules():
            if "Dropout" in type(mod).__name__:
                mod.p = 0.0
    ours.train()
    ref.train()
    with torch.no_grad():
        diff_train = (ours(x) - ref(x)).abs().max().item()
    for m in (ours, ref):
        for mod in m.modules():
            if "Dropout" in type(mod).__name__:
                mod.p = 0.4

    def step(model: nn.Module, opts: list[torch.optim.Optimizer], after: Callable[[], None]):
        def go() -> None:
            for o in opts:
                o.zero_grad()
            out = model(x)
            loss = F.cross_entropy(softmax_sum_readout(out), y)
            loss.backward()
            for o in opts:
                o.step()
            after()  # keep delay positions in range, as both training loops do
        return go

    w, p = ours.param_groups()
    ours_opt = [torch.optim.Adam(w, lr=1e-3), torch.optim.Adam(p, lr=0.1)]
    ref_w = [q for n, q in ref.named_parameters() if not n.endswith(".P") and not n.endswith(".SIG")]
    ref_p = [q for n, q in ref.named_parameters() if n.endswith(".P")]
    ref_opt = [torch.optim.Adam(ref_w, lr=1e-3), torch.optim.Adam(ref_p, lr=0.1)]
    t_ours = median(time_it(step(ours, ours_opt, ours.after_step), repeat=repeat))
    t_ref = median(time_it(step(ref, ref_opt, ref.clamp_positions), repeat=repeat))

    # evaluation: integer delays, one tap per synapse
    ref2 = ReferenceDelaySNN(ours).to(dev)
    ref2.set_eval_delays()
    ours.eval()
    ref2.eval()
    with torch.no_grad():
        diff_eval = (ours(x) - ref2(x)).abs().max().item()
        e_ours = median(time_it(lambda: ours(x), repeat=repeat))
        e_ref = median(time_it(lambda: ref2(x), repeat=repeat))
    return {
        "config": {"B": B, "T": T, "sigma": sigma, "model": "140-256-256-20, max_delay 24", "device": dev.type},
        "train_step_s": {"neuro": t_ours, "dcls+spikingjelly": t_ref},
        "eval_s": {"neuro": e_ours, "dcls+spikingjelly": e_ref},
        "train_speedup": t_ref / t_ours,
        "eval_speedup": e_ref / e_ours,
        "max_abs_diff": max(diff_train, diff_eval),
        "max_abs_diff_train_forward": diff_train,
        "max_abs_diff_eval_forward": diff_eval,
    }
