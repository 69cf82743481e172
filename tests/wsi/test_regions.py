"""Tiles kept or left out by the class of QuPath annotations: a layout with a known answer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from featx.errors import DataError, DataNotFoundError
from featx.wsi import TileSpec, grid_coords, open_slide, tile_slide
from featx.wsi.regions import RegionFilter
from featx.wsi.synthetic import Region, write_synthetic_slide


def _rect(x0, y0, x1, y1, name):
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"objectType": "annotation", "classification": {"name": name}}}


@pytest.fixture(scope="module")
def slide_and_grid(tmp_path_factory):
    # 256-px tiles (128 px at 1.0 mpp on a 0.5-mpp slide) on a 12 x 8 grid, every one kept.
    path = write_synthetic_slide(tmp_path_factory.mktemp("regions") / "R.svs", width_px=3072,
                                 height_px=2048, slide_mpp=0.5,
                                 regions=[Region(0, 0, 3072, 2048, "rect", "normal")]).path
    spec = TileSpec(tile_px=128, tile_mpp=1.0, min_tissue=0.0)
    with open_slide(path) as slide:
        coords = grid_coords(slide, spec)
    assert len(coords) == 96
    return path, spec, coords


@pytest.fixture()
def qupath_file(tmp_path):
    # A tumour region over columns 2-5 and rows 1-4 (a 4 x 4 block), a pen mark over
    # column 4 of it, and a region of another class that is ignored.
    path = tmp_path / "R.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        _rect(512, 256, 1536, 1280, "Tumor"), _rect(1024, 0, 1280, 2048, "Pen marking"),
        _rect(2560, 0, 3072, 2048, "Stroma")]}))
    return path


def _cells(coords):
    return set(zip(coords["col"], coords["row"]))


def test_keep_takes_exactly_the_tiles_inside_the_class(slide_and_grid, qupath_file):
    path, _, coords = slide_and_grid
    kept = RegionFilter(qupath_file, keep=("tumor",)).select(coords, width_px=3072,
                                                             height_px=2048)
    assert _cells(kept) == {(c, r) for c in range(2, 6) for r in range(1, 5)}


def test_exclude_wins_over_keep_and_works_alone(slide_and_grid, qupath_file):
    _, _, coords = slide_and_grid
    both = RegionFilter(qupath_file, keep=("Tumor",), exclude=("Pen marking",))
    assert _cells(both.select(coords, width_px=3072, height_px=2048)) == {
        (c, r) for c in (2, 3, 5) for r in range(1, 5)}
    alone = RegionFilter(qupath_file, exclude=("Pen marking",)).select(
        coords, width_px=3072, height_px=2048)
    assert len(alone) == 96 - 8 and not any(c == 4 for c, _ in _cells(alone))


def test_min_fraction_counts_partly_covered_tiles(slide_and_grid, tmp_path):
    _, _, coords = slide_and_grid
    path = tmp_path / "part.geojson"  # covers column 0 fully and a quarter of column 1
    path.write_text(json.dumps([_rect(0, 0, 256 + 64, 2048, "Tumor")]))  # a bare list
    assert set(RegionFilter(path, keep=("Tumor",)).select(
        coords, width_px=3072, height_px=2048)["col"]) == {0}
    assert set(RegionFilter(path, keep=("Tumor",), min_fraction=0.2).select(
        coords, width_px=3072, height_px=2048)["col"]) == {0, 1}


def test_tile_slide_records_the_filter_in_its_provenance(slide_and_grid, qupath_file, tmp_path):
    path, spec, _ = slide_and_grid
    with open_slide(path) as slide:
        done = tile_slide(slide, spec, out_dir=tmp_path / "tiles",
                          regions=RegionFilter(keep=("Tumor",)).for_file(qupath_file))
    assert done.n_tiles == 16 and done.n_outside_regions == 80
    record = json.loads(done.provenance_path.read_text())["regions"]
    assert record["keep"] == ["Tumor"] and record["n_tiles_dropped"] == 80
    assert len(record["annotations_sha256"]) == 64


def test_bad_filters_say_what_to_fix(slide_and_grid, qupath_file, tmp_path):
    _, _, coords = slide_and_grid
    with pytest.raises(DataError, match="no class"):
        RegionFilter(qupath_file)
    with pytest.raises(DataError, match="necrosis"):
        RegionFilter(qupath_file, keep=("Necrosis",)).select(coords, width_px=3072,
                                                             height_px=2048)
    with pytest.raises(DataNotFoundError, match="annotation"):
        RegionFilter(tmp_path / "none.geojson", keep=("Tumor",)).select(
            coords, width_px=3072, height_px=2048)
    assert np.array_equal(RegionFilter(qupath_file, keep=("Tumor",)).allowed_fraction(
        coords.iloc[:0], width_px=3072, height_px=2048), np.zeros(0))
