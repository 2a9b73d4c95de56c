"""Hardware export: NIR graphs (and their import)."""

from neuro.export.nir import from_nir, to_nir, write_nir

__all__ = ["from_nir", "to_nir", "write_nir"]
