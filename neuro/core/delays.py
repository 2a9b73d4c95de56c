"""Constants of the learned-delay synapse's Gaussian taps, shared by the layer and its kernels."""

EPS = 1e-7  # added to the Gaussian's normalizer (as the torch kernel and dcls do)
# Taps more than exp(-TAIL) ~ 4e-18 below a synapse's largest tap are set to exactly zero: they are
# far below float32 resolution, and left in they are subnormal numbers, which slow every
# multiplication they enter by an order of magnitude on x86 CPUs.
TAIL = 40.0
