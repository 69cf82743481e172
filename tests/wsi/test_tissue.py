"""Tissue detection recovers known layouts; Otsu variants behave as documented."""

from __future__ import annotations

import numpy as np
import pytest

from featx.errors import InvalidParameterError
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from featx.wsi.tissue import TissueMask, detect_tissue, otsu_threshold, tissue_mask_from_rgb


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("method", ["otsu", "otsu-equal-weights"])
def test_mask_recovers_generated_layout(tmp_path, method):
    regions = [Region(200, 300, 1400, 1000, "ellipse", "normal"),
               Region(1900, 500, 900, 1400, "rect", "tumour")]
    slide = write_synthetic_slide(tmp_path / "s.svs", width_px=3200, height_px=2400, slide_mpp=0.5,
                                  regions=regions)
    with open_slide(slide.path) as opened:
        tissue = detect_tissue(opened, method=method)
    truth = slide.tissue_mask(tissue.downsample)[: tissue.mask.shape[0], : tissue.mask.shape[1]]
    assert iou(tissue.mask, truth) >= 0.9
    assert tissue.method == method


def test_glass_only_slide_gives_empty_mask(tmp_path):
    slide = write_synthetic_slide(tmp_path / "glass.svs", width_px=1500, height_px=1000, regions=[])
    with open_slide(slide.path) as opened:
        assert not detect_tissue(opened).mask.any()


def test_otsu_bimodal_threshold_lies_between_modes():
    rng = np.random.default_rng(0)
    grey = np.concatenate([rng.normal(90, 8, 3000), rng.normal(220, 6, 7000)]).clip(0, 255)
    for equal in (False, True):
        t = otsu_threshold(grey.astype(np.uint8), equal_weights=equal)
        assert 110 < t < 200


def test_equal_weights_are_stricter_when_tissue_is_scarce():
    # 3% faint tissue at 205 on glass at 238: both split the modes; with both class weights
    # fixed at 0.5 the threshold moves towards the small tissue mode (a stricter mask).
    rng = np.random.default_rng(1)
    grey = np.concatenate([rng.normal(205, 4, 300), rng.normal(238, 3, 9700)]).clip(0, 255)
    t_standard = otsu_threshold(grey.astype(np.uint8))
    t_equal = otsu_threshold(grey.astype(np.uint8), equal_weights=True)
    assert 205 < t_equal < t_standard < 238
    assert t_standard == pytest.approx((205 + 238) / 2, abs=2)


def test_otsu_matches_brute_force_between_class_variance():
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, 5000).astype(np.uint8)
    values = grey.astype(float)
    scores = []
    for t in range(255):
        dark, light = values[values <= t], values[values > t]
        if len(dark) == 0 or len(light) == 0:
            scores.append(-1)
            continue
        w0, w1 = len(dark) / len(values), len(light) / len(values)
        scores.append(w0 * w1 * (dark.mean() - light.mean()) ** 2)
    best = np.flatnonzero(np.isclose(scores, max(scores)))
    assert otsu_threshold(grey) == pytest.approx(best.mean())


def test_cleanup_removes_specks_and_fills_holes():
    rgb = np.full((100, 100, 3), 240, np.uint8)
    rgb[20:80, 20:80] = 120          # tissue
    rgb[45:48, 45:48] = 240          # a small hole
    rgb[5:7, 90:92] = 120            # a speck
    mask, _ = tissue_mask_from_rgb(rgb, min_object_px=10, min_hole_px=20)
    assert mask[46, 46] and not mask[6, 91] and mask.sum() == 60 * 60


def test_fraction_is_exact_for_partial_pixels():
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    tissue = TissueMask(mask, downsample=10.0, threshold=0.0)
    # Level-0 square [5, 25)^2 is [0.5, 2.5)^2 in mask pixels; tissue fills [1, 2.5)^2 of it.
    assert tissue.fraction(np.array([5.0]), np.array([5.0]), 20.0)[0] == pytest.approx(2.25 / 4)
    assert tissue.fraction(np.array([10.0]), np.array([10.0]), 20.0)[0] == pytest.approx(1.0)


def test_bad_input_is_named():
    with pytest.raises(InvalidParameterError, match="method"):
        tissue_mask_from_rgb(np.zeros((4, 4, 3), np.uint8), method="triangle")
    with pytest.raises(InvalidParameterError, match="rgb"):
        tissue_mask_from_rgb(np.zeros((4, 4), np.uint8))


@pytest.mark.realdata
def test_cmu1_has_a_plausible_tissue_fraction(shared_data):
    with open_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs") as slide:
        tissue = detect_tissue(slide)
    assert 0.2 < tissue.tissue_fraction < 0.6


def test_a_lumen_stays_glass_and_its_tile_fails_min_tissue(tmp_path):
    import tifffile

    from featx.wsi.slide import open_slide
    from featx.wsi.tiling import TileSpec, grid_coords

    rng = np.random.default_rng(0)
    image = np.full((1500, 2000, 3), 242, np.uint8)  # glass
    tissue = np.array([200, 110, 160]) + rng.integers(-25, 25, (1100, 1600, 3))
    image[200:1300, 200:1800] = tissue.clip(0, 255)
    # A lumen of 205 x 205 px (102 um) inside the 224 px (112 um) tile at col 3, row 2:
    # 84% of that tile is bright glass.
    image[458:663, 682:887] = 242
    path = tmp_path / "lumen.tif"
    tifffile.imwrite(path, image, photometric="rgb", tile=(256, 256),
                     resolution=(20000, 20000), resolutionunit="CENTIMETER")
    spec = TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.0)
    with open_slide(path) as slide:
        coords = grid_coords(slide, spec).set_index(["row", "col"])
        filled = detect_tissue(slide, thumbnail_mpp=8.0, min_hole_um2=20_000.0)
        kept = grid_coords(slide, TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.8))
    assert coords.loc[(2, 3), "tissue_fraction"] == pytest.approx(1 - 0.84, abs=0.08)
    assert not ((kept["row"] == 2) & (kept["col"] == 3)).any()
    assert coords.loc[(2, 2), "tissue_fraction"] > 0.95  # its neighbour is solid tissue
    # The old default (20,000 um2, more than a whole tile) filled the lumen.
    assert filled.fraction(np.array([672.0]), np.array([448.0]), 224.0)[0] > 0.95
