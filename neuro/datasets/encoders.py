"""Audio encoders by name: the settings a checkpoint records (``kind`` and arguments) and the encoder they build."""

from __future__ import annotations

import inspect

from neuro.datasets.audio import CochleaEncoder
from neuro.datasets.inner_ear import InnerEarEncoder

#: the encoder class of each ``kind`` a settings dict may record (none recorded: the cochlea filterbank)
_CLASSES = {"cochlea": CochleaEncoder, "inner-ear": InnerEarEncoder}
ENCODER_KINDS = tuple(_CLASSES)


def _encoder_class(kind: str):
    try:
        return _CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown encoder kind {kind!r}; expected one of {', '.join(ENCODER_KINDS)}") from None


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
