"""Slide scores from tumour heatmaps, and their slide-level evaluation.

Two scores from the gastric-cancer paper:

- :func:`topk_score`: the mean of the k highest probabilities (the paper: the
  top 1000 pixel probabilities of its segmentation map). ``k`` counts tiles, or
  pixels of the heatmap upsampled ``pixels_per_tile`` times per side.
- :class:`HeatmapForestScorer`: a random forest on 30 heatmap features
  (:func:`heatmap_features`), trained with cross-validation so its training
  slides also get honest, out-of-fold scores.

:func:`evaluate_slide_scores` gives ROC AUC, PR-AUC, and accuracy, sensitivity,
specificity and Cohen's kappa at 0.5 and at the screening threshold that keeps
sensitivity >= 0.99; :func:`plot_roc_curves` and :func:`plot_score_violins`
draw the figures (matplotlib's Agg canvas, no display needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import (
    average_precision_score,
    cohen_kappa_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from featx._validate import fraction, one_of, positive_int
from featx.atomic import atomic_path
from featx.errors import InvalidParameterError
from featx.heatmap import check_heatmap

_EIGHT = np.ones((3, 3), dtype=bool)
#: Thresholds for "area above t" features and for connected-region features.
AREA_THRESHOLDS: tuple[float, ...] = (0.5, 0.7, 0.9)
REGION_THRESHOLDS: tuple[float, ...] = (0.5, 0.9)
_PERCENTILES = (50, 75, 90, 95, 99)


def topk_score(
    heatmap: np.ndarray, *, k: int = 1000, unit: str = "tile", pixels_per_tile: int = 1
) -> float:
    """Mean of the k highest probabilities of a heatmap.

    Parameters
    ----------
    heatmap : numpy.ndarray
        2-D grid of tile probabilities, NaN where there is no tissue.
    k : int, default 1000
        How many values to average.
    unit : {"tile", "pixel"}, default "tile"
        ``"tile"``: k tiles. ``"pixel"``: k pixels of the heatmap upsampled
        (nearest neighbour) to ``pixels_per_tile`` x ``pixels_per_tile`` pixels
        per tile, as the paper's top 1000 pixels of a segmentation map.
    pixels_per_tile : int, default 1
        Side of a tile in heatmap pixels, for ``unit="pixel"``.

    Returns
    -------
    float
        When the slide has fewer than k values, the mean of all of them (a small
        slide is scored on all its tissue rather than not at all).
    """
    k = positive_int("k", k)
    one_of("unit", unit, ("tile", "pixel"))
    per_tile = positive_int("pixels_per_tile", pixels_per_tile) ** 2 if unit == "pixel" else 1
    heatmap = check_heatmap(heatmap)
    values = np.sort(heatmap[~np.isnan(heatmap)])[::-1]
    k = min(k, len(values) * per_tile)
    # Each tile stands for per_tile equal pixels: take whole tiles, then a remainder.
    whole, rest = divmod(k, per_tile)
    total = values[:whole].sum() * per_tile + (values[whole] * rest if rest else 0.0)
    return float(total / k)


def _region_shape(rows: np.ndarray, cols: np.ndarray) -> tuple[float, float]:
    """Major-axis length and eccentricity of a region from its second moments."""
    if len(rows) < 2:
        return 1.0, 0.0
    cov = np.cov(np.stack([rows, cols]).astype(np.float64), bias=True)
    low, high = np.clip(np.linalg.eigvalsh(cov), 0, None)
    major = 4 * np.sqrt(high)
    eccentricity = np.sqrt(1 - low / high) if high > 0 else 0.0
    return float(major), float(eccentricity)


def _perimeter(region: np.ndarray) -> int:
    """Number of cell edges between the region and the outside (4-neighbourhood)."""
    padded = np.pad(region, 1).astype(np.int8)
    return int(np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum())


def heatmap_features(
    heatmap: np.ndarray,
    *,
    area_thresholds: Sequence[float] = AREA_THRESHOLDS,
    region_thresholds: Sequence[float] = REGION_THRESHOLDS,
) -> dict[str, float]:
    """Describe a heatmap with summary, area and connected-region features.

    With the default thresholds there are 30 features: the tissue tile count;
    max, mean, std, the 50/75/90/95/99th percentiles and the top-10 mean of the
    probabilities; for each area threshold t, the number and fraction of tissue
    tiles >= t; and for each region threshold, the number of 8-connected
    regions >= t and the area, major-axis length, eccentricity, extent (area /
    bounding box), perimeter and mean probability of the largest one. Lengths
    and areas are in tiles. A slide with no region above t gets 0 for that
    threshold's region features, never NaN.

    Parameters
    ----------
    heatmap : numpy.ndarray
        2-D grid of probabilities, NaN where there is no tissue.
    area_thresholds, region_thresholds : sequence of float
        Thresholds in [0, 1].

    Returns
    -------
    dict of str to float
    """
    heatmap = check_heatmap(heatmap)
    valid = ~np.isnan(heatmap)
    values = heatmap[valid]
    feats: dict[str, float] = {
        "n_tissue_tiles": float(values.size),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }
    for q, v in zip(_PERCENTILES, np.percentile(values, _PERCENTILES), strict=True):
        feats[f"p{q}"] = float(v)
    feats["top10_mean"] = topk_score(heatmap, k=10)
    for t in area_thresholds:
        t = fraction("area_thresholds", t)
        above = int(np.sum(values >= t))
        feats[f"area_ge_{t:g}"] = float(above)
        feats[f"fraction_ge_{t:g}"] = above / values.size
    filled = np.where(valid, heatmap, 0.0)
    for t in region_thresholds:
        t = fraction("region_thresholds", t)
        labelled, n = ndimage.label(valid & (filled >= t), structure=_EIGHT)
        prefix = f"regions_ge_{t:g}"
        feats[f"{prefix}_count"] = float(n)
        if n == 0:
            for name in ("area", "major_axis", "eccentricity", "extent", "perimeter", "mean"):
                feats[f"{prefix}_largest_{name}"] = 0.0
            continue
        sizes = np.bincount(labelled.ravel())[1:]
        largest = labelled == (int(np.argmax(sizes)) + 1)
        rows, cols = np.nonzero(largest)
        major, eccentricity = _region_shape(rows, cols)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        feats[f"{prefix}_largest_area"] = float(rows.size)
        feats[f"{prefix}_largest_major_axis"] = major
        feats[f"{prefix}_largest_eccentricity"] = eccentricity
        feats[f"{prefix}_largest_extent"] = rows.size / box
        feats[f"{prefix}_largest_perimeter"] = float(_perimeter(largest))
        feats[f"{prefix}_largest_mean"] = float(heatmap[largest].mean())
    return feats


def heatmap_feature_table(
    heatmaps: Sequence[np.ndarray] | Mapping[str, np.ndarray], **options: Any
) -> pd.DataFrame:
    """Heatmap features of many slides, one row each (index: slide ids if a mapping).

    ``options`` are passed to :func:`heatmap_features`.
    """
    if isinstance(heatmaps, Mapping):
        names, maps = list(heatmaps), list(heatmaps.values())
    else:
        names, maps = None, list(heatmaps)
    if not maps:
        raise InvalidParameterError("heatmaps", "at least one heatmap", 0)
    rows = [heatmap_features(m, **options) for m in maps]
    return pd.DataFrame(rows, index=pd.Index(names, name="slide_id") if names else None)


def _binary_labels(y: object, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise InvalidParameterError("y", f"{n} slide labels", y.shape)
    if not np.isin(y, (0, 1)).all():
        raise InvalidParameterError("y", "binary slide labels (0 normal, 1 tumour)",
                                    np.unique(y)[:5])
    return y.astype(np.int64)


class HeatmapForestScorer(ClassifierMixin, BaseEstimator):
    """Random forest on heatmap features, trained with stratified cross-validation.

    Parameters
    ----------
    n_estimators : int, default 300
        Trees in the forest.
    cv : int, default 5
        Folds for the out-of-fold scores (reduced to the smaller class count
        when that is lower; at least 2 slides of each class are needed).
    area_thresholds, region_thresholds : tuple of float
        Passed to :func:`heatmap_features`.
    min_samples_leaf : int, default 1
        Forest option.
    random_state : int, default 0
        Seed of the folds and the forest.
    n_jobs : int, optional
        Parallel trees.

    Attributes
    ----------
    forest_ : RandomForestClassifier
        Fitted on all training slides.
    oof_scores_ : numpy.ndarray
        Out-of-fold tumour probability of each training slide.
    cv_roc_auc_ : float
        ROC AUC of the out-of-fold scores.
    feature_names_ : list of str
    classes_ : numpy.ndarray
        ``[0, 1]``.

    Examples
    --------
    >>> scorer = HeatmapForestScorer(cv=5).fit(heatmaps, y)
    >>> scorer.cv_roc_auc_, scorer.predict_proba(new_heatmaps)[:, 1]
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        cv: int = 5,
        area_thresholds: tuple[float, ...] = AREA_THRESHOLDS,
        region_thresholds: tuple[float, ...] = REGION_THRESHOLDS,
        min_samples_leaf: int = 1,
        random_state: int = 0,
        n_jobs: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.cv = cv
        self.area_thresholds = area_thresholds
        self.region_thresholds = region_thresholds
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _features(self, heatmaps: Sequence[np.ndarray] | pd.DataFrame) -> pd.DataFrame:
        if isinstance(heatmaps, pd.DataFrame):  # already a feature table
            return heatmaps
        return heatmap_feature_table(heatmaps, area_thresholds=self.area_thresholds,
                                     region_thresholds=self.region_thresholds)

    def _forest(self) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=positive_int("n_estimators", self.n_estimators),
            min_samples_leaf=positive_int("min_samples_leaf", self.min_samples_leaf),
            random_state=self.random_state, n_jobs=self.n_jobs,
        )

    def fit(self, heatmaps: Sequence[np.ndarray] | pd.DataFrame, y: object
            ) -> HeatmapForestScorer:
        """Fit on heatmaps (or a feature table from :func:`heatmap_feature_table`)."""
        table = self._features(heatmaps)
        y = _binary_labels(y, len(table))
        smallest = int(np.bincount(y, minlength=2).min())
        if smallest < 2:
            raise InvalidParameterError("y", "at least 2 slides of each class for cross-validation",
                                        np.bincount(y, minlength=2).tolist())
        folds = StratifiedKFold(n_splits=min(positive_int("cv", self.cv), smallest), shuffle=True,
                                random_state=self.random_state)
        features = table.to_numpy(dtype=np.float64)
        self.oof_scores_ = cross_val_predict(self._forest(), features, y, cv=folds,
                                             method="predict_proba")[:, 1]
        self.cv_roc_auc_ = float(roc_auc_score(y, self.oof_scores_))
        self.forest_ = self._forest().fit(features, y)
        self.feature_names_ = list(table.columns)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, heatmaps: Sequence[np.ndarray] | pd.DataFrame) -> np.ndarray:
        """Class probabilities (n_slides, 2); column 1 is the tumour score."""
        if not hasattr(self, "forest_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("HeatmapForestScorer is not fitted; call fit(heatmaps, y) first")
        table = self._features(heatmaps)
        if list(table.columns) != self.feature_names_:
            raise InvalidParameterError("heatmaps", f"features {self.feature_names_}",
                                        list(table.columns))
        return self.forest_.predict_proba(table.to_numpy(dtype=np.float64))

    def predict(self, heatmaps: Sequence[np.ndarray] | pd.DataFrame) -> np.ndarray:
        """Slide labels at probability 0.5."""
        return (self.predict_proba(heatmaps)[:, 1] >= 0.5).astype(np.int64)


def screening_threshold(y_true: object, scores: object, *, min_sensitivity: float = 0.99
                        ) -> float:
    """Highest threshold whose sensitivity (score >= threshold) is >= ``min_sensitivity``.

    Choose it on validation slides and apply it to test slides; chosen and
    measured on the same slides it is optimistic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = _binary_labels(y_true, len(scores))
    min_sensitivity = fraction("min_sensitivity", min_sensitivity)
    positives = np.sort(scores[y == 1])
    if positives.size == 0:
        raise InvalidParameterError("y_true", "at least one tumour slide", "none")
    misses = int(np.floor((1 - min_sensitivity) * positives.size + 1e-9))
    return float(positives[misses])


def _at_threshold(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    pred = (scores >= threshold).astype(np.int64)
    tp = int(np.sum((pred == 1) & (y == 1)))
    tn = int(np.sum((pred == 0) & (y == 0)))
    return {
        "threshold": float(threshold),
        "accuracy": float(np.mean(pred == y)),
        "sensitivity": tp / int(np.sum(y == 1)),
        "specificity": tn / int(np.sum(y == 0)),
        # Defined: y holds both classes (checked by the caller), so chance agreement < 1.
        "kappa": float(cohen_kappa_score(y, pred)),
    }


def evaluate_slide_scores(
    y_true: object, scores: object, *, threshold: float = 0.5, min_sensitivity: float = 0.99,
    screening_at: float | None = None,
) -> dict[str, float]:
    """Slide-level metrics of tumour scores.

    Parameters
    ----------
    y_true : array-like of {0, 1}
        Slide labels (1 tumour). Both classes must be present.
    scores : array-like of float
        Slide scores; higher means tumour.
    threshold : float, default 0.5
        Operating point for the first set of metrics.
    min_sensitivity : float, default 0.99
        Sensitivity the screening operating point must keep.
    screening_at : float, optional
        A screening threshold chosen beforehand (on validation slides). Default:
        chosen on these slides with :func:`screening_threshold` (optimistic).

    Returns
    -------
    dict
        ``roc_auc``, ``pr_auc`` (average precision), ``n_slides``, ``n_tumour``,
        and ``accuracy``, ``sensitivity``, ``specificity``, ``kappa`` with suffix
        ``_at_0.5`` (or the given threshold) and ``_screening``, plus
        ``screening_threshold``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = _binary_labels(y_true, len(scores))
    if not np.all(np.isfinite(scores)):
        raise InvalidParameterError("scores", "finite slide scores", "NaN/inf")
    if len(np.unique(y)) < 2:
        raise InvalidParameterError("y_true", "both tumour (1) and normal (0) slides",
                                    np.unique(y).tolist())
    out: dict[str, float] = {
        "n_slides": float(len(y)), "n_tumour": float(y.sum()),
        "roc_auc": float(roc_auc_score(y, scores)),
        "pr_auc": float(average_precision_score(y, scores)),
    }
    screen = (screening_threshold(y, scores, min_sensitivity=min_sensitivity)
              if screening_at is None else float(screening_at))
    for suffix, t in ((f"at_{threshold:g}", threshold), ("screening", screen)):
        for name, value in _at_threshold(y, scores, t).items():
            if name == "threshold":
                continue
            out[f"{name}_{suffix}"] = value
    out["screening_threshold"] = screen
    return out


def _figure(width: float = 5.0, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    """Save a figure atomically; the format follows the suffix (png, pdf, svg)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")
    return path


def plot_roc_curves(
    y_true: object, scores: Mapping[str, object], path: str | Path, *, title: str = "Slide ROC"
) -> Path:
    """Save ROC curves of one or more slide scores (name -> scores) as an image."""
    from sklearn.metrics import roc_curve

    if not isinstance(scores, Mapping) or not scores:
        raise InvalidParameterError("scores", "a non-empty mapping of method name -> scores",
                                    type(scores).__name__)
    fig = _figure()
    ax = fig.add_subplot()
    for name, s in scores.items():
        s = np.asarray(s, dtype=np.float64)
        y = _binary_labels(y_true, len(s))
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_score_violins(
    y_true: object, scores: object, path: str | Path, *,
    class_names: tuple[str, str] = ("normal", "tumour"), title: str = "Slide scores by class",
) -> Path:
    """Save a violin plot of slide scores by class, with the slides as points."""
    scores = np.asarray(scores, dtype=np.float64)
    y = _binary_labels(y_true, len(scores))
    groups = [scores[y == c] for c in (0, 1)]
    if any(g.size == 0 for g in groups):
        raise InvalidParameterError("y_true", "slides of both classes", np.unique(y).tolist())
    fig = _figure()
    ax = fig.add_subplot()
    # A violin needs spread; a constant group gets its points only.
    spread = [i for i, g in enumerate(groups) if np.ptp(g) > 0]
    if spread:
        ax.violinplot([groups[i] for i in spread], positions=spread, showmedians=True)
    rng = np.random.default_rng(0)
    for i, g in enumerate(groups):
        ax.scatter(i + rng.uniform(-0.08, 0.08, g.size), g, s=12, color="black", zorder=3)
    ax.set_xticks([0, 1], [f"{n} (n={g.size})" for n, g in zip(class_names, groups, strict=True)])
    ax.set(ylabel="slide score", title=title)
    return _save(fig, path)


def tile_probabilities(
    slide: Any,
    coords: pd.DataFrame,
    extractor: Any,
    classifier: Any,
    *,
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """Tumour probability of each tile: read tiles, embed them, classify them.

    Parameters
    ----------
    slide : featx.slide.Slide
        The open slide.
    coords : pandas.DataFrame
        Its tile table (:func:`featx.tiling.grid_coords`).
    extractor : featx.extractors.Extractor
        Embeds uint8 tile batches.
    classifier : scikit-learn classifier
        Fitted on embeddings with ``predict_proba``; the tumour class is label 1
        (or the last class when the labels are not 0/1).
    batch_size : int, default 64
        Tiles per batch; memory is bounded by one batch.
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    numpy.ndarray of float64, shape (n_tiles,)
    """
    from featx.tiling import iter_tile_batches

    out = [embedding_probabilities(classifier, extractor(tiles))
           for _, tiles in iter_tile_batches(slide, coords, batch_size=batch_size,
                                             progress=progress)]
    return np.concatenate(out) if out else np.zeros(0)


def embedding_probabilities(classifier: Any, embeddings: np.ndarray) -> np.ndarray:
    """Tumour probability of each embedding from a fitted scikit-learn classifier.

    The tumour class is label 1 (or the last class when the labels are not 0/1).

    Returns
    -------
    numpy.ndarray of float64, shape (n_tiles,)
    """
    if not hasattr(classifier, "predict_proba"):
        raise InvalidParameterError("classifier", "a fitted classifier with predict_proba",
                                    type(classifier).__name__)
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise InvalidParameterError("embeddings", "a 2-D array (n_tiles, n_features)",
                                    embeddings.shape)
    classes = list(getattr(classifier, "classes_", [0, 1]))
    column = classes.index(1) if 1 in classes else len(classes) - 1
    return np.asarray(classifier.predict_proba(embeddings)[:, column], dtype=np.float64)
