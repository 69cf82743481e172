"""Tiling: analytic counts, exact physical tile size at any native mpp, batches, empty slides."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from featx.errors import InvalidParameterError
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from featx.wsi.tiling import TILE_TABLE_COLUMNS, TileSpec, grid_coords, iter_tile_batches, read_tiles
from featx.wsi.tissue import TissueMask


def full_mask(slide, downsample=8.0) -> TissueMask:
    h = math.ceil(slide.info.height / downsample)
    w = math.ceil(slide.info.width / downsample)
    return TissueMask(np.ones((h, w), bool), downsample, 0.0)


@pytest.mark.parametrize("native_mpp", [0.25, 0.5, 0.4990])
def test_tile_covers_tile_px_times_tile_mpp(tmp_path, native_mpp):
    slide_file = write_synthetic_slide(tmp_path / "s.svs", width_px=2600, height_px=1800,
                                       slide_mpp=native_mpp, downsamples=(1, 4))
    spec = TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.0)
    with open_slide(slide_file.path) as slide:
        coords = grid_coords(slide, spec, tissue=full_mask(slide))
        downsample = np.asarray(slide.info.level_downsamples)[coords["level"]]
        side_um = coords["read_px"] * downsample * native_mpp
        # Within one output pixel of the requested physical size.
        assert np.all(np.abs(side_um / spec.tile_mpp - spec.tile_px) <= 1.0)
        # And neighbours are one tile apart in microns (no drift across the slide).
        step_um = np.diff(np.sort(coords["x"].unique())) * native_mpp
        assert np.all(np.abs(step_um - spec.tile_um) <= native_mpp)
        _, tiles = next(iter_tile_batches(slide, coords, batch_size=3))
        assert tiles.shape == (3, 224, 224, 3) and tiles.dtype == np.uint8


def test_count_matches_analytic_count_for_a_rectangle(tmp_path):
    # A rectangle of tissue aligned to the 448-px grid (tile 224 px at 0.5 mpp on a 0.25 slide).
    region = Region(448, 896, 448 * 5, 448 * 3, "rect", "normal")
    slide_file = write_synthetic_slide(tmp_path / "r.svs", width_px=4000, height_px=3000,
                                       slide_mpp=0.25, regions=[region])
    with open_slide(slide_file.path) as slide:
        coords = grid_coords(slide, TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.8))
    assert len(coords) == 5 * 3
    assert set(coords["col"]) == {1, 2, 3, 4, 5} and set(coords["row"]) == {2, 3, 4}
    assert list(coords.columns) == list(TILE_TABLE_COLUMNS)


def test_overlap_gives_the_analytic_grid(tmp_path):
    slide_file = write_synthetic_slide(tmp_path / "o.svs", width_px=1000, height_px=600, slide_mpp=0.5,
                                       downsamples=(1,))
    spec = TileSpec(tile_px=200, tile_mpp=0.5, overlap_px=50, min_tissue=0.0)
    with open_slide(slide_file.path) as slide:
        coords = grid_coords(slide, spec, tissue=full_mask(slide))
    # floor((1000 - 200) / 150) + 1 = 6 columns, floor((600 - 200) / 150) + 1 = 3 rows.
    assert (coords["col"].max() + 1, coords["row"].max() + 1, len(coords)) == (6, 3, 18)


def test_glass_slide_yields_empty_table_quickly(tmp_path):
    slide_file = write_synthetic_slide(tmp_path / "glass.svs", width_px=3000, height_px=2000,
                                       regions=[])
    with open_slide(slide_file.path) as slide:
        start = time.perf_counter()
        coords = grid_coords(slide, TileSpec())
        elapsed = time.perf_counter() - start
        assert len(coords) == 0 and list(coords.columns) == list(TILE_TABLE_COLUMNS)
        assert list(iter_tile_batches(slide, coords)) == []
    assert elapsed < 10  # generous: a hang would take forever, not seconds


def test_tiles_show_tissue_and_threads_read_the_same(tmp_path):
    slide_file = write_synthetic_slide(tmp_path / "t.svs", width_px=2048, height_px=2048, slide_mpp=0.5)
    with open_slide(slide_file.path) as slide:
        coords = grid_coords(slide, TileSpec(tile_px=128, tile_mpp=1.0))
        one = read_tiles(slide, coords.iloc[:8])
        many = read_tiles(slide, coords.iloc[:8], num_workers=4)
    np.testing.assert_array_equal(one, many)
    assert one.mean() < 230  # tissue, not glass


def test_spec_validation_names_the_argument():
    with pytest.raises(InvalidParameterError, match=r"tile_px must be an int in \[16, 8192\]"
                       r" \(a tile side in pixels.*got -3"):
        TileSpec(tile_px=-3)
    # The shared bounds of featx._validate: values that would tile every slide into nothing.
    for spec, needle in (({"tile_px": 10**9}, "tile_px"), ({"tile_mpp": 1e9}, "tile_mpp"),
                         ({"tile_mpp": 1e-6}, "tile_mpp"), ({"tile_mpp": float("nan")}, "tile_mpp"),
                         ({"tile_px": 8192, "tile_mpp": 50.0}, "5000 microns")):
        with pytest.raises(InvalidParameterError, match=needle):
            TileSpec(**spec)
    with pytest.raises(InvalidParameterError, match="overlap_px"):
        TileSpec(tile_px=64, overlap_px=64)
    with pytest.raises(InvalidParameterError, match="min_tissue"):
        TileSpec(min_tissue=1.5)
    assert TileSpec().config == {"tile_px": 224, "tile_mpp": 0.5, "overlap_px": 0, "min_tissue": 0.8}


@pytest.mark.realdata
def test_cmu1_tiles_at_half_micron_cover_the_tissue(shared_data):
    from featx.wsi.tissue import detect_tissue

    with open_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs") as slide:
        tissue = detect_tissue(slide, thumbnail_mpp=8.0)
        coords = grid_coords(slide, TileSpec(tile_px=224, tile_mpp=0.5), tissue=tissue)
        assert len(coords) >= 25
        assert (coords["tissue_fraction"] >= 0.8).all()
        # Tiles are 224 px at 0.5 mpp: 224 * 0.5 / 0.499 = 224.4 level-0 px read, then resized.
        assert coords["read_px"].iloc[0] == 224
        # The tiles lie on the tissue: their total area is a large share of the tissue area.
        tile_area = len(coords) * (224 * 0.5 / slide.slide_mpp) ** 2
        tissue_area = tissue.mask.sum() * tissue.downsample**2
        assert 0.4 < tile_area / tissue_area <= 1.0
        _, tiles = next(iter_tile_batches(slide, coords, batch_size=4))
        assert tiles.shape == (4, 224, 224, 3) and tiles.mean() < 220


def test_spread_indices_cover_the_range_evenly():
    from featx.wsi.tiling import spread_indices

    assert spread_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert spread_indices(3, 32).tolist() == [0, 1, 2]
    assert spread_indices(0, 5).size == 0
