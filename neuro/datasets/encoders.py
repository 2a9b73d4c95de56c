"""Audio encoders by name: the settings a checkpoint records (``kind`` and arguments) and the encoder they build."""

from __future__ import annotations

import inspect

from neuro.datasets.audio import CochleaEncoder
from neuro.datasets.inner_ear import InnerEarEncoder

#: the encoders :func:`make_encoder` builds, by the ``kind`` recorded in their settings
ENCODER_KINDS = ("cochlea", "inner-ear")


def _encoder_class(kind: str):
    if kind == "cochlea":
        return CochleaEncoder
    if kind == "inner-ear":
        return InnerEarEncoder
    raise ValueError(f"unknown encoder kind {kind!r}; expected one of {', '.join(ENCODER_KINDS)}")


def encoder_defaults(kind: str = "cochlea") -> dict:
    """Every argument of the ``kind`` encoder with its default (``kind`` included, except for the cochlea
    filterbank, whose recorded settings predate the key)."""
    params = inspect.signature(_encoder_class(kind).__init__).parameters
    out = {k: p.default for k, p in params.items() if k != "self"}
    return out if kind == "cochlea" else {"kind": kind} | out


def make_encoder(settings: dict):
    """The encoder that ``settings`` describe (as :func:`encoder_defaults` lists them; no ``kind``: the
    cochlea filterbank)."""
    settings = dict(settings)
    kind = settings.pop("kind", "cochlea")
    return _encoder_class(kind)(**settings)
