"""Exceptions raised for bad input.  Each message names the problem and the fix."""

from __future__ import annotations


class NeuroError(Exception):
    """Base class of neuro's user-facing errors (the CLI prints them without a traceback)."""


class ShapeError(NeuroError, ValueError):
    """A tensor has the wrong rank or shape."""


class DTypeError(NeuroError, TypeError):
    """A tensor has the wrong dtype."""


class ConfigError(NeuroError, ValueError):
    """An unknown name or an option out of range (backend, surrogate, neuron parameter)."""


class DataError(NeuroError, ValueError):
    """A file is corrupt, truncated, of an unknown format, or fails its checksum."""


class DatasetNotFoundError(NeuroError, FileNotFoundError):
    """A dataset is missing and ``download=False``."""


class HardwareLimitError(NeuroError, ValueError):
    """A network does not fit the target hardware (delays, weights, thresholds)."""
