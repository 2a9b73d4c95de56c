"""Intel Loihi: the one import path for the Loihi target.

* :mod:`~neuro.hardware.loihi.network`: quantized layers and networks (Lava's integer semantics);
* :mod:`~neuro.hardware.loihi.simulator`: the bit-exact fixed-point simulator;
* :mod:`~neuro.hardware.loihi.quantize`: float model (its float layers) to fixed point, with a report;
* :mod:`~neuro.hardware.loihi.evaluate`: run a float model as Loihi would and compare;
* :mod:`~neuro.hardware.loihi.netx`: deployment files in lava-dl netx's HDF5 layout;
* :mod:`~neuro.hardware.loihi.lava`: the bridge to Lava itself (its own Python 3.10 environment).
"""

from neuro.hardware.loihi.evaluate import evaluate_loihi, graded_message_bits, model_padding
from neuro.hardware.loihi.lava import LavaResult, lava_status, netx_status, run_lava, run_lava_many, setup_lava
from neuro.hardware.loihi.network import (
    EXCITATORY,
    INHIBITORY,
    MAX_DELAY,
    MAX_VTH,
    MIXED,
    SIGN_MODES,
    LoihiLayer,
    LoihiNetwork,
    determine_sign_mode,
    effective_weights,
)
from neuro.hardware.loihi.netx import export_loihi, load_loihi, netx_problems
from neuro.hardware.loihi.quantize import LayerReport, QuantReport, quantize, quantize_layer
from neuro.hardware.loihi.simulator import LoihiResult, cuba_run, lif_update, run_loihi, simulate, synaptic_input

__all__ = [
    "EXCITATORY", "INHIBITORY", "MAX_DELAY", "MAX_VTH", "MIXED", "SIGN_MODES", "LavaResult", "LayerReport",
    "LoihiLayer", "LoihiNetwork", "LoihiResult", "QuantReport", "cuba_run", "determine_sign_mode",
    "effective_weights", "evaluate_loihi", "export_loihi", "graded_message_bits", "lava_status", "lif_update",
    "load_loihi", "model_padding", "netx_problems", "netx_status", "quantize", "quantize_layer", "run_lava",
    "run_lava_many", "run_loihi", "setup_lava", "simulate", "synaptic_input"
]
