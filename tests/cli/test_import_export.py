"""`featx import` / `featx export` / `featx extractors`: thin commands, one line per problem."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from featx._io import file_sha256
from featx.cli._app import app
from featx.embed.store import read_slide, slide_path
from tests.embed.formats._foreign_files import grid, write_clam, write_trident

runner = CliRunner()
FEATURES = np.random.default_rng(5).normal(size=(12, 4)).astype(np.float32)


def test_import_export_import_round_trip_on_the_command_line(tmp_path):
    (tmp_path / "clam").mkdir()
    write_clam(tmp_path / "clam" / "S1.h5", FEATURES, grid())
    write_clam(tmp_path / "clam" / "S2.h5", FEATURES[::-1].copy(), grid())
    result = runner.invoke(app, ["import", str(tmp_path / "clam"), "-x", "R50", "-o",
                                 str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    assert "2 slides imported as R50 (24 tiles)" in result.output
    result = runner.invoke(app, ["export", str(tmp_path / "store"), "--format", "h5", "-o",
                                 str(tmp_path / "h5")])
    assert result.exit_code == 0 and "2 slides exported" in result.output
    result = runner.invoke(app, ["import", str(tmp_path / "h5" / "R50"), "-x", "R50", "-o",
                                 str(tmp_path / "back")])
    assert result.exit_code == 0, result.output
    for slide in ("S1", "S2"):
        assert file_sha256(slide_path(tmp_path / "back", extractor="R50", slide_id=slide)) == (
            file_sha256(slide_path(tmp_path / "store", extractor="R50", slide_id=slide)))
    np.testing.assert_array_equal(read_slide(tmp_path / "back", "S2", extractor="R50",
                                             as_="numpy"), FEATURES[::-1])


def test_a_failed_file_is_one_line_and_exit_code_1(tmp_path):
    (tmp_path / "src").mkdir()
    write_trident(tmp_path / "src" / "ok.h5", FEATURES, grid())
    (tmp_path / "src" / "bad.h5").write_bytes(b"nope")
    result = runner.invoke(app, ["import", str(tmp_path / "src"), "-x", "UNI", "-o",
                                 str(tmp_path / "store")])
    assert result.exit_code == 1
    assert "1 slides imported as UNI" in result.output and "1 failed" in result.output
    assert "bad.h5" in result.output and "Traceback" not in result.output


def test_missing_source_is_one_clear_line_from_the_real_command(tmp_path):
    run = subprocess.run([sys.executable, "-m", "featx", "import", str(tmp_path / "absent"),
                          "-x", "UNI", "-o", str(tmp_path / "store")], capture_output=True,
                         text=True)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "embedding source" in run.stderr
    assert "Traceback" not in run.stderr


def test_extractors_lists_every_kind():
    result = runner.invoke(app, ["extractors"])
    assert result.exit_code == 0
    for name in ("IMGNET-2048", "FTX-2048", "COLORSTATS", "keras:<Name>", "ResNet50",
                 "EfficientNetB7", "onnx:<file>", "trident, clam, slideflow, table"):
        assert name in result.output
    extract_help = runner.invoke(app, ["extract", "--help"], terminal_width=400).output
    assert "keras:ResNet50" in extract_help and "onnx:" in extract_help
