"""Running a float model the way Loihi would: quantize, simulate in fixed point, realign, dequantize.

Loihi synapses deliver one step late (and ``d`` more through a delay), so layer ``l``'s
output at Loihi step ``t + l + 1`` is neuro's output at step ``t`` (:func:`evaluate_loihi` pads the
input and realigns).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuro.errors import ShapeError
from neuro.hardware.loihi.network import LoihiNetwork
from neuro.hardware.loihi.quantize import QuantReport, quantize
from neuro.hardware.loihi.simulator import simulate


def model_padding(model: nn.Module) -> int:
    """Zero steps a neuro model appends to its input (the ``right_pad`` of its delayed layers)."""
    return sum(int(getattr(m, "right_pad", 0)) for m in model.modules())


def evaluate_loihi(
    model: nn.Module | LoihiNetwork,
    inputs: torch.Tensor,
    *,
    clip: bool = False,
    device: str | torch.device | None = None,
    **quantize_options: Any,
) -> dict[str, Any]:
    """Run a model the way Loihi would: quantize, simulate in fixed point, realign and dequantize.

    ``inputs`` are spikes ``[T, B, n_in]`` (0/1).  The input is padded by the model's own padding
    and by the synapses' pipeline latency (one step per layer), and the output is realigned with
    neuro's timeline.  Returns ``{"output": [T', B, n_out] float`` (the readout membrane in float
    units for a non-spiking last layer, else its spikes), ``"spikes"``: per-layer spike counts,
    ``"network"`` and ``"report"``}; ``T'`` is the float model's output length.  Extra keyword
    arguments go to :func:`quantize` (e.g. ``weight_exp=0`` for more voltage headroom).

    The float model pads each delayed layer's input separately; here the input is padded once
    by the total, so activity during the padding can differ slightly (documented, not hidden).
    """
    net, report = quantize(model, clip=clip, **quantize_options) if not isinstance(model, LoihiNetwork) else (
        model, QuantReport([]))
    x = torch.as_tensor(inputs)
    if x.dim() != 3:
        raise ShapeError(f"inputs must be spikes [T, B, n_in], got shape {tuple(x.shape)}")
    if hasattr(model, "pad_input"):
        x = model.pad_input(x)  # the model's fixed readout horizon, as its forward pads
    pad = model_padding(model) if isinstance(model, nn.Module) else 0
    L = len(net.layers)
    T_out = x.shape[0] + pad
    xp = torch.cat([x.to(torch.int64).cpu(), torch.zeros((pad + L, *x.shape[1:]), dtype=torch.int64)])
    r = simulate(net, xp, record=net.layers[-1].readout, device=device)
    last = net.layers[-1]
    if last.readout:
        out = r.v[-1][L:L + T_out].double() / last.state_scale  # type: ignore[index]
    else:
        out = r.spikes[-1][L:L + T_out].double()
    return {"output": out.float(), "spikes": [int(s.sum()) for s in r.spikes], "network": net, "report": report}
