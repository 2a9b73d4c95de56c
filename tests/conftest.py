"""Shared fixtures: the real-data folder (skips when absent), seeding, random Loihi networks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from neuro.config import find_shared_data

if TYPE_CHECKING:
    from neuro.hardware.loihi import LoihiNetwork


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real recordings (``$NEURO_DATA_DIR`` or ``../shared/data``); skip if absent."""
    root = find_shared_data()
    if root is None:
        pytest.skip("real data folder not found: set NEURO_DATA_DIR to the shared data folder")
    return root


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def random_network():
    """``random_network(sizes, rng, max_delay=0, extremes=False, graded_bits=0, recurrent=False)``: a random
    quantized Loihi network (see :func:`_random_network`)."""
    return _random_network


def _random_network(
    sizes: list[int],
    rng: np.random.Generator,
    max_delay: int = 0,
    extremes: bool = False,
    graded_bits: int = 0,
    recurrent: bool = False,
) -> LoihiNetwork:
    """A random network for testing and benchmarks: mixed-sign weights (sometimes beyond 8 bits, to
    exercise clipping), delays up to ``max_delay``, per-neuron biases and decays (``extremes``
    draws decays from ``{-1/0, 4095, 4096}`` and large biases/exponents too).  ``recurrent`` gives
    every layer a recurrent matrix (see :func:`_random_recurrent_weights`) with delays up to ``max_delay``."""
    from neuro.hardware.loihi import LoihiLayer, LoihiNetwork

    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.integers(-300, 301, size=(n_out, n_in))
        w[rng.random(w.shape) < 0.2] = 0
        if extremes and k == 0:
            w = np.abs(w)  # exercise the excitatory sign mode
        du_choices = [-1, 0, 4095] if extremes else list(rng.integers(0, 4096, 3))
        dv_choices = [0, 4096, 4095] if extremes else list(rng.integers(0, 4097, 3))
        fan = max(1, n_in)
        layers.append(LoihiLayer(
            weights=w,
            delays=rng.integers(0, max_delay + 1, size=w.shape) if max_delay else None,
            du=int(rng.choice(du_choices)), dv=int(rng.choice(dv_choices)),
            vth=int(rng.integers(1, 40 * int(math.sqrt(fan)) + 2)) if not extremes else int(rng.choice([0, 1, 500])),
            bias_mant=rng.integers(-4096 if extremes else -200, 4096 if extremes else 200, n_out),
            bias_exp=rng.integers(0, 8 if extremes else 3, n_out),
            weight_exp=int(rng.integers(-2, 3)),
            num_weight_bits=int(rng.choice([8, 8, 7, 6])),
            num_message_bits=graded_bits if k == 0 else 0,
            name=f"random{k}",
            **(_random_rec(n_out, rng, max_delay) if recurrent else {}),
        ))
    return LoihiNetwork(layers)


def _random_recurrent_weights(n: int, rng: np.random.Generator, frac_exc: float = 0.8, p: float = 0.2,
                             scale: int = 120) -> np.ndarray:
    """Sparse recurrent integer weights ``[post, pre]`` with E/I signs by presynaptic neuron (no self loops)."""
    exc = rng.random(n) < frac_exc
    w = rng.integers(1, scale + 1, (n, n)) * (rng.random((n, n)) < p)
    w[:, ~exc] *= -2  # fewer, stronger inhibitory neurons
    np.fill_diagonal(w, 0)
    return w


def _random_rec(n: int, rng: np.random.Generator, max_delay: int) -> dict:
    return {"rec_weights": _random_recurrent_weights(n, rng),
            "rec_delays": rng.integers(0, max_delay + 1, (n, n)) if max_delay else None,
            "rec_weight_exp": int(rng.integers(-1, 2)), "rec_num_weight_bits": int(rng.choice([8, 8, 7]))}
