"""Shared fixtures: the public data folder and small generated slides."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from featx.data_folder import data_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


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


@pytest.fixture(scope="session")
def installed_featx(tmp_path_factory) -> Path:
    """featx built as a wheel and installed, not editable, into a fresh virtual environment.

    The environment has no pip and borrows this one's dependencies through a ``.pth`` line, so
    building it is offline and quick; ``.pth`` files of the borrowed folder (such as the editable
    install's finder) are not run, so only the wheel's featx can be imported from it.
    """
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(root / "dist"), str(REPO)],
                   check=True, capture_output=True, cwd=root)
    wheel, = (root / "dist").glob("featx-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, capture_output=True, cwd=root)
    return venv
