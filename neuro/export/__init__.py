"""Interchange: NIR graphs out (:mod:`neuro.export.nir`) and in (:mod:`neuro.export.nir_import`).

The Loihi deployment-file writer and evaluation live with their target in :mod:`neuro.hardware.loihi`;
they are also importable from here.
"""

from neuro.export.nir import to_nir, write_nir
from neuro.export.nir_import import from_nir, nir_float_layers
from neuro.hardware.loihi import evaluate_loihi, export_loihi, load_loihi, quantize

__all__ = ["evaluate_loihi", "export_loihi", "from_nir", "load_loihi", "nir_float_layers", "quantize", "to_nir",
           "write_nir"]
