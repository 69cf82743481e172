"""Tile probabilities to slide answers: heatmaps, top-k and forest scores, metrics, a U-Net.

::

    tile probabilities --(heatmaps)--> [row, col] grid, NaN off tissue
        --(scores)--> top-k mean, random forest on 30 heatmap features
        --(metrics, plots)--> ROC AUC, PR-AUC, operating points; ROC and violin figures

:func:`score_slides` runs a cohort through all of it (``featx slidescore``).
:mod:`~featx.slidescore.unet` and :mod:`~featx.slidescore.end_to_end` (which import
TensorFlow) learn tumour maps over the grid of tile embeddings.
"""

from featx.slidescore.cohort import ScoredSlides, score_slides
from featx.slidescore.heatmaps import (
    heatmap_rgba,
    heatmaps_from_table,
    overlay_on_thumbnail,
    save_heatmap_png,
    save_overlay_png,
    tile_heatmap,
)
from featx.slidescore.metrics import evaluate_slide_scores, screening_threshold
from featx.slidescore.plots import plot_heatmap, plot_roc_curves, plot_score_violins
from featx.slidescore.probabilities import embedding_probabilities, tile_probabilities
from featx.slidescore.scores import (
    HeatmapForestScorer,
    heatmap_feature_table,
    heatmap_features,
    topk_score,
)

__all__ = ["HeatmapForestScorer", "ScoredSlides", "embedding_probabilities",
           "evaluate_slide_scores", "heatmap_feature_table", "heatmap_features", "heatmap_rgba",
           "heatmaps_from_table", "overlay_on_thumbnail", "plot_heatmap", "plot_roc_curves",
           "plot_score_violins", "save_heatmap_png", "save_overlay_png", "score_slides",
           "screening_threshold", "tile_heatmap", "tile_probabilities", "topk_score"]
