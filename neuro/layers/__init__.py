"""Synapses and helpers over time (time-major ``[T, B, ...]``)."""

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
