"""Slide scores from heatmaps: top-k, heatmap features, the random forest, evaluation, CLI.

The separation tests run the whole path on generated slides with known tumour
regions: slide -> tissue tiles -> colour-statistics embeddings -> a logistic
regression trained on tiles labelled from two other slides' label masks ->
heatmap -> slide score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from featx.cli._app import app
from featx.errors import InvalidParameterError
from featx.extractors import ColorStatsExtractor
from featx.slidescore.heatmaps import tile_heatmap, upsample_heatmap
from featx.slidescore.metrics import evaluate_slide_scores, screening_threshold
from featx.slidescore.plots import plot_roc_curves, plot_score_violins
from featx.slidescore.probabilities import tile_probabilities
from featx.slidescore.scores import (
    HeatmapForestScorer,
    heatmap_feature_table,
    heatmap_features,
    topk_score,
)
from featx.wsi.annotations import tile_labels_from_mask
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords, read_tiles

SPEC = TileSpec(tile_px=64, tile_mpp=2.0, min_tissue=0.5)  # 128 level-0 px per tile at 1 mpp
WIDTH, HEIGHT = 1536, 1024
N_SLIDES = 16


def _slide_tiles(path):
    with open_slide(path) as slide:
        coords = grid_coords(slide, SPEC)
        return coords, read_tiles(slide, coords), slide.info


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A tile classifier trained on two slides, and heatmaps of 16 other slides (8 with tumour)."""
    root = tmp_path_factory.mktemp("slidescore")
    extractor = ColorStatsExtractor()
    feats, labels = [], []
    for seed in (100, 101):
        s = write_synthetic_slide(root / f"train{seed}.svs", width_px=WIDTH, height_px=HEIGHT,
                                  slide_mpp=1.0, downsamples=(1, 4), seed=seed)  # normal + tumour
        coords, tiles, info = _slide_tiles(s.path)
        lab = tile_labels_from_mask(coords, s.label_mask(8), downsample=8,
                                    level_downsamples=info.level_downsamples)
        feats.append(extractor(tiles)[lab >= 0])
        labels.append(lab[lab >= 0])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classifier.fit(np.concatenate(feats), np.concatenate(labels))

    rng = np.random.default_rng(7)
    heatmaps, y, tables = {}, [], []
    for i in range(N_SLIDES):
        w, h = int(rng.integers(900, 1300)), int(rng.integers(600, 850))
        x0, y0 = int(rng.integers(40, WIDTH - w - 40)), int(rng.integers(40, HEIGHT - h - 40))
        regions = [Region(x0, y0, w, h, "ellipse", "normal")]
        tumour = i % 2 == 0
        if tumour:  # a tumour focus of varying size inside the normal tissue
            side = int(rng.integers(300, 480))
            regions.append(Region(x0 + w // 2 - side // 2 + int(rng.integers(-150, 150)),
                                  y0 + h // 2 - side // 2, side, side, "ellipse", "tumour"))
        s = write_synthetic_slide(root / f"s{i:02d}.svs", width_px=WIDTH, height_px=HEIGHT,
                                  slide_mpp=1.0, regions=regions, downsamples=(1, 4), seed=i)
        with open_slide(s.path) as slide:
            coords = grid_coords(slide, SPEC)
            probs = tile_probabilities(slide, coords, extractor, classifier, batch_size=32)
            embeddings = extractor(read_tiles(slide, coords))
        heatmaps[f"s{i:02d}"] = tile_heatmap(coords, probs)
        tables.append(coords[["slide_id", "row", "col"]].assign(prob=probs,
                                                                 embedding=list(embeddings)))
        y.append(int(tumour))
    return {"heatmaps": heatmaps, "y": np.array(y), "table": pd.concat(tables),
            "classifier": classifier}


def test_topk_scores_separate_tumour_from_normal_slides(generated):
    maps, y = list(generated["heatmaps"].values()), generated["y"]
    tiles = np.array([topk_score(m, k=4) for m in maps])
    assert roc_auc_score(y, tiles) >= 0.95
    # The paper's form: k pixels of an upsampled map (here 8x8 pixels per tile).
    pixels = np.array([topk_score(m, k=256, unit="pixel", pixels_per_tile=8) for m in maps])
    assert roc_auc_score(y, pixels) >= 0.95
    metrics = evaluate_slide_scores(y, tiles)
    assert metrics["roc_auc"] >= 0.95 and metrics["sensitivity_screening"] >= 0.99


def test_forest_scores_separate_tumour_from_normal_slides(generated):
    maps, y = list(generated["heatmaps"].values()), generated["y"]
    scorer = HeatmapForestScorer(cv=4, n_estimators=200, random_state=0).fit(maps, y)
    # Out-of-fold scores: each slide is scored by a forest trained without it.
    assert scorer.cv_roc_auc_ >= 0.95
    assert len(scorer.feature_names_) == 30
    proba = scorer.predict_proba(maps[:3])
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(scorer.classes_, [0, 1])


def test_topk_finds_small_foci_that_the_mean_dilutes():
    # Synthesised heatmaps (no slides): every slide is a tissue area of low, noisy
    # probabilities whose level varies from slide to slide (staining, scanner); tumour
    # slides add a 2x2 focus of high ones, which the slide mean barely notices.
    rng = np.random.default_rng(3)
    maps, y = [], []
    for i in range(40):
        tumour = i % 2
        side = int(rng.integers(16, 24))
        level = rng.uniform(0.03, 0.15)
        grid = rng.beta(2, 2 * (1 / level - 1), (side, side))
        if tumour:
            r, c = rng.integers(0, side - 2, 2)
            grid[r:r + 2, c:c + 2] = rng.uniform(0.7, 0.95, (2, 2))
        maps.append(grid)
        y.append(tumour)
    y = np.array(y)
    topk = [topk_score(m, k=4) for m in maps]
    mean = [float(np.nanmean(m)) for m in maps]
    assert roc_auc_score(y, topk) >= 0.95
    assert roc_auc_score(y, mean) < 0.85


def test_forest_scorer_follows_the_estimator_contract():
    from sklearn.base import clone

    scorer = HeatmapForestScorer(n_estimators=10, cv=3)
    assert clone(scorer).get_params() == scorer.get_params()
    assert not any(name.endswith("_") for name in vars(scorer))
    with pytest.raises(InvalidParameterError, match="each class"):
        scorer.fit([np.zeros((3, 3))] * 4, [0, 0, 0, 1])


def test_topk_tile_and_pixel_units_agree_with_explicit_upsampling():
    rng = np.random.default_rng(0)
    grid = rng.uniform(size=(6, 7))
    grid[rng.uniform(size=grid.shape) < 0.3] = np.nan
    values = np.sort(grid[~np.isnan(grid)])[::-1]
    assert topk_score(grid, k=3) == pytest.approx(values[:3].mean())
    up = upsample_heatmap(grid, 4)
    pixels = np.sort(up[~np.isnan(up)])[::-1]
    for k in (1, 5, 16, 37, 100):
        assert topk_score(grid, k=k, unit="pixel", pixels_per_tile=4) == pytest.approx(
            pixels[:k].mean())
    # Fewer values than k: the mean of all of them.
    assert topk_score(grid, k=10_000) == pytest.approx(values.mean())
    with pytest.raises(InvalidParameterError, match="unit"):
        topk_score(grid, k=3, unit="micron")
    with pytest.raises(InvalidParameterError, match="no tissue"):
        topk_score(np.full((2, 2), np.nan))


def test_heatmap_features_on_known_shapes():
    grid = np.full((10, 12), 0.1)
    grid[0, :] = np.nan                      # a row of glass
    grid[2:5, 1:6] = 0.95                    # a 3 x 5 block: area 15, perimeter 16
    grid[8, 8] = 0.6                         # a single cell above 0.5 only
    feats = heatmap_features(grid)
    assert len(feats) == 30 and all(np.isfinite(v) for v in feats.values())
    assert feats["n_tissue_tiles"] == 108 and feats["max"] == pytest.approx(0.95)
    assert feats["area_ge_0.9"] == 15 and feats["area_ge_0.5"] == 16
    assert feats["fraction_ge_0.5"] == pytest.approx(16 / 108)
    assert feats["regions_ge_0.5_count"] == 2 and feats["regions_ge_0.9_count"] == 1
    assert feats["regions_ge_0.9_largest_area"] == 15
    assert feats["regions_ge_0.9_largest_perimeter"] == 16
    assert feats["regions_ge_0.9_largest_extent"] == pytest.approx(1.0)
    assert feats["regions_ge_0.9_largest_mean"] == pytest.approx(0.95)
    assert 0 < feats["regions_ge_0.9_largest_eccentricity"] < 1
    # An elongated region is more eccentric and longer than a compact one of similar area.
    line = np.full((20, 20), 0.0)
    line[10, 2:18] = 1.0
    square = np.full((20, 20), 0.0)
    square[8:12, 8:12] = 1.0
    fl, fs = heatmap_features(line), heatmap_features(square)
    assert fl["regions_ge_0.9_largest_eccentricity"] > fs["regions_ge_0.9_largest_eccentricity"]
    assert fl["regions_ge_0.9_largest_major_axis"] > fs["regions_ge_0.9_largest_major_axis"]
    # Nothing above the thresholds: region features are 0, not NaN.
    empty = heatmap_features(np.full((4, 4), 0.2))
    assert empty["regions_ge_0.5_count"] == 0 and empty["regions_ge_0.5_largest_area"] == 0
    table = heatmap_feature_table({"a": grid, "b": line})
    assert list(table.index) == ["a", "b"] and table.shape == (2, 30)


def test_evaluation_by_hand():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.6, 0.3, 0.4, 0.7, 0.8, 0.9])
    m = evaluate_slide_scores(y, s)
    assert m["roc_auc"] == pytest.approx(15 / 16)  # of 16 pairs only (0.6, 0.4) misordered
    # At 0.5: predicted positive {0.6, 0.7, 0.8, 0.9}: TP 3, FP 1, TN 3, FN 1.
    assert m["accuracy_at_0.5"] == pytest.approx(6 / 8)
    assert m["sensitivity_at_0.5"] == pytest.approx(3 / 4)
    assert m["specificity_at_0.5"] == pytest.approx(3 / 4)
    assert m["kappa_at_0.5"] == pytest.approx(0.5)
    # Screening keeps every tumour slide: threshold = the lowest tumour score.
    assert m["screening_threshold"] == pytest.approx(0.4)
    assert m["sensitivity_screening"] == 1.0 and m["specificity_screening"] == pytest.approx(0.75)
    # With 200 tumour slides, 0.99 sensitivity allows exactly 2 misses.
    scores = np.arange(200) / 200
    t = screening_threshold(np.ones(200), scores, min_sensitivity=0.99)
    assert np.mean(scores >= t) >= 0.99 and t == pytest.approx(scores[2])
    with pytest.raises(InvalidParameterError, match="both"):
        evaluate_slide_scores(np.ones(4), np.ones(4) / 2)


