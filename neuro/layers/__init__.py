"""Synapses and helpers over time (time-major ``[T, B, ...]``)."""

from neuro.layers.delay import DelayedLinear, delayed_matmul, sigma_schedule
from neuro.layers.time import (
    Flatten,
    Recurrent,
    SeqAvgPool2d,
    SeqBatchNorm,
    SeqConv1d,
    SeqConv2d,
    SeqDropout,
    SeqLinear,
    SeqMaxPool2d,
    SeqSumPool2d,
    SeqWrap,
    check_seq,
    merge_time,
    split_time,
)

__all__ = [
    "DelayedLinear",
    "delayed_matmul",
    "sigma_schedule",
    "Flatten",
    "Recurrent",
    "SeqAvgPool2d",
    "SeqBatchNorm",
    "SeqConv1d",
    "SeqConv2d",
    "SeqDropout",
    "SeqLinear",
    "SeqMaxPool2d",
    "SeqSumPool2d",
    "SeqWrap",
    "check_seq",
    "merge_time",
    "split_time",
]
