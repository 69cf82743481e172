"""``featx export --format geojson``: tiles and regions QuPath imports, with the right values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from featx.embed.qupath_export import export_geojson
from featx.embed.store import read_slide
from featx.wsi.qupath import read_qupath
from tests.scored_cohort import EXTRACTOR, make_scored_cohort

shapely = pytest.importorskip("shapely", reason="shapely (featx[qupath]) merges the regions")
from shapely.geometry import shape  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_scored_cohort(tmp_path_factory.mktemp("qupath"))


@pytest.fixture(scope="module")
def exported(cohort, tmp_path_factory):
    scores = cohort.slidescores
    with np.load(scores / "heatmaps.npz") as grids:
        heatmaps = {k: grids[k] for k in grids.files}
    out = tmp_path_factory.mktemp("geojson")
    files = export_geojson(cohort.store, out, probabilities=pd.read_parquet(
        scores / "tile_probabilities.parquet"), slide_scores=pd.read_csv(
        scores / "slide_scores.csv"), heatmaps=heatmaps, n_clusters=2)
    return out, files


def test_every_tile_is_a_detection_with_its_measurements(cohort, exported):
    out, files = exported
    assert sorted(p.name for p in files) == ["S-A.geojson", "S-B.geojson"]
    tiles = cohort.tiles[cohort.tiles["slide_id"] == "S-A"].reset_index(drop=True)
    detections = [o for o in read_qupath(out / EXTRACTOR / "S-A.geojson")
                  if o.object_type == "detection"]
    assert len(detections) == len(tiles) == len(read_slide(cohort.store, "S-A",
                                                           extractor=EXTRACTOR))
    by_corner = {tuple(o.polygons[0][0][0]): o for o in detections}
    for tile in tiles.itertuples():
        obj = by_corner[(tile.x, tile.y)]
        assert obj.measurements["tumour probability"] == pytest.approx(tile.prob)
        assert obj.measurements["heatmap score"] == pytest.approx(tile.prob / 2)
        assert obj.measurements["tissue fraction"] == pytest.approx(tile.tissue_fraction)
        assert obj.classification == ("Tumor" if tile.prob >= 0.5 else "Non-tumor")
    clusters = {side: {by_corner[(t.x, t.y)].measurements["cluster"] for t in group.itertuples()}
                for side, group in tiles.groupby("right")}
    assert all(len(c) == 1 for c in clusters.values()) and clusters[True] != clusters[False]


def test_regions_are_classified_annotations_carrying_the_slide_scores(cohort, exported):
    out, _ = exported
    features = json.loads((out / EXTRACTOR / "S-A.geojson").read_text())["features"]
    regions = [f for f in features if f["properties"]["objectType"] == "annotation"]
    names = sorted(f["properties"]["classification"]["name"] for f in regions)
    assert names == ["Non-tumor", "Tumor"]  # one edge-connected block of each
    tiles = cohort.tiles[cohort.tiles["slide_id"] == "S-A"]
    for feature in regions:
        right = feature["properties"]["classification"]["name"] == "Tumor"
        mine = tiles[tiles["right"] == right]
        geometry = shape(feature["geometry"])
        assert geometry.area == pytest.approx(len(mine) * 256 * 256)
        measured = feature["properties"]["measurements"]
        assert measured["tiles"] == len(mine)
        assert measured["mean tumour probability"] == pytest.approx(0.9 if right else 0.1)
        assert measured["topk_score"] == pytest.approx(0.9) and measured["label"] == 1
        assert "area µm^2" not in measured  # the toy store records no slide mpp


def test_without_slide_scores_tiles_are_classified_by_cluster(cohort, tmp_path):
    files = export_geojson(cohort.store, tmp_path, extractor=EXTRACTOR, n_clusters=2)
    objects = read_qupath(files[0])
    assert {o.object_type for o in objects} == {"detection"}
    assert {o.classification for o in objects} == {"Cluster 0", "Cluster 1"}
    plain = read_qupath(export_geojson(cohort.store, tmp_path / "plain", n_clusters=0)[0])
    assert set(plain[0].measurements) == {"tissue fraction"} and plain[0].classification == ""
