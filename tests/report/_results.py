"""Stored results for report tests: what `featx evaluate` writes, from small feature tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def signal_and_noise(n: int = 40, seed: int = 0) -> dict[str, pd.DataFrame]:
    """SIG (three informative columns) and NOISE feature tables of ``n`` TCGA-like patients."""
    rng = np.random.default_rng(seed)
    ids = [f"TCGA-AA-{i:04d}" for i in range(n)]
    signal = rng.normal(size=(n, 3))
    return {"SIG": pd.DataFrame(np.c_[signal, rng.normal(size=(n, 5))], index=ids),
            "NOISE": pd.DataFrame(rng.normal(size=(n, 8)), index=ids)}


def stored_results(folder: Path, feats: dict[str, pd.DataFrame], names: tuple[str, ...] = ("SIG", "NOISE"),
                   n_repeats: int = 3) -> Path:
    """The three experiments of ``feats`` saved as `featx evaluate` saves them, with comparisons."""
    from featx.evaluation.comparisons import compare_extractors
    from featx.evaluation.experiments import classify_tissue, predict_mutations, regress_expression

    rng = np.random.default_rng(1)
    ids = list(next(iter(feats.values())).index)
    signal = feats["SIG"].to_numpy()[:, :3] if "SIG" in feats else rng.normal(size=(len(ids), 3))
    labels = pd.Series(np.where(signal[:, 0] > 0, "tumour", "stroma"), index=ids, name="label")
    expression = pd.DataFrame(np.exp(signal + 0.3 * rng.normal(size=signal.shape)), index=ids,
                              columns=["CD8A", "GZMB", "PRF1"])
    mutations = pd.DataFrame((signal[:, :2] > 0.3).astype(int), index=ids, columns=["TP53", "KRAS"])
    for name, result in (
        ("tissue", classify_tissue(feats, labels, n_splits=4, n_repeats=n_repeats)),
        ("expression", regress_expression(feats, expression, n_splits=4, n_repeats=n_repeats)),
        ("mutation", predict_mutations(feats, mutations, n_splits=4, n_repeats=n_repeats)),
    ):
        result.save(folder)
        if len(feats) < 2:  # one extractor: nothing to compare, as `featx evaluate` writes it
            continue
        metric = {"tissue": "accuracy", "expression": "pearson_r", "mutation": "roc_auc"}[name]
        compare_extractors(result.scores, *names, metric=metric).to_csv(
            folder / f"{name}_comparison.csv", index=False)
    return folder




def synthetic_scores(values: dict[str, tuple[list[float], list[float]]], a: str = "A",
                     b: str = "B", *, experiment: str = "expression", metric: str = "pearson_r",
                     n_splits: int = 5) -> pd.DataFrame:
    """A tidy score table with the given per-fold scores of ``a`` and ``b`` for each target.

    Resample j is repetition j // n_splits, fold j % n_splits; each repetition's pooled
    (fold -1) score is the mean of its folds. NaN marks a resample without a score.
    """
    rows = []
    for target, pair in values.items():
        for name, scores in zip((a, b), pair):
            scores = np.asarray(scores, dtype=float)
            for j, value in enumerate(scores):
                rows.append((name, target, j // n_splits, j % n_splits, value))
            for rep in range(-(-len(scores) // n_splits)):
                part = scores[rep * n_splits:(rep + 1) * n_splits]
                rows.append((name, target, rep, -1,
                             float(np.nanmean(part)) if np.isfinite(part).any() else np.nan))
    table = pd.DataFrame(rows, columns=["extractor", "target", "repetition", "fold", "value"])
    return table.assign(experiment=experiment, metric=metric, n_train=40, n_test=10,
                        n_splits=n_splits)[["experiment", "extractor", "target", "repetition",
                                            "fold", "metric", "value", "n_train", "n_test",
                                            "n_splits"]]
