"""Hardware targets, one package each (:mod:`neuro.hardware.loihi`).

A target quantizes a trained float model (read once into float layers, :mod:`neuro.hardware.float_layers`),
simulates the chip bit-exactly, writes its deployment files and bridges to the vendor's own simulator.
"""
