"""Score a cohort's slides from tile probabilities and write every output (``featx slidescore``).

Outputs in the folder: ``slide_scores.csv`` (top-k score; with labels also the
random forest's out-of-fold score and the label), ``heatmap_features.csv``,
``heatmaps.npz`` (one [row, col] array per slide, NaN off tissue),
``heatmaps/<slide_id>.png`` (with axes and a colour bar), ``tile_probabilities.parquet`` (the input rows, so a
report can paint them over thumbnails), and with labels ``metrics.csv``,
``roc.png`` and ``violin_<score>.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from featx._io import atomic_path, write_table
from featx.errors import DataError, InvalidParameterError
from featx.slidescore.heatmaps import heatmaps_from_table
from featx.slidescore.metrics import evaluate_slide_scores
from featx.slidescore.plots import plot_heatmap, plot_roc_curves, plot_score_violins
from featx.slidescore.scores import HeatmapForestScorer, heatmap_feature_table, topk_score


@dataclass(frozen=True)
class ScoredSlides:
    """What :func:`score_slides` computed and wrote."""

    folder: Path
    scores: pd.DataFrame
    metrics: pd.DataFrame | None


def score_slides(
    tiles: pd.DataFrame,
    out: str | Path,
    *,
    labels: pd.Series | None = None,
    prob_column: str = "prob",
    k: int = 1000,
    unit: str = "tile",
    pixels_per_tile: int = 1,
    forest: bool = True,
    cv: int = 5,
    min_sensitivity: float = 0.99,
) -> ScoredSlides:
    """Heatmaps, top-k and forest slide scores, and their evaluation.

    Parameters
    ----------
    tiles : pandas.DataFrame
        One row per tissue tile: ``slide_id``, ``row``, ``col`` and ``prob_column``.
    out : str or Path
        Output folder (created).
    labels : pandas.Series, optional
        Slide label (1 tumour, 0 normal) indexed by slide_id; adds the forest score,
        metrics and figures.
    prob_column : str
        Column of tile tumour probabilities.
    k, unit, pixels_per_tile
        Top-k score: mean of the k highest values of the heatmap, counted in tiles or
        in pixels of the heatmap upsampled ``pixels_per_tile`` times per side.
    forest : bool
        Train a random forest on 30 heatmap features (needs labels); its scores are
        out-of-fold, so no slide is scored by a forest that saw it.
    cv : int
        Folds of the forest's cross-validation.
    min_sensitivity : float
        Screening operating point for the metrics.
    """
    out = Path(out)
    heatmaps = heatmaps_from_table(tiles, prob_column=prob_column)
    ids = list(heatmaps)
    scores = pd.DataFrame({"slide_id": ids, "n_tiles": [int(np.sum(~np.isnan(h)))
                                                        for h in heatmaps.values()]})
    scores["topk_score"] = [topk_score(h, k=k, unit=unit, pixels_per_tile=pixels_per_tile)
                            for h in heatmaps.values()]
    features = heatmap_feature_table(heatmaps)
    out.mkdir(parents=True, exist_ok=True)
    for slide_id, grid in heatmaps.items():
        plot_heatmap(grid, out / "heatmaps" / f"{slide_id}.png", title=str(slide_id))
    with atomic_path(out / "heatmaps.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **heatmaps)
    write_table(features, out / "heatmap_features.csv", index=True)
    write_table(tiles.rename(columns={prob_column: "prob"}).drop(columns=["embedding"],
                                                                errors="ignore"),
                out / "tile_probabilities.parquet")
    metrics = None
    if labels is not None:
        labels = labels.set_axis(labels.index.astype(str))
        repeated = labels.index[labels.index.duplicated()].unique().tolist()
        if repeated:
            raise DataError("slide labels", f"{len(repeated)} slide id(s) appear more than once "
                            f"(e.g. {repeated[:5]})", "Give each slide one label row")
        unlabelled = [s for s in ids if s not in labels.index]
        if unlabelled:
            raise InvalidParameterError("labels", "a label for every slide in the table",
                                        f"none for {unlabelled[:5]}")
        y = labels.loc[ids].to_numpy()
        scores["label"] = y
        methods = {"topk": scores["topk_score"].to_numpy()}
        if forest:
            scorer = HeatmapForestScorer(cv=cv).fit(features, y)
            scores["forest_score"] = methods["forest"] = scorer.oof_scores_
        metrics = pd.DataFrame({name: evaluate_slide_scores(y, s, min_sensitivity=min_sensitivity)
                                for name, s in methods.items()}).T.rename_axis("score")
        write_table(metrics, out / "metrics.csv", index=True)
        plot_roc_curves(y, methods, out / "roc.png")
        for name, s in methods.items():
            plot_score_violins(y, s, out / f"violin_{name}.png", title=f"{name} slide scores")
    write_table(scores, out / "slide_scores.csv")
    return ScoredSlides(out, scores, metrics)
