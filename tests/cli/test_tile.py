"""`featx tile`: a bad slide among several is named and skipped; the others are tiled."""

from __future__ import annotations

from typer.testing import CliRunner

from featx.cli._app import app
from featx.wsi.synthetic import write_synthetic_slide


def test_a_bad_slide_among_several_is_skipped(tmp_path):
    good = write_synthetic_slide(tmp_path / "good.svs", width_px=1024, height_px=768,
                                 slide_mpp=0.5, seed=1).path
    empty = tmp_path / "empty.svs"
    empty.write_bytes(b"")
    out = tmp_path / "tiles"
    result = CliRunner().invoke(app, ["tile", str(empty), str(good), "-o", str(out),
                                      "--tile-px", "64", "--tile-mpp", "2.0"])
    assert result.exit_code == 1, result.output
    assert "empty.svs" in result.output and "empty (0 bytes)" in result.output
    assert "1 of 2 slides could not be read" in result.output
    assert list(out.glob("good.tiles.*")), "the good slide was not tiled"
