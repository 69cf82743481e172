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


# --------------------------------------------------------------------------- no glass in the field

#: Kather classes that are tissue edge to edge (adipose and empty are glass-like by nature).
_DENSE_KATHER = ("01_TUMOR", "02_STROMA", "03_COMPLEX", "04_LYMPHO", "05_DEBRIS", "06_MUCOSA")


def _real_tiles(shared_data) -> list[np.ndarray]:
    from PIL import Image

    kather = shared_data / "tiles" / "kather2016_samples"
    lung = shared_data / "tiles" / "lc25000_lung_224px"
    paths = [p for name in _DENSE_KATHER for p in sorted((kather / name).glob("*.tif"))]
    paths += [p for name in ("lung_aca", "lung_scc") for p in sorted((lung / name).glob("*"))[:9]]
    # LC25000 tiles are 224 px: cut them to Kather's 150 so they tile one grid.
    return [np.asarray(Image.open(p).convert("RGB"))[:150, :150] for p in paths]


def _mosaic(tiles: list[np.ndarray], n: int, seed: int = 0) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(np.resize(np.arange(len(tiles)), n * n))
    rows = [np.concatenate([tiles[i] for i in order[r * n:(r + 1) * n]], 1) for r in range(n)]
    return np.concatenate(rows, 0)


def _write_field(path, rgb: np.ndarray, *, ome: bool, mpp: float = 0.5):
    import tifffile

    if ome:  # one level, as QuPath exports a region
        tifffile.imwrite(path, rgb, photometric="rgb", tile=(256, 256), ome=True, metadata={
            "axes": "YXS", "PhysicalSizeX": mpp, "PhysicalSizeY": mpp,
            "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm"})
    else:
        tifffile.imwrite(path, rgb, photometric="rgb", resolution=(1e4 / mpp, 1e4 / mpp),
                         resolutionunit="CENTIMETER")
    return path


@pytest.mark.realdata
@pytest.mark.parametrize("ome", [True, False], ids=["ome-tiff", "plain-tiff"])
def test_field_of_real_tissue_with_no_glass_is_tissue_edge_to_edge(tmp_path, shared_data, ome):
    from featx.wsi.tiling import TileSpec, grid_coords

    field = _mosaic(_real_tiles(shared_data), 12)  # 1800 px of H&E, no glass anywhere
    path = _write_field(tmp_path / ("field.ome.tif" if ome else "field.tif"), field, ome=ome)
    with open_slide(path) as opened:
        assert opened.slide_mpp == pytest.approx(0.5)
        tissue = detect_tissue(opened)
        coords = grid_coords(opened, TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.8))
    assert tissue.tissue_fraction > 0.98
    assert len(coords) == (1800 // 224) ** 2  # every tile of the grid is kept
    # Near 1 everywhere; the lowest are debris tiles with real gaps between the fragments.
    assert coords["tissue_fraction"].min() > 0.9 and coords["tissue_fraction"].mean() > 0.98


@pytest.mark.realdata
def test_real_tissue_beside_real_glass_keeps_its_border(tmp_path, shared_data):
    from PIL import Image

    tissue_tiles = _real_tiles(shared_data)
    empty = [np.asarray(Image.open(p).convert("RGB"))
             for p in sorted((shared_data / "tiles" / "kather2016_samples" / "08_EMPTY").glob("*"))]
    field = np.concatenate([_mosaic(tissue_tiles, 8), _mosaic(empty, 8)], 1)  # left tissue
    path = _write_field(tmp_path / "half.ome.tif", field, ome=True)
    with open_slide(path) as opened:
        mask = detect_tissue(opened, thumbnail_mpp=4.0).mask
    half = mask.shape[1] // 2
    # Glass in the field: Otsu's split stands (pale stroma above it stays out, as before).
    assert mask[:, : half - 2].mean() > 0.9 and mask[:, half + 2:].mean() < 0.01


@pytest.mark.realdata
def test_real_glass_only_field_has_no_tissue(tmp_path, shared_data):
    from PIL import Image

    from featx.wsi.tiling import TileSpec, grid_coords

    empty = [np.asarray(Image.open(p).convert("RGB"))
             for p in sorted((shared_data / "tiles" / "kather2016_samples" / "08_EMPTY").glob("*"))]
    path = _write_field(tmp_path / "glass.ome.tif", _mosaic(empty, 10), ome=True)
    with open_slide(path) as opened:
        assert not detect_tissue(opened).mask.any()
        assert grid_coords(opened, TileSpec(tile_px=224, tile_mpp=0.5)).empty


def test_synthetic_tissue_edge_to_edge_is_all_tissue(tmp_path):
    # A rectangle of tissue covering the whole slide: no glass for Otsu's light class.
    slide = write_synthetic_slide(tmp_path / "dense.svs", width_px=2400, height_px=1800,
                                  slide_mpp=0.5, regions=[Region(0, 0, 2400, 1800, "rect")])
    with open_slide(slide.path) as opened:
        tissue = detect_tissue(opened)
    assert tissue.tissue_fraction > 0.98


def test_one_colour_fields_are_glass_or_tissue_by_what_they_look_like():
    pink = np.empty((60, 60, 3), np.uint8)
    pink[:] = (200, 120, 170)  # eosin, no contrast at all
    glass = np.full((60, 60, 3), 242, np.uint8)
    assert tissue_mask_from_rgb(pink)[0].all()
    assert not tissue_mask_from_rgb(glass)[0].any()
    glass[10:20, 10:20] = 236  # dust: bright and grey, still glass
    assert not tissue_mask_from_rgb(glass)[0].any()
