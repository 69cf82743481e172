"""Extractor comparisons over a tidy score table: per target, across targets, and counts.

:func:`compare_extractors` runs the paired tests of :mod:`featx.evaluation.paired_tests`
per target on a score table from :mod:`featx.evaluation.experiments` and adds
Benjamini-Hochberg q-values (statsmodels); :func:`compare_over_targets` tests whether
one extractor is better across targets (Wilcoxon on the per-target mean scores);
:func:`count_better` is the paper's "better for N of the M significant genes".
"""

from __future__ import annotations

import pandas as pd
from statsmodels.stats.multitest import multipletests

from featx._validate import fraction, one_of
from featx.errors import DataError, InvalidParameterError
from featx.evaluation.paired_tests import (
    ComparisonResult,
    corrected_resampled_ttest,
    paired_ttest,
    wilcoxon_test,
)


def compare_extractors(
    scores: pd.DataFrame, a: str, b: str, *, metric: str, folds: str = "each",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per-target paired tests of extractor ``a`` against ``b`` on a tidy score table.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``ExperimentResult.scores`` (columns of :data:`featx.evaluation.experiments.SCORE_COLUMNS`).
    a, b : str
        Extractor names.
    metric : str
        e.g. "pearson_r", "roc_auc", "accuracy".
    folds : {"each", "pooled"}, default "each"
        "each": resamples are the single folds (fold >= 0; J = n_splits * n_repeats;
        correction n_test / n_train of a fold). "pooled": one score per repetition from
        its out-of-fold predictions (fold -1; J = n_repeats; same correction).
    confidence : float
        Interval level.

    Returns
    -------
    pandas.DataFrame
        One row per target: n, mean_a, mean_b, mean_diff, ci_low, ci_high (corrected),
        t_corrected, p_corrected, p_ttest, p_wilcoxon, effect_size (d_z), better
        (a or b), and q_corrected / q_ttest / q_wilcoxon (Benjamini-Hochberg over targets).
    """
    one_of("folds", folds, ("each", "pooled"))
    table = _pair(scores, a, b, metric, folds)
    rows = []
    for target, group in table.groupby("target", sort=True):
        x, y = group[a].to_numpy(), group[b].to_numpy()
        ratio = float((group["n_test"] / group["n_train"]).mean())
        if folds == "pooled":  # a repetition's score uses every fold; its folds' ratio is
            ratio = 1 / (float(group["n_splits"].iloc[0]) - 1)  # 1/(k-1)
        corrected = corrected_resampled_ttest(x, y, n_train=1.0, n_test=ratio,
                                              confidence=confidence)
        rows.append({
            "target": target, "n": len(x), "mean_a": x.mean(), "mean_b": y.mean(),
            "mean_diff": corrected.estimate, "ci_low": corrected.ci_low,
            "ci_high": corrected.ci_high, "t_corrected": corrected.statistic,
            "p_corrected": corrected.p_value, "p_ttest": paired_ttest(x, y).p_value,
            "p_wilcoxon": wilcoxon_test(x, y).p_value, "effect_size": corrected.effect_size,
            "better": a if corrected.estimate > 0 else (b if corrected.estimate < 0 else "tie"),
        })
    out = pd.DataFrame(rows)
    for test in ("corrected", "ttest", "wilcoxon"):
        out[f"q_{test}"] = multipletests(out[f"p_{test}"], method="fdr_bh")[1]
    out.insert(0, "metric", metric)
    out.insert(0, "b", b)
    out.insert(0, "a", a)
    return out


def compare_over_targets(scores: pd.DataFrame, a: str, b: str, *, metric: str,
                         confidence: float = 0.95) -> ComparisonResult:
    """Is ``a`` better than ``b`` across targets? Wilcoxon on per-target mean scores.

    The per-target score is the mean over repetitions of the out-of-fold (fold -1)
    score, the paper's per-gene number.
    """
    table = _pair(scores, a, b, metric, "pooled")
    means = table.groupby("target")[[a, b]].mean()
    return wilcoxon_test(means[a].to_numpy(), means[b].to_numpy(), confidence=confidence)


def count_better(scores: pd.DataFrame, a: str, b: str, *, metric: str = "pearson_r",
                 p_metric: str = "pearson_p", alpha: float = 0.05) -> dict[str, int]:
    """Targets significant for either extractor, and how many of them each does better.

    A target counts as significant when the Benjamini-Hochberg q-value of its median
    (over repetitions) out-of-fold p-value (``p_metric``) is below ``alpha`` for ``a`` or ``b`` (the
    paper: "139 of the 171 genes with significant correlations were better with FTX").
    """
    alpha = fraction("alpha", alpha)
    pooled = scores[scores["fold"] == -1]
    values = pooled[pooled["metric"] == metric].pivot_table(
        index="target", columns="extractor", values="value", aggfunc="mean")
    pvals = pooled[pooled["metric"] == p_metric].pivot_table(
        index="target", columns="extractor", values="value", aggfunc="median")
    for name in (a, b):
        if name not in values or name not in pvals:
            raise DataError("scores", f"no {metric}/{p_metric} rows for extractor {name!r}",
                            f"Extractors present: {sorted(pooled['extractor'].unique())}")
    q = {name: multipletests(pvals[name].to_numpy(), method="fdr_bh")[1] for name in (a, b)}
    significant = (q[a] < alpha) | (q[b] < alpha)
    better_a = significant & (values[a].to_numpy() > values[b].to_numpy())
    return {"targets": len(values), "significant": int(significant.sum()),
            f"better_{a}": int(better_a.sum()),
            f"better_{b}": int(significant.sum() - better_a.sum())}


def _pair(scores: pd.DataFrame, a: str, b: str, metric: str, folds: str) -> pd.DataFrame:
    """Wide table: one row per (target, repetition, fold) with columns a and b."""
    if a == b:
        raise InvalidParameterError("b", "an extractor other than a", b)
    rows = scores[scores["metric"] == metric]
    rows = rows[rows["fold"] >= 0] if folds == "each" else rows[rows["fold"] == -1]
    present = set(rows["extractor"])
    for name in (a, b):
        if name not in present:
            raise DataError("scores", f"no {metric!r} rows for extractor {name!r}"
                            f"{' with fold >= 0' if folds == 'each' else ''}",
                            f"Extractors with that metric: {sorted(present)}")
    keys = ["target", "repetition", "fold"]
    wide = rows.pivot_table(index=keys, columns="extractor", values="value", aggfunc="first")
    sizes = rows.groupby(keys)[["n_train", "n_test", "n_splits"]].first()
    wide = wide[[a, b]].join(sizes).reset_index()
    missing = wide[[a, b]].isna().any(axis=1)
    if missing.any():
        raise DataError("scores", f"{int(missing.sum())} resamples scored for only one of "
                        f"{a!r} and {b!r} (or NaN)", "Evaluate both extractors on the same "
                        "folds (one featx.evaluation.experiments call with both) before comparing")
    return wide
