"""Heatmaps on the tile grid, PNG renderings and thumbnail overlays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from featx.errors import InvalidParameterError
from featx.slidescore.heatmaps import (
    check_heatmap,
    heatmap_rgba,
    overlay_on_thumbnail,
    save_heatmap_png,
    save_overlay_png,
    tile_heatmap,
    upsample_heatmap,
)
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from featx.wsi.tile_grid import grid_to_values
from featx.wsi.tiling import TileSpec, grid_coords


def _table(cells):
    rows, cols = zip(*cells, strict=True)
    return pd.DataFrame({"row": rows, "col": cols, "x": [c * 10 for c in cols],
                         "y": [r * 10 for r in rows], "level": 0, "read_px": 10})


def test_heatmap_places_values_and_marks_no_tissue_nan():
    coords = _table([(0, 1), (2, 3), (1, 0)])
    grid = tile_heatmap(coords, np.array([0.1, 0.9, 0.5]))
    assert grid.shape == (3, 4) and grid.dtype == np.float32
    assert grid[0, 1] == pytest.approx(0.1) and grid[2, 3] == pytest.approx(0.9)
    assert grid[1, 0] == pytest.approx(0.5)
    assert np.isnan(grid).sum() == 12 - 3
    np.testing.assert_allclose(grid_to_values(coords, grid), [0.1, 0.9, 0.5], rtol=1e-6)
    assert tile_heatmap(coords, np.zeros(3), shape=(5, 6)).shape == (5, 6)


def test_heatmap_rejects_bad_input():
    coords = _table([(0, 0), (0, 1)])
    with pytest.raises(InvalidParameterError, match="probabilities"):
        tile_heatmap(coords, np.array([0.2, 1.5]))
    with pytest.raises(InvalidParameterError, match="probabilities"):
        tile_heatmap(coords, np.array([0.2, np.nan]))
    with pytest.raises(InvalidParameterError, match="duplicate"):
        tile_heatmap(_table([(0, 0), (0, 0)]), np.array([0.2, 0.3]))
    with pytest.raises(InvalidParameterError, match="no tissue"):
        check_heatmap(np.full((3, 3), np.nan))


def test_upsample_and_colours():
    grid = np.array([[0.0, np.nan], [1.0, 0.5]])
    up = upsample_heatmap(grid, 3)
    assert up.shape == (6, 6) and np.isnan(up[:3, 3:]).all() and (up[3:, :3] == 1).all()
    rgba = heatmap_rgba(grid, cmap="gray")
    assert rgba[0, 1, 3] == 0 and rgba[0, 0, 3] == 255  # NaN transparent, tissue opaque
    assert tuple(rgba[1, 0, :3]) == (255, 255, 255) and tuple(rgba[0, 0, :3]) == (0, 0, 0)
    with pytest.raises(InvalidParameterError, match="cmap"):
        heatmap_rgba(grid, cmap="no-such-map")


def test_overlay_colours_each_tile_footprint_only():
    thumb = np.full((40, 60, 3), 200, np.uint8)
    coords = _table([(0, 0), (1, 2)])  # tiles of 10 level-0 px, thumbnail downsample 2 -> 5 px
    out = overlay_on_thumbnail(thumb, coords, np.array([0.0, 1.0]), downsample=2.0,
                               cmap="gray", alpha=1.0)
    assert (out[0:5, 0:5] == 0).all()          # probability 0 -> black
    assert (out[5:10, 10:15] == 255).all()     # probability 1 -> white
    assert (out[20:, :] == 200).all() and (out[:5, 5:10] == 200).all()  # untouched glass


def test_overlay_png_on_a_generated_slide(tmp_path, artifacts_dir):
    regions = [Region(100, 100, 700, 800, "ellipse", "normal"),
               Region(850, 150, 600, 700, "ellipse", "tumour")]
    s = write_synthetic_slide(tmp_path / "h.svs", width_px=1536, height_px=1024, slide_mpp=1.0,
                              regions=regions, downsamples=(1, 4), seed=1)
    with open_slide(s.path) as slide:
        coords = grid_coords(slide, TileSpec(tile_px=64, tile_mpp=2.0, min_tissue=0.5))
        thumb = slide.thumbnail(thumbnail_mpp=8.0)
        info = slide.info
    # Probability = the tile's column position, so the overlay must brighten left to right.
    probs = coords["col"].to_numpy() / coords["col"].max()
    overlay = overlay_on_thumbnail(thumb, coords, probs, downsample=info.width / thumb.shape[1],
                                   level_downsamples=info.level_downsamples, cmap="gray",
                                   alpha=1.0)
    assert overlay.shape == thumb.shape
    changed = np.any(overlay != thumb, axis=2)
    tissue = s.tissue_mask(info.width / thumb.shape[1])[: thumb.shape[0], : thumb.shape[1]]
    assert changed[~tissue].mean() < 0.1 and changed[tissue].mean() > 0.5
    path = save_overlay_png(overlay, artifacts_dir / "heatmap_overlay.png")
    assert Image.open(path).size == (thumb.shape[1], thumb.shape[0])
    grid_png = save_heatmap_png(tile_heatmap(coords, probs), tmp_path / "grid.png", cell_px=4)
    img = np.asarray(Image.open(grid_png))
    assert img.shape[2] == 4 and (img[..., 3] == 0).any() and (img[..., 3] == 255).any()


@pytest.mark.realdata
def test_overlay_on_the_real_slide(shared_data, artifacts_dir):
    with open_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs") as slide:
        coords = grid_coords(slide, TileSpec(tile_px=64, tile_mpp=2.0, min_tissue=0.5))
        thumb = slide.thumbnail(thumbnail_mpp=8.0)
        info = slide.info
    downsample = info.width / thumb.shape[1]
    probs = coords["tissue_fraction"].to_numpy()  # any per-tile value in [0, 1]
    overlay = overlay_on_thumbnail(thumb, coords, probs, downsample=downsample,
                                   level_downsamples=info.level_downsamples, alpha=0.6)
    # Pixels change exactly on the tiles' footprints.
    footprint = np.zeros(thumb.shape[:2], bool)
    side = 64 * 2.0 / info.slide_mpp / downsample
    for x, y in zip(coords["x"] / downsample, coords["y"] / downsample, strict=True):
        footprint[int(round(y)) + 1:int(round(y + side)) - 1,
                  int(round(x)) + 1:int(round(x + side)) - 1] = True
    changed = np.any(overlay != thumb, axis=2)
    assert changed[footprint].mean() > 0.95
    assert not changed[~ndimage.binary_dilation(footprint, iterations=3)].any()
    save_overlay_png(overlay, artifacts_dir / "heatmap_overlay_cmu1.png")
    grid = tile_heatmap(coords, probs)
    assert np.count_nonzero(~np.isnan(grid)) == len(coords)
