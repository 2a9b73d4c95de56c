"""Checked option values for the commands' ``arg(..., type=...)``.

Each takes the string from the command line and returns the value or raises
:class:`argparse.ArgumentTypeError`; argparse turns that into a usage error naming the option
(``argument --epochs: must be a positive integer, got '0'``).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable

__all__ = [
    "int_in", "nonnegative_float", "nonnegative_int", "output_dir", "output_file", "positive_float", "positive_int",
]

def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None


def _float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {s!r}")
    return v


def positive_int(s: str) -> int:
    """An integer >= 1 (epochs, batch size, layer widths, time steps)."""
    v = _int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s!r}")
    return v


def nonnegative_int(s: str) -> int:
    """An integer >= 0 (seeds, delays)."""
    v = _int(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {s!r}")
    return v


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """A type accepting the integers ``lo..hi`` (inclusive)."""

    def check(s: str) -> int:
        v = _int(s)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo} to {hi}, got {s!r}")
        return v

    check.__name__ = f"int_in_{lo}_{hi}"
    return check


def positive_float(s: str) -> float:
    """A finite number > 0 (time steps in seconds, widths)."""
    v = _float(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {s!r}")
    return v


def nonnegative_float(s: str) -> float:
    """A finite number >= 0 (regularization strengths)."""
    v = _float(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {s!r}")
    return v


def output_file(s: str) -> str:
    """A file path to write: its folder must exist and be writable, and it must not be a folder."""
    path = os.path.abspath(s)
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{s!r} is a folder; give a file name")
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"folder {os.path.dirname(s) or parent!r} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"folder {os.path.dirname(s) or parent!r} is not writable")
    return s


def output_dir(s: str) -> str:
    """A folder to write into (created if missing): it, or the nearest existing folder above it, must be writable."""
    path = os.path.abspath(s)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{path!r} is a file, not a folder")
    if not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"folder {path!r} is not writable")
    return s
