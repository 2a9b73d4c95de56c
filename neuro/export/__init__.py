"""Interchange: NIR graphs out and in (:mod:`neuro.export.nir`).

The Loihi deployment-file writer and evaluation live with their target in :mod:`neuro.hardware.loihi`;
they are also importable from here.
"""

from neuro.export.nir import from_nir, nir_float_layers, to_nir, write_nir
from neuro.hardware.loihi import evaluate_loihi, export_loihi, load_loihi, quantize

__all__ = ["evaluate_loihi", "export_loihi", "from_nir", "load_loihi", "nir_float_layers", "quantize", "to_nir",
           "write_nir"]
