"""Hardware export: NIR graphs (and their import)."""

from neuro.export.nir import from_nir, read_nir, to_nir, validate_graph, write_nir

__all__ = ["from_nir", "read_nir", "to_nir", "validate_graph", "write_nir"]
