"""Shared fixtures: the public data folder and small generated slides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from featx.data_folder import data_dir  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data folder; the test is skipped when it is absent."""
    root = data_dir()
    if root is None or not root.is_dir():
        pytest.skip("public data absent: set FEATX_DATA_DIR or put the data in ../shared/data")
    return root


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """A folder for files tests keep for humans to look at (screenshots, figures)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
