"""Shared pytest fixtures."""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("SPDNAS_ROOT", str(ROOT))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def shared_data():
    """Path of the real data folder (``$SPDNAS_DATA`` or ../shared/data); skips when absent."""
    from spdnas.core.params import shared_data_root

    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"real data folder not found at {root} (set SPDNAS_DATA)")
    return root
