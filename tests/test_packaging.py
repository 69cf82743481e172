"""The built wheel is complete, and every dependency declares the floor CI installs and tests.

The demo run from this wheel is in ``tests/cli/test_demo.py``; the floors themselves are
installed and tested by ``.ci/check_floors``.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _wheel(venv: Path) -> Path:
    wheel, = (venv.parent / "dist").glob("featx-*.whl")
    return wheel


def test_wheel_holds_every_module_and_the_package_data(installed_featx: Path) -> None:
    names = set(zipfile.ZipFile(_wheel(installed_featx)).namelist())
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "featx").rglob("*.py")}
    assert sources <= names, f"missing from the wheel: {sorted(sources - names)}"
    # The checkout's data_manifests/ folder becomes the wheel's featx/downloads/manifests/.
    manifests = {f"featx/downloads/manifests/{p.name}"
                 for p in (ROOT / "data_manifests").glob("*.tsv")}
    assert len(manifests) >= 5 and manifests <= names
    gene_sets = {p.relative_to(ROOT).as_posix()
                 for p in (ROOT / "featx" / "targets" / "gene_sets").glob("*.tsv")}
    assert len(gene_sets) == 2 and gene_sets <= names
    assert {"featx/py.typed", "featx/ARCHITECTURE.md"} <= names
    # The slide viewer's OpenSeadragon (from npm) and its licence ship with featx.
    assert {"featx/report/viewer_assets/openseadragon.min.js",
            "featx/report/viewer_assets/OPENSEADRAGON-LICENSE.txt"} <= names
    entry_points, = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(_wheel(installed_featx)).read(entry_points).decode()
    assert "featx = featx.cli:main" in text


def test_installed_featx_is_the_wheel_and_finds_its_manifests(installed_featx: Path,
                                                              tmp_path: Path) -> None:
    code = ("import featx; from featx.downloads import bundled_manifest; "
            "print(featx.__file__); print(bundled_manifest('openslide_testdata'))")
    out = subprocess.run([str(installed_featx / "bin" / "python"), "-c", code], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert Path(out[0]).is_relative_to(installed_featx), "imported the checkout, not the wheel"
    assert Path(out[1]).is_relative_to(installed_featx) and Path(out[1]).is_file()
    help_text = subprocess.run([str(installed_featx / "bin" / "featx"), "--help"], cwd=tmp_path,
                               capture_output=True, text=True, check=True).stdout
    assert "demo" in help_text and "extract" in help_text


def test_data_manifests_is_a_folder_of_regular_files_in_git() -> None:
    listed = subprocess.run(["git", "ls-files", "-s", "data_manifests"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0 or not listed.stdout:
        pytest.skip("not a git checkout")
    rows = [line.split(maxsplit=3) for line in listed.stdout.splitlines()]
    paths = [row[3] for row in rows]
    assert all(row[0] == "100644" for row in rows), rows  # regular files, no link
    assert all(p.startswith("data_manifests/") for p in paths)
    assert {"data_manifests/tcga_luad_slides.tsv", "data_manifests/README.md"} <= set(paths)


def test_every_listed_package_exists_and_every_package_is_listed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "featx").rglob("__init__.py")}
    assert found == listed - {"featx.downloads.manifests"}


@pytest.mark.parametrize("requirement", PYPROJECT["project"]["dependencies"])
def test_every_dependency_has_a_floor(requirement: str) -> None:
    assert re.search(r">=\s*\d", requirement), f"{requirement}: declare the oldest version that works"


def test_ci_installs_and_tests_the_floors() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    assert ".ci/check_floors" in run
    script = (ROOT / ".ci" / "check_floors").read_text()
    assert "--resolution lowest-direct" in script and "pytest" in script
