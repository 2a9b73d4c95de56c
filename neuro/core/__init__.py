"""The contracts every other layer builds on: neuron specs and states, surrogate gradients, checks.

Nothing here computes a network: :mod:`neuro.core.spec` says what a neuron kernel must compute,
:mod:`neuro.core.twopoint` the same for two-point neurons, :mod:`neuro.core.surrogate` the
surrogate gradients, :mod:`neuro.core.checks` the NaN/inf input checks.
"""
