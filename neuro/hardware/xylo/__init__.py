"""SynSense Xylo: the one import path for the Xylo target.

* :mod:`~neuro.hardware.xylo.network`: the integer network, the core's limits, the deployment file;
* :mod:`~neuro.hardware.xylo.simulator`: the batched simulator, bit-exact with ``xylosim``;
* :mod:`~neuro.hardware.xylo.quantize`: float model to Xylo's integer model, with a report;
* :mod:`~neuro.hardware.xylo.evaluate`: run a float model as Xylo would and compare.
"""

from neuro.hardware.xylo.evaluate import evaluate_xylo
from neuro.hardware.xylo.network import XYLO_AUDIO3, XyloNetwork, XyloSpec, resource_problems
from neuro.hardware.xylo.quantize import PopulationReport, XyloReport, dash_for, quantize
from neuro.hardware.xylo.simulator import XyloResult, run_xylosim, simulate, xylosim_available, xylosim_layer

__all__ = ["XYLO_AUDIO3", "PopulationReport", "XyloNetwork", "XyloReport", "XyloResult", "XyloSpec", "dash_for",
           "evaluate_xylo", "quantize", "resource_problems", "run_xylosim", "simulate", "xylosim_available",
           "xylosim_layer"]