def test_figures(tmp_path, artifacts_dir, generated):
    maps, y = list(generated["heatmaps"].values()), generated["y"]
    topk = [topk_score(m, k=4) for m in maps]
    mean = [float(np.nanmean(m)) for m in maps]
    roc = plot_roc_curves(y, {"top-4": topk, "mean": mean}, artifacts_dir / "slidescore_roc.png")
    violin = plot_score_violins(y, topk, artifacts_dir / "slidescore_violin.png")
    for path in (roc, violin):
        with Image.open(path) as img:
            assert img.size[0] > 200 and img.size[1] > 200


def test_cli_scores_a_probability_table(tmp_path, generated):
    table = tmp_path / "probs.parquet"
    generated["table"].to_parquet(table)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"slide_id": list(generated["heatmaps"]), "label": generated["y"]}).to_csv(
        labels, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["slidescore", str(table), "--labels", str(labels),
                                      "--k", "4", "--cv", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out / "slide_scores.csv")
    assert list(scores.slide_id) == list(generated["heatmaps"])
    assert roc_auc_score(scores.label, scores.topk_score) >= 0.95
    metrics = pd.read_csv(out / "metrics.csv", index_col=0)
    assert set(metrics.index) == {"topk", "forest"} and metrics.loc["topk", "roc_auc"] >= 0.95
    assert (out / "roc.png").is_file() and (out / "violin_forest.png").is_file()
    assert len(list((out / "heatmaps").glob("*.png"))) == N_SLIDES
    with np.load(out / "heatmaps.npz") as stored:
        np.testing.assert_allclose(stored["s00"], generated["heatmaps"]["s00"])
    bad = CliRunner().invoke(app, ["slidescore", str(table), "--prob-column", "nope",
                                   "-o", str(out)])
    assert bad.exit_code != 0 and "nope" in str(bad.exception)


def test_cli_scores_stored_embeddings_with_a_classifier(tmp_path, generated):
    import joblib

    table = tmp_path / "embeddings.parquet"
    generated["table"].drop(columns="prob").to_parquet(table)
    model = tmp_path / "tile_classifier.joblib"
    joblib.dump(generated["classifier"], model)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["slidescore", str(table), "--classifier", str(model),
                                      "--k", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out / "slide_scores.csv").set_index("slide_id")
    for slide_id, heatmap in generated["heatmaps"].items():
        assert scores.loc[slide_id, "topk_score"] == pytest.approx(topk_score(heatmap, k=4),
                                                                   rel=1e-5)
    assert not (out / "metrics.csv").exists()  # no labels, no metrics


def test_cli_bad_inputs_are_featx_errors_not_tracebacks(tmp_path, generated):
    from featx.errors import DataError, FeatxError

    table = tmp_path / "probs.parquet"
    generated["table"].to_parquet(table)
    ids = list(generated["heatmaps"])
    out = tmp_path / "out"

    def run(*args):
        return CliRunner().invoke(app, ["slidescore", *map(str, args), "-o", str(out)])

    labels = tmp_path / "dup.csv"
    pd.DataFrame({"slide_id": ids + ids[:1], "label": list(generated["y"]) + [0]}).to_csv(
        labels, index=False)
    result = run(table, "--labels", labels)
    assert isinstance(result.exception, DataError) and ids[0] in str(result.exception)
    not_parquet = tmp_path / "probs2.parquet"
    not_parquet.write_text("slide_id,row,col,prob\n")
    assert isinstance(run(not_parquet).exception, DataError)
    not_model = tmp_path / "model.joblib"
    not_model.write_bytes(b"\x80\x04 this is not a pickle")
    result = run(table, "--classifier", not_model)
    assert isinstance(result.exception, DataError) and "joblib.dump" in str(result.exception)
    pixels = generated["table"].assign(row=lambda t: t["row"] * 2240 + 50000,
                                       col=lambda t: t["col"] * 2240 + 70000)
    pixels.to_parquet(tmp_path / "pixels.parquet")
    result = run(tmp_path / "pixels.parquet")
    assert isinstance(result.exception, FeatxError), result.exception
    assert "pixel coordinates" in str(result.exception)


def test_cv_lowered_for_a_small_class_is_said(tmp_path, generated):
    heatmaps = list(generated["heatmaps"].values())[:6]
    y = np.array([1, 1, 0, 0, 0, 0])
    with pytest.warns(UserWarning, match="cv=5 lowered to 2 folds"):
        scorer = HeatmapForestScorer(cv=5).fit(heatmaps, y)
    assert scorer.n_folds_ == 2
    table = tmp_path / "probs.parquet"
    keep = list(generated["heatmaps"])[:6]
    generated["table"].query("slide_id in @keep").to_parquet(table)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"slide_id": keep, "label": y}).to_csv(labels, index=False)
    result = CliRunner().invoke(app, ["slidescore", str(table), "--labels", str(labels),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning: cv=5 lowered to 2 folds" in result.output
