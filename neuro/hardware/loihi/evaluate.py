"""Running a float model the way Loihi would: quantize, simulate in fixed point, realign, dequantize.

Loihi synapses deliver one step late (and ``d`` more through a delay), so layer ``l``'s
output at Loihi step ``t + l + 1`` is neuro's output at step ``t`` (:func:`evaluate_loihi` pads the
input and realigns).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError, DTypeError, ShapeError
from neuro.hardware.loihi.network import LoihiNetwork
from neuro.hardware.loihi.quantize import QuantReport, quantize
from neuro.hardware.loihi.simulator import simulate


def model_padding(model: nn.Module) -> int:
    """Zero steps a neuro model appends to its input (the ``right_pad`` of its delayed layers)."""
    return sum(int(getattr(m, "right_pad", 0)) for m in model.modules())


def graded_message_bits(x: torch.Tensor | np.ndarray) -> int:
    """0 when ``x`` holds binary spikes (only 0 and 1), else the payload width its graded values
    (spike counts) need on Loihi: at least 8 bits, more for counts above 255."""
    t = torch.as_tensor(x)
    if t.numel() == 0 or bool(((t == 0) | (t == 1)).all()):
        return 0
    return max(8, int(t.abs().max()).bit_length())


def evaluate_loihi(
    model: nn.Module | LoihiNetwork,
    inputs: torch.Tensor,
    *,
    clip: bool = False,
    device: str | torch.device | None = None,
    num_message_bits: int | None = None,
    **quantize_options: Any,
) -> dict[str, Any]:
    """Run a model the way Loihi would: quantize, simulate in fixed point, realign and dequantize.

    ``inputs`` are ``[T, B, n_in]``: binary spikes (0/1) or graded whole-number payloads such as
    spike counts per time bin.  ``num_message_bits`` is the payload width of the first layer's
    input messages: ``None`` (default) detects it from ``inputs`` (0 for binary spikes, else
    :func:`graded_message_bits`); ``0`` declares binary spikes, and then graded inputs are refused
    (Loihi would read every non-zero count as one spike); a positive width is used as given.
    A quantized :class:`LoihiNetwork` brings its own width: graded inputs need
    ``layers[0].num_message_bits > 0`` (``quantize(..., num_message_bits=8)``).

    The input is padded by the model's own padding and by the synapses' pipeline latency (one
    step per layer), and the output is realigned with neuro's timeline.  Returns ``{"output":
    [T', B, n_out] float`` (the readout membrane in float units for a non-spiking last layer, else
    its spikes), ``"spikes"``: per-layer spike counts, ``"num_message_bits"``, ``"network"`` and
    ``"report"``}; ``T'`` is the float model's output length.  Extra keyword arguments go to
    :func:`quantize` (e.g. ``weight_exp=0`` for more voltage headroom).

    The float model pads each delayed layer's input separately; here the input is padded once
    by the total, so activity during the padding can differ slightly (documented, not hidden).
    """
    x = torch.as_tensor(inputs)
    if x.dim() != 3:
        raise ShapeError(f"inputs must be [T, B, n_in] (spikes or counts), got shape {tuple(x.shape)}")
    if x.is_floating_point() and not (torch.isfinite(x).all() and torch.equal(x, x.trunc())):
        raise DTypeError("inputs must be spikes (0/1) or whole-number counts; got fractional, NaN or inf values")
    graded = graded_message_bits(x)
    fix = ("leave num_message_bits unset to detect graded input (or pass num_message_bits=8), or binarize "
           "the input yourself with (x > 0)")
    if isinstance(model, LoihiNetwork):
        net, report = model, QuantReport([])
        bits = net.layers[0].num_message_bits
        if graded and not bits:
            raise ConfigError("inputs hold graded values (counts up to "
                              f"{int(x.abs().max())}) but the network's first layer reads binary spikes "
                              "(num_message_bits=0); quantize it with num_message_bits=8, or binarize the input "
                              "with (x > 0)")
    else:
        bits = graded if num_message_bits is None else int(num_message_bits)
        if graded and not bits:
            raise ConfigError(f"inputs hold graded values (counts up to {int(x.abs().max())}) but "
                              f"num_message_bits=0 reads every non-zero value as one spike; {fix}")
        net, report = quantize(model, clip=clip, num_message_bits=bits, **quantize_options)
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
    return {"output": out.float(), "spikes": [int(s.sum()) for s in r.spikes], "num_message_bits": bits,
            "network": net, "report": report}
