"""QuPath GeoJSON both ways: what featx writes, featx and shapely read back the same."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from featx.errors import DataNotFoundError, InvalidParameterError
from featx.wsi.annotations import read_geojson
from featx.wsi.qupath import (
    QuPathObject,
    class_colour,
    read_qupath,
    tile_detections,
    tile_regions,
    write_qupath,
)

shapely = pytest.importorskip("shapely", reason="shapely (featx[qupath]) reads the geometry back")
from shapely.geometry import shape  # noqa: E402


@pytest.fixture()
def tiles():
    # A 3 x 3 block of 100-px tiles with the centre one missing: a ring with a hole.
    cells = [(c, r) for c in range(3) for r in range(3) if (c, r) != (1, 1)]
    return pd.DataFrame({"col": [c for c, _ in cells], "row": [r for _, r in cells],
                         "x": [100 * c for c, _ in cells], "y": [100 * r for _, r in cells],
                         "level": 0, "read_px": 100})


def test_detections_round_trip_with_geometry_and_measurements(tiles, tmp_path):
    probability = np.linspace(0, 1, len(tiles))
    objects = tile_detections(tiles, measurements={"tumour probability": probability,
                                                   "cluster": np.arange(len(tiles))},
                              classes=["Tumor"] * 4 + ["Non-tumor"] * 4)
    path = write_qupath(tmp_path / "s.geojson", objects)
    back = read_qupath(path)
    assert [o.object_type for o in back] == ["detection"] * 8
    assert [o.classification for o in back] == ["Tumor"] * 4 + ["Non-tumor"] * 4
    assert [o.measurements["tumour probability"] for o in back] == pytest.approx(probability)
    assert [o.measurements["cluster"] for o in back] == list(range(8))
    features = json.loads(path.read_text())["features"]
    for obj, ours, feature in zip(back, objects, features):
        assert np.array_equal(obj.polygons[0][0], ours.polygons[0][0])
        assert obj.object_id == feature["id"]
    for feature, (x, y) in zip(features, zip(tiles["x"], tiles["y"])):
        geometry = shape(feature["geometry"])  # what shapely (and QuPath) see
        assert geometry.is_valid and geometry.area == 100 * 100
        assert geometry.bounds == (x, y, x + 100, y + 100)
        assert feature["properties"]["objectType"] == "detection"
        assert feature["properties"]["classification"]["color"] == list(
            class_colour(feature["properties"]["classification"]["name"]))


def test_regions_merge_tiles_keeping_holes(tiles, tmp_path):
    regions = tile_regions(tiles, np.ones(len(tiles), bool), classification="Tumor",
                           measurements={"topk_score": 0.8})
    assert len(regions) == 1 and len(regions[0].polygons[0]) == 2  # exterior and the hole
    path = write_qupath(tmp_path / "r.geojson", regions)
    feature = json.loads(path.read_text())["features"][0]
    geometry = shape(feature["geometry"])
    assert geometry.area == 8 * 100 * 100 and geometry.bounds == (0, 0, 300, 300)
    assert len(geometry.interiors) == 1
    back, = read_qupath(path)
    assert back.object_type == "annotation" and back.classification == "Tumor"
    assert back.measurements == {"topk_score": 0.8}
    assert shape({"type": "Polygon", "coordinates": [
        [*r.tolist(), r[0].tolist()] for r in back.polygons[0]]}).equals(geometry)
    # The annotation reader sees the same polygon, its hole included.
    annotation, = read_geojson(path)
    assert annotation.classification == "Tumor" and len(annotation.holes) == 1


def test_several_pieces_and_multipolygons(tmp_path):
    two = QuPathObject(((np.array([[0, 0], [10, 0], [10, 10]]),),
                        (np.array([[20, 20], [30, 20], [30, 30]]),)), "annotation", "Stroma")
    path = write_qupath(tmp_path / "m.geojson", [two])
    feature = json.loads(path.read_text())["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert shape(feature["geometry"]).area == pytest.approx(100)
    assert len(read_qupath(path)[0].polygons) == 2


def test_qupath_02_measurement_lists_bare_lists_and_points(tmp_path):
    ring = [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]
    old = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"classification": {"name": "Tumor"},
                           "measurements": [{"name": "Area", "value": 16}], "isLocked": False}},
           {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]},
            "properties": {}}]
    objects = read_qupath(old)
    assert len(objects) == 1 and objects[0].measurements == {"Area": 16.0}
    assert objects[0].object_type == "annotation"
    with pytest.raises(InvalidParameterError, match="FeatureCollection"):
        read_qupath({"type": "Point"})
    with pytest.raises(DataNotFoundError, match="annotation file"):
        read_qupath(tmp_path / "missing.geojson")
    (tmp_path / "bad.geojson").write_text("{not json")
    with pytest.raises(InvalidParameterError, match="GeoJSON"):
        read_qupath(tmp_path / "bad.geojson")
