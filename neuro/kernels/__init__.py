"""Every compiled kernel of the package (numba on CPU, Triton on CUDA) and the torch reference.

Nothing here is imported by ``import neuro``: the neuron backends (:mod:`neuro.backends`), the delay
layers, the reservoir and the Loihi simulator load their kernels when first used.
"""
