"""Hardware targets, one package each (:mod:`neuro.hardware.loihi`), and the float view they start from.

A target quantizes a trained model read once into float layers (:mod:`neuro.hardware.float_layers`,
also what the NIR export folds batch norms with), simulates the chip bit-exactly, writes its
deployment files and bridges to the vendor's own simulator.
"""

from neuro.hardware.float_layers import FloatLayer, float_layers, fold_bn

__all__ = ["FloatLayer", "float_layers", "fold_bn"]
