"""Shared fixtures: the real-data folder (skips when absent) and seeding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neuro.config import find_shared_data


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
