"""Benchmark helpers shared by the ``neuro bench ...`` commands."""

from neuro.bench.timing import BenchResult, saved_bytes, time_it

__all__ = ["BenchResult", "saved_bytes", "time_it"]
