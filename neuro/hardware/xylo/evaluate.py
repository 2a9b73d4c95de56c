"""Running a float model the way Xylo would: quantize, simulate in integers, realign, dequantize.

Xylo delivers the hidden spikes to the readout at the start of the next step, so the readout's
step ``t + 1`` is the float model's step ``t``: :func:`evaluate_xylo` appends one zero step to the
input and drops the first output step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuro.errors import ShapeError
from neuro.hardware.xylo.network import MAX_INPUT_SPIKES, XyloNetwork
from neuro.hardware.xylo.quantize import XyloReport, quantize
from neuro.hardware.xylo.simulator import _check_input, simulate


def evaluate_xylo(
    model: nn.Module | XyloNetwork,
    inputs: torch.Tensor,
    *,
    clip: bool = False,
    device: str | torch.device | None = None,
    network: XyloNetwork | None = None,
    **quantize_options: Any,
) -> dict[str, Any]:
    """Run ``model`` on ``inputs [T, B, n_in]`` (spike counts) as Xylo would.

    A float model is quantized first (:func:`~neuro.hardware.xylo.quantize.quantize`; keyword
    arguments such as ``readout_max`` go there) unless its quantized ``network`` is given (quantize
    once, evaluate many batches); its ``pad_input`` (a fixed readout horizon) is applied as its
    forward would.  Counts above 15 per step are cut to 15, as on the chip (``"clamped_inputs"``
    counts them).  Returns ``{"output": [T', B, n_out]`` float (the readout membrane in float
    units, or the output spikes), ``"spikes"`` (hidden spikes in total), ``"clamped_inputs"``,
    ``"network"``, ``"report"}``.
    """
    x = torch.as_tensor(inputs)
    if x.dim() != 3:
        raise ShapeError(f"inputs must be [T, B, n_in] spike counts, got shape {tuple(x.shape)}")
    if hasattr(model, "pad_input"):
        x = model.pad_input(x)  # the model's fixed readout horizon, as its forward pads
    if isinstance(model, XyloNetwork) or network is not None:
        net, report = (network if network is not None else model), XyloReport([])
    else:
        net, report = quantize(model, clip=clip, **quantize_options)
    xi = _check_input(x, net.n_in)
    T = xi.shape[0]
    xp = torch.cat([xi.cpu(), torch.zeros((1, *xi.shape[1:]), dtype=torch.int64)])
    r = simulate(net, xp, record=bool(net.meta.get("readout", True)), device=device)
    if net.meta.get("readout", True):
        out = r.v_out[1:T + 1].double() / net.state_scale_out  # type: ignore[index]
    else:
        out = r.out_spikes[1:T + 1].double()
    return {"output": out.float().cpu(), "spikes": int(r.spikes.sum()),
            "clamped_inputs": int((xi > MAX_INPUT_SPIKES).sum()), "network": net, "report": report}
