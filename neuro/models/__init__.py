"""Complete networks, each registered by name so checkpoints can rebuild them.

Importing this package registers every built-in model (their kernels load only when they run).
"""

from neuro.models import conv_snn, twopoint_av, xylo_snn  # noqa: F401 - registers the models
from neuro.models.delay_snn import DelaySNN
from neuro.models.hlop_nets import SpikingConvNet, SpikingMLP
from neuro.models.lsm import LiquidStateMachine
from neuro.models.registry import (
    build_model,
    load_checkpoint,
    read_checkpoint,
    register_model,
    save_atomic,
    save_checkpoint,
)
from neuro.models.xylo_snn import XyloSNN

__all__ = ["DelaySNN", "LiquidStateMachine", "SpikingConvNet", "SpikingMLP", "build_model", "load_checkpoint",
           "read_checkpoint", "register_model", "save_atomic", "save_checkpoint", "XyloSNN"]
