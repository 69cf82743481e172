"""Slide-level metrics of tumour scores: ROC AUC, PR-AUC, and operating points.

Accuracy, sensitivity, specificity and Cohen's kappa at 0.5 and at the screening
threshold that keeps sensitivity >= 0.99 (the gastric-cancer paper's measures).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, cohen_kappa_score, roc_auc_score

from featx._validate import fraction
from featx.errors import InvalidParameterError


def binary_labels(y: object, n: int) -> np.ndarray:
    """``y`` as int64 0/1 slide labels if it holds ``n`` of them, else raise."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise InvalidParameterError("y", f"{n} slide labels", y.shape)
    if not np.isin(y, (0, 1)).all():
        raise InvalidParameterError("y", "binary slide labels (0 normal, 1 tumour)",
                                    np.unique(y)[:5])
    return y.astype(np.int64)


def screening_threshold(y_true: object, scores: object, *, min_sensitivity: float = 0.99
                        ) -> float:
    """Highest threshold whose sensitivity (score >= threshold) is >= ``min_sensitivity``.

    Choose it on validation slides and apply it to test slides; chosen and
    measured on the same slides it is optimistic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = binary_labels(y_true, len(scores))
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
    y = binary_labels(y_true, len(scores))
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
