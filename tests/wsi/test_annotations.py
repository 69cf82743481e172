"""Tile labels from label masks and QuPath GeoJSON, checked against known regions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from featx.errors import DataNotFoundError, InvalidParameterError
from featx.wsi.annotations import (
    rasterise_annotations,
    read_geojson,
    tile_label_fractions,
    tile_labels_from_geojson,
    tile_labels_from_mask,
)
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords

SPEC = TileSpec(tile_px=64, tile_mpp=2.0, min_tissue=0.5)  # 128 level-0 px per tile at 1 mpp


def _coords(slide_path):
    with open_slide(slide_path) as slide:
        return grid_coords(slide, SPEC), slide.info


def _expected_fractions(regions, coords, size_l0, samples=16):
    """Tumour/normal share of each tile by sampling points of its footprint on the regions."""
    offsets = (np.arange(samples) + 0.5) / samples * size_l0
    out = []
    for x, y in zip(coords["x"], coords["y"], strict=True):
        xs, ys = np.meshgrid(x + offsets, y + offsets)
        label = np.zeros(xs.shape, np.uint8)
        for region in regions:  # later regions paint over earlier ones, as in the generator
            label[region.contains(xs, ys)] = 2 if region.label == "tumour" else 1
        out.append(((label == 2).mean(), (label == 1).mean()))
    return np.array(out)


def _rule(fractions, tumour_min=0.2, normal_min=0.8):
    labels = np.full(len(fractions), -1)
    labels[fractions[:, 1] > normal_min] = 0
    labels[fractions[:, 0] > tumour_min] = 1
    return labels


def test_labels_match_rectangular_regions_exactly(tmp_path):
    # Rectangles on the 128-px tile grid: every tile is wholly tumour, normal or glass.
    regions = [Region(128, 128, 1024, 640, "rect", "normal"),
               Region(640, 256, 384, 384, "rect", "tumour")]
    s = write_synthetic_slide(tmp_path / "rect.svs", width_px=1536, height_px=1024, slide_mpp=1.0,
                              regions=regions, downsamples=(1, 4), seed=3)
    coords, info = _coords(s.path)
    labels = tile_labels_from_mask(coords, s.label_mask(8), downsample=8,
                                   level_downsamples=info.level_downsamples)
    inside_tumour = ((coords.x >= 640) & (coords.x < 1024) & (coords.y >= 256) & (coords.y < 640))
    np.testing.assert_array_equal(labels, np.where(inside_tumour, 1, 0))
    assert labels.sum() == 9  # 3 x 3 tumour tiles


def test_labels_match_elliptic_regions(tmp_path):
    regions = [Region(100, 80, 1300, 860, "ellipse", "normal"),
               Region(700, 250, 500, 450, "ellipse", "tumour")]
    s = write_synthetic_slide(tmp_path / "ell.svs", width_px=1536, height_px=1024, slide_mpp=1.0,
                              regions=regions, downsamples=(1, 4), seed=4)
    coords, info = _coords(s.path)
    labels = tile_labels_from_mask(coords, s.label_mask(4), downsample=4,
                                   level_downsamples=info.level_downsamples)
    fractions = _expected_fractions(regions, coords, 128)
    expected = _rule(fractions)
    # All three kinds occur, and the mask-based rule agrees with point sampling of the
    # true shapes except where a tile sits within a mask pixel of a threshold.
    assert set(np.unique(expected)) == {-1, 0, 1}
    near = (np.abs(fractions[:, 0] - 0.2) < 0.03) | (np.abs(fractions[:, 1] - 0.8) < 0.03)
    assert np.array_equal(labels[~near], expected[~near])
    got = tile_label_fractions(coords, s.label_mask(4), downsample=4,
                               level_downsamples=info.level_downsamples)
    np.testing.assert_allclose(got["tumour_fraction"], fractions[:, 0], atol=0.04)


def test_thresholds_on_handmade_mask():
    # Four 10x10-pixel tiles side by side on a mask at downsample 1.
    mask = np.zeros((10, 40), np.uint8)
    mask[:, 0:10] = 1
    mask[:, 0:3] = 2                   # tile 0: 30% tumour, 70% normal
    mask[:, 10:20] = 1
    mask[:, 10:11] = 2                 # tile 1: 10% tumour, 90% normal
    mask[:, 20:27] = 1                 # tile 2: 70% normal, rest background
    mask[:, 30:40] = 2                 # tile 3: all tumour
    coords = pd.DataFrame({"row": 0, "col": range(4), "x": range(0, 40, 10), "y": 0,
                           "level": 0, "read_px": 10})
    np.testing.assert_array_equal(tile_labels_from_mask(coords, mask, downsample=1), [1, 0, -1, 1])
    np.testing.assert_array_equal(
        tile_labels_from_mask(coords, mask, downsample=1, tumour_min=0.5, normal_min=0.6),
        [0, 0, 0, 1])
    binary = mask == 2  # True tumour, False normal
    np.testing.assert_array_equal(tile_labels_from_mask(coords, binary, downsample=1),
                                  [1, 0, 0, 1])


def _ring(x, y, w, h, ellipse=False, n=96):
    if ellipse:
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        pts = np.stack([x + w / 2 + w / 2 * np.cos(t), y + h / 2 + h / 2 * np.sin(t)], 1)
    else:
        pts = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], float)
    return np.vstack([pts, pts[:1]]).tolist()


def _feature(geometry, name):
    return {"type": "Feature", "id": name, "geometry": geometry,
            "properties": {"objectType": "annotation",
                           "classification": {"name": name, "color": [200, 0, 0]}}}


def test_geojson_labels_match_the_label_mask(tmp_path):
    regions = [Region(100, 80, 1300, 860, "ellipse", "normal"),
               Region(700, 250, 500, 450, "ellipse", "tumour"),
               Region(200, 300, 256, 256, "rect", "tumour")]
    s = write_synthetic_slide(tmp_path / "g.svs", width_px=1536, height_px=1024, slide_mpp=1.0,
                              regions=regions, downsamples=(1, 4), seed=5)
    coords, info = _coords(s.path)
    # QuPath-style export: the two tumour areas as one MultiPolygon, plus a stroma
    # annotation that has no label mapping (skipped with a warning).
    collection = {"type": "FeatureCollection", "features": [
        _feature({"type": "Polygon", "coordinates": [_ring(100, 80, 1300, 860, True)]}, "Normal"),
        _feature({"type": "MultiPolygon", "coordinates": [
            [_ring(700, 250, 500, 450, True)], [_ring(200, 300, 256, 256)]]}, "Tumor"),
        _feature({"type": "Polygon", "coordinates": [_ring(0, 0, 50, 50)]}, "Stroma"),
    ]}
    path = tmp_path / "annotations.geojson"
    path.write_text(json.dumps(collection))
    with pytest.warns(UserWarning, match="Stroma"):
        from_json = tile_labels_from_geojson(
            coords, path, width_px=info.width, height_px=info.height, downsample=4,
            level_downsamples=info.level_downsamples)
    from_mask = tile_labels_from_mask(coords, s.label_mask(4), downsample=4,
                                      level_downsamples=info.level_downsamples)
    assert (from_json == from_mask).mean() >= 0.97
    assert set(np.unique(from_json)) == {-1, 0, 1}
    # Tiles wholly inside the rectangle are tumour.
    in_rect = (coords.x >= 200) & (coords.x + 128 <= 456) & (coords.y >= 300) & (
        coords.y + 128 <= 556)
    assert in_rect.sum() > 0 and (from_json[in_rect.to_numpy()] == 1).all()


def test_geojson_holes_lists_and_class_mapping():
    square = _ring(0, 0, 100, 100)
    hole = _ring(25, 25, 50, 50)
    features = [_feature({"type": "Polygon", "coordinates": [square, hole]}, "Tumour")]
    anns = read_geojson(features)  # older QuPath: a bare list of features
    assert len(anns) == 1 and len(anns[0].holes) == 1
    mask = rasterise_annotations(anns, width_px=100, height_px=100, downsample=1)
    assert mask[10, 10] == 2 and mask[50, 50] == 0
    # A tumour outline with a hole, inside a normal area: the hole stays normal.
    normal = _feature({"type": "Polygon", "coordinates": [_ring(0, 0, 200, 200)]}, "Normal")
    nested = rasterise_annotations(read_geojson([normal] + features), width_px=200,
                                   height_px=200, downsample=1)
    assert nested[10, 10] == 2 and nested[50, 50] == 1 and nested[150, 150] == 1
    stroma = [_feature({"type": "Polygon", "coordinates": [square]}, "Stroma")]
    mapped = rasterise_annotations(read_geojson(stroma), width_px=100, height_px=100,
                                   downsample=2, classes={"stroma": 1})
    assert mapped.shape == (50, 50) and (mapped[5:45, 5:45] == 1).all()


def test_errors_name_the_argument(tmp_path):
    coords = pd.DataFrame({"row": [0], "col": [0], "x": [0], "y": [0], "level": [1],
                           "read_px": [10]})
    with pytest.raises(InvalidParameterError, match="level_downsamples"):
        tile_labels_from_mask(coords, np.zeros((4, 4), np.uint8), downsample=4)
    with pytest.raises(InvalidParameterError, match="mask"):
        tile_labels_from_mask(coords, np.zeros((4, 4), float), downsample=4,
                              level_downsamples=[1, 4])
    with pytest.raises(InvalidParameterError, match="tumour_min"):
        tile_labels_from_mask(coords, np.zeros((4, 4), np.uint8), downsample=4,
                              level_downsamples=[1, 4], tumour_min=2)
    with pytest.raises(InvalidParameterError, match="FeatureCollection"):
        read_geojson({"type": "Point", "coordinates": [0, 0]})
    with pytest.raises(DataNotFoundError):
        read_geojson(tmp_path / "missing.geojson")


@pytest.mark.realdata
def test_geojson_labels_on_the_real_slide(shared_data):
    path = shared_data / "wsi" / "CMU-1-Small-Region.svs"
    with open_slide(path) as slide:
        coords = grid_coords(slide, TileSpec(tile_px=64, tile_mpp=2.0, min_tissue=0.5))
        info = slide.info
    assert len(coords) > 10
    half = info.width // 2  # annotate the left half tumour, the right half normal
    features = [
        _feature({"type": "Polygon", "coordinates": [_ring(0, 0, half, info.height)]}, "Tumor"),
        _feature({"type": "Polygon", "coordinates": [_ring(half, 0, half, info.height)]},
                 "Normal")]
    labels = tile_labels_from_geojson(coords, {"type": "FeatureCollection", "features": features},
                                      width_px=info.width, height_px=info.height, downsample=8,
                                      level_downsamples=info.level_downsamples)
    size = coords.read_px.to_numpy() * np.asarray(info.level_downsamples)[coords.level]
    left_share = np.clip((half - coords.x.to_numpy()) / size, 0, 1)
    expected = np.where(left_share > 0.2, 1, np.where(1 - left_share > 0.8, 0, -1))
    clear = np.abs(left_share - 0.2) > 0.05  # mask pixels blur the threshold itself
    np.testing.assert_array_equal(labels[clear], expected[clear])
