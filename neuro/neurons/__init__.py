"""Neuron dynamics over time and their surrogate gradients."""

from neuro.core.checks import set_checks
from neuro.core.surrogate import SURROGATES, spike
from neuro.neurons.base import SpikingNeuron
from neuro.neurons.cuba import CubaLI, CubaLIF
from neuro.neurons.lif import ALIF, IF, LI, LIF
from neuro.neurons.multispike import MultiSpikeCubaLIF
from neuro.neurons.twopoint import TwoPointLIF, TwoPointRate

__all__ = ["ALIF", "IF", "LI", "LIF", "CubaLI", "CubaLIF", "MultiSpikeCubaLIF", "SpikingNeuron", "SURROGATES",
           "set_checks", "spike", "TwoPointLIF", "TwoPointRate"]
