"""Tests of featx.stain.normalize_tiles and the `featx normalize` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from featx.cli._app import app
from featx.stain.macenko import MacenkoNormalizer, macenko_stain_matrix
from featx.stain.normalize_tiles import list_tiles, montage, normalize_folder
from featx.wsi.synthetic import HE_STAIN_MATRIX, TUMOUR_STAIN_MATRIX, Region, write_synthetic_slide
from tests.stain.test_macenko import angle_deg, he_image

runner = CliRunner()


def write_tile_folder(root, n: int = 6):
    """Tumour-stained tiles in two subfolders, one glass tile, one JPEG; returns the folder."""
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for k in range(n):
        tile = he_image(TUMOUR_STAIN_MATRIX, size=48, seed=k)[0]
        Image.fromarray(tile).save(root / ("a" if k % 2 else "b") / f"t{k}.png")
    Image.fromarray(np.full((48, 48, 3), 250, np.uint8)).save(root / "a" / "glass.tif")
    Image.fromarray(he_image(TUMOUR_STAIN_MATRIX, size=48, seed=99)[0]).save(
        root / "b" / "j.jpg", quality=95)
    (root / "notes.txt").write_text("not a tile")
    return root


def test_montage_layout() -> None:
    tiles = [np.full((20, 20, 3), v, np.uint8) for v in (10, 100, 200)]
    image = montage(tiles, tiles[::-1], status=["ok", "faint", "ok"], tile_px=16, columns=2)
    assert image.dtype == np.uint8 and image.ndim == 3
    # two groups (3 tiles, 2 per row), each a before row and an after row
    assert image.shape[0] == 2 * (2 * (16 + 4) + 4)


@pytest.mark.parametrize("mode", ["per_tile", "per_slide"])
def test_normalize_folder(tmp_path, mode: str) -> None:
    folder = write_tile_folder(tmp_path / "tiles")
    target = he_image(HE_STAIN_MATRIX, size=64, seed=50)[0]
    norm = MacenkoNormalizer(mode=mode).fit(target)
    done = normalize_folder(folder, norm, out_dir=tmp_path / "out", montage_tiles=4)
    assert len(done.table) == len(list_tiles(folder)) == 8
    glass = done.table["tile"] == "a/glass.tif"
    assert done.table.loc[glass, "status"].tolist() == ["background"]
    assert (done.table.loc[~glass, "status"] == "ok").all()
    written = sorted((tmp_path / "out" / "tiles").rglob("*.png"))
    assert len(written) == 8
    assert (tmp_path / "out" / "tiles" / "a" / "glass.png").exists()
    # the normalised tiles carry the target's stains, not the tumour stains they had
    out_tiles = np.stack([np.asarray(Image.open(p)) for p in written if "glass" not in p.name])
    recovered = macenko_stain_matrix(out_tiles)
    assert np.all(angle_deg(recovered, HE_STAIN_MATRIX) < 3)
    assert np.any(angle_deg(macenko_stain_matrix(
        np.asarray(Image.open(folder / "b" / "t0.png"))), HE_STAIN_MATRIX) > 5)
    assert Image.open(done.montage_path).size[0] > 4 * 64
    assert pd.read_csv(done.table_path).shape[0] == 8
    assert MacenkoNormalizer.load(done.fit_path).config["params"]["mode"] == mode


def test_cli_normalize_folder(tmp_path) -> None:
    folder = write_tile_folder(tmp_path / "tiles")
    target = tmp_path / "target.png"
    Image.fromarray(he_image(HE_STAIN_MATRIX, size=64, seed=50)[0]).save(target)
    out = tmp_path / "out"
    result = runner.invoke(app, ["normalize", str(folder), "--target", str(target), "-o", str(out),
                                 "--mode", "per_slide", "--montage-tiles", "3"])
    assert result.exit_code == 0, result.output
    assert "8 tiles normalised, 1 flagged" in result.output
    assert (out / "montage.png").exists() and (out / "status.csv").exists()
    assert len(list((out / "tiles").rglob("*.png"))) == 8
    fit = json.loads((out / "stain_fit.json").read_text())
    assert fit["params"]["mode"] == "per_slide" and "stain_matrix_source" in fit

    # the saved fit is reusable as the target; --no-save-tiles writes no tiles
    again = tmp_path / "again"
    result = runner.invoke(app, ["normalize", str(folder), "--target", str(out / "stain_fit.json"),
                                 "-o", str(again), "--no-save-tiles"])
    assert result.exit_code == 0, result.output
    assert not (again / "tiles").exists()
    assert json.loads((again / "stain_fit.json").read_text())["stain_matrix_target"] == \
        fit["stain_matrix_target"]


def test_cli_normalize_slide(tmp_path) -> None:
    slide = write_synthetic_slide(
        tmp_path / "s.svs", width_px=1024, height_px=768, slide_mpp=0.5,
        regions=[Region(x=100, y=100, width=800, height=560, shape="rect", label="tumour")],
    )
    target = tmp_path / "target.png"
    Image.fromarray(he_image(HE_STAIN_MATRIX, size=64, seed=51)[0]).save(target)
    out = tmp_path / "out"
    result = runner.invoke(app, ["normalize", str(slide.path), "-t", str(target), "-o", str(out),
                                 "--mode", "per_slide", "--tile-px", "64", "--tile-mpp", "1.0",
                                 "--save-tiles"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "status.csv")
    assert len(table) > 10 and (table["status"] == "ok").all()
    assert {"x", "y", "output"} <= set(table.columns)
    assert len(list((out / "tiles").glob("s_x*_y*.png"))) == len(table)
    assert (out / "montage.png").exists()


def test_cli_normalize_errors(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    target = tmp_path / "target.png"
    Image.fromarray(he_image(HE_STAIN_MATRIX, size=32, seed=1)[0]).save(target)
    result = runner.invoke(app, ["normalize", str(tmp_path / "empty"), "-t", str(target)])
    assert result.exit_code != 0
    assert "tile images" in str(result.exception)
    result = runner.invoke(app, ["normalize", str(tmp_path), "-t", str(target), "--mode", "bad"])
    assert result.exit_code != 0 and "mode" in str(result.exception)
    result = runner.invoke(app, ["normalize", "--help"])
    assert result.exit_code == 0 and "montage" in result.output


@pytest.mark.realdata
def test_cli_normalize_real_slide(tmp_path, shared_data) -> None:
    slide = shared_data / "wsi" / "CMU-1-Small-Region.svs"
    target = shared_data / "stain_ref" / "tiatoolbox_target_image.png"
    if not slide.exists() or not target.exists():
        pytest.skip("CMU-1-Small-Region.svs or the tiatoolbox target is absent")
    out = tmp_path / "out"
    result = runner.invoke(app, ["normalize", str(slide), "-t", str(target), "-o", str(out),
                                 "--mode", "per_slide", "--montage-tiles", "8"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "status.csv")
    assert len(table) > 20 and (table["status"] == "ok").all()
    fit = json.loads((out / "stain_fit.json").read_text())
    source = np.array(fit["stain_matrix_source"])
    # a real H&E slide: haematoxylin first (more red absorbed), eosin mostly green
    assert source[0, 0] > source[1, 0] and np.argmax(source[1]) == 1


@pytest.mark.parametrize("mode", ["per_tile", "per_slide"])
def test_a_truncated_tile_is_recorded_and_the_rest_normalised(tmp_path, mode: str) -> None:
    folder = write_tile_folder(tmp_path / "tiles")
    good = (folder / "a" / "t1.png").read_bytes()
    (folder / "a" / "cut.png").write_bytes(good[: len(good) // 2])
    (folder / "b" / "zero.jpg").write_bytes(b"")
    target = tmp_path / "target.png"
    Image.fromarray(he_image(HE_STAIN_MATRIX, size=64, seed=50)[0]).save(target)
    out = tmp_path / "out"
    result = runner.invoke(app, ["normalize", str(folder), "--target", str(target), "-o",
                                 str(out), "--mode", mode])
    assert result.exit_code == 1, result.output
    assert "cut.png" in result.output and "zero.jpg" in result.output
    assert "2 tile(s) could not be read" in result.output and "Traceback" not in result.output
    table = pd.read_csv(out / "status.csv", keep_default_na=False).set_index("tile")
    assert table.loc["a/cut.png", "status"] == table.loc["b/zero.jpg", "status"] == "unreadable"
    assert "cut.png" in table.loc["a/cut.png", "error"]
    assert (table.drop(["a/cut.png", "b/zero.jpg", "a/glass.tif"])["status"] == "ok").all()
    assert len(list((out / "tiles").rglob("*.png"))) == 8
