"""Interchange: NIR graphs out (:mod:`neuro.export.nir`) and in (:mod:`neuro.export.nir_import`).

:func:`read_nir` reads a ``.nir`` file and checks it (:func:`validate_graph`).  The Loihi
deployment-file writer, its checked reader (:func:`load_loihi`) and evaluation live with their
target in :mod:`neuro.hardware.loihi`; they are also importable from here.
"""

from neuro.export.nir import to_nir, write_nir
from neuro.export.nir_import import from_nir, nir_float_layers, read_nir, validate_graph
from neuro.hardware.loihi import evaluate_loihi, export_loihi, load_loihi, quantize

__all__ = ["evaluate_loihi", "export_loihi", "from_nir", "load_loihi", "nir_float_layers", "quantize", "read_nir",
           "to_nir", "validate_graph", "write_nir"]
