"""Slide scores from tumour heatmaps, and their slide-level evaluation.

Two scores from the gastric-cancer paper:

- :func:`topk_score`: the mean of the k highest probabilities (the paper: the
  top 1000 pixel probabilities of its segmentation map). ``k`` counts tiles, or
  pixels of the heatmap upsampled ``pixels_per_tile`` times per side.
- :class:`HeatmapForestScorer`: a random forest on 30 heatmap features
  (:func:`heatmap_features`), trained with cross-validation so its training
  slides also get honest, out-of-fold scores.

Their slide-level evaluation is in :mod:`featx.slidescore.metrics`, the figures in
:mod:`featx.slidescore.plots`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from featx._validate import fraction, one_of, positive_int
from featx.errors import InvalidParameterError, NotFittedError
from featx.slidescore.heatmaps import check_heatmap
from featx.slidescore.metrics import binary_labels

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
    n_folds_ : int
        Folds used: ``cv``, or fewer (with a warning) when the smaller class has
        fewer slides than ``cv``.
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
        y = binary_labels(y, len(table))
        smallest = int(np.bincount(y, minlength=2).min())
        if smallest < 2:
            raise InvalidParameterError("y", "at least 2 slides of each class for cross-validation",
                                        np.bincount(y, minlength=2).tolist())
        n_folds = min(positive_int("cv", self.cv), smallest)
        if n_folds < self.cv:
            # Said aloud: fewer folds mean larger training folds' complements, other scores.
            warnings.warn(f"cv={self.cv} lowered to {n_folds} folds: the smaller class has only "
                          f"{smallest} slides (stratified folds need one of each per fold)",
                          UserWarning, stacklevel=2)
        self.n_folds_ = n_folds
        folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=self.random_state)
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
            raise NotFittedError("HeatmapForestScorer", "call fit(heatmaps, y) first")
        table = self._features(heatmaps)
        if list(table.columns) != self.feature_names_:
            raise InvalidParameterError("heatmaps", f"features {self.feature_names_}",
                                        list(table.columns))
        return self.forest_.predict_proba(table.to_numpy(dtype=np.float64))

    def predict(self, heatmaps: Sequence[np.ndarray] | pd.DataFrame) -> np.ndarray:
        """Slide labels at probability 0.5."""
        return (self.predict_proba(heatmaps)[:, 1] >= 0.5).astype(np.int64)
