"""Benchmark helpers shared by the ``neuro bench ...`` commands."""

from neuro.bench.timing import BenchResult, print_table, saved_bytes, time_it

__all__ = ["BenchResult", "print_table", "saved_bytes", "time_it"]
