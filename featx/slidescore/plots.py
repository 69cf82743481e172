"""Slide-score figures: ROC curves and violin plots, drawn on matplotlib's Agg canvas (no display)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from featx._figures import save_figure, subplots
from featx.errors import InvalidParameterError
from featx.slidescore.metrics import binary_labels


def plot_roc_curves(
    y_true: object, scores: Mapping[str, object], path: str | Path, *, title: str = "Slide ROC"
) -> Path:
    """Save ROC curves of one or more slide scores (name -> scores) as an image."""
    from sklearn.metrics import roc_curve

    if not isinstance(scores, Mapping) or not scores:
        raise InvalidParameterError("scores", "a non-empty mapping of method name -> scores",
                                    type(scores).__name__)
    fig, ax = subplots()
    # Curves often coincide (AUC 1 for both): distinct dashes, markers and widths keep both seen.
    styles = [("-", "o", 3.0), ("--", "s", 2.0), (":", "^", 1.5), ("-.", "D", 1.2)]
    for (name, s), (ls, marker, lw) in zip(scores.items(), styles * len(scores)):
        s = np.asarray(s, dtype=np.float64)
        y = binary_labels(y_true, len(s))
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, ls=ls, marker=marker, lw=lw, ms=5, alpha=0.85,
                label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def plot_score_violins(
    y_true: object, scores: object, path: str | Path, *,
    class_names: tuple[str, str] = ("normal", "tumour"), title: str = "Slide scores by class",
) -> Path:
    """Save a violin plot of slide scores by class, with the slides as points."""
    scores = np.asarray(scores, dtype=np.float64)
    y = binary_labels(y_true, len(scores))
    groups = [scores[y == c] for c in (0, 1)]
    if any(g.size == 0 for g in groups):
        raise InvalidParameterError("y_true", "slides of both classes", np.unique(y).tolist())
    fig, ax = subplots()
    # A violin needs spread; a constant group gets its points only.
    spread = [i for i, g in enumerate(groups) if np.ptp(g) > 0]
    if spread:
        ax.violinplot([groups[i] for i in spread], positions=spread, showmedians=True)
    rng = np.random.default_rng(0)
    for i, g in enumerate(groups):
        ax.scatter(i + rng.uniform(-0.08, 0.08, g.size), g, s=12, color="black", zorder=3)
    ax.set_xticks([0, 1], [f"{n} (n={g.size})" for n, g in zip(class_names, groups, strict=True)])
    ax.set(ylabel="slide score", title=title)
    return save_figure(fig, path)


def plot_heatmap(heatmap: np.ndarray, path: str | Path, *, title: str = "") -> Path:
    """Save a tile heatmap with its axes (tile column and row) and a probability colour bar.

    Off-tissue (NaN) cells stay blank; the figure is about 600 px on its long side
    whatever the grid's size, so small slides are not postage stamps.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise InvalidParameterError("heatmap", "a non-empty 2-D [row, col] array",
                                    getattr(heatmap, "shape", None))
    rows, cols = heatmap.shape
    aspect = rows / cols
    fig, ax = subplots(figsize=(6.5, max(2.5, 5.5 * aspect) + 0.6) if aspect <= 1
                       else (max(3.0, 5.5 / aspect) + 1.5, 6.0))
    image = ax.imshow(np.ma.masked_invalid(heatmap), cmap="inferno", vmin=0, vmax=1,
                      interpolation="nearest")
    ax.set(xlabel="tile column", ylabel="tile row", title=title)
    fig.colorbar(image, ax=ax, shrink=0.85, label="tumour probability")
    return save_figure(fig, path)
