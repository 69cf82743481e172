"""Extractor comparisons over a tidy score table: per target, across targets, and counts.

Which test answers which question (false-positive rates under the null measured by
``benchmarks/bench_calibration.py`` through the real experiments):

=====================================  ==============================================
question                               test (function, column)
=====================================  ==============================================
is ``a`` better than ``b`` on this     Nadeau-Bengio corrected resampled t over the
target?                                single folds (:func:`compare_extractors`,
                                       ``p_corrected``/``q_corrected``, ``verdict``)
is ``a`` better across all targets?    corrected t over resamples of the per-resample
                                       mean difference over targets
                                       (:func:`compare_over_targets`)
on how many significant targets is     signed count with its stated threshold, and a
``a`` better, and is that more than    corrected t of the per-resample net share of
chance?                                targets where ``a`` wins (:func:`count_better`)
=====================================  ==============================================

Measured (200 null datasets per cell, 10 x 5-fold): the per-target corrected t and the
over-targets test reject 2.5-5.5% of true nulls for tissue and expression, and
4-6.5% for mutation AUCs at 200 patients (40 per test fold), but 7-11.5% at 80 patients
(16 per test fold): treat mutation verdicts on cohorts that small as somewhat liberal.

The plain paired t-test and Wilcoxon over folds (``p_ttest_liberal``,
``p_wilcoxon_liberal``) and Wilcoxon over genes (``method="wilcoxon_liberal"``) are
kept for comparison with the literature; they reject a true null far more often
than alpha and never make a verdict.
"""

from __future__ import annotations

import warnings

import numpy as np
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

#: Column name suffix of tests that do not hold their level over CV folds.
LIBERAL = "liberal"
#: The test behind every per-target verdict, as the comparison table's ``test`` column
#: names it (reports label cards and captions with that column, never with a literal).
PER_TARGET_TEST = "corrected resampled t-test (Nadeau-Bengio) over single folds"
OVER_TARGET_METHODS = ("corrected", "wilcoxon_liberal")
COUNT_CORRECTIONS = ("none", "bh")


def compare_extractors(
    scores: pd.DataFrame, a: str, b: str, *, metric: str, folds: str = "each",
    alpha: float = 0.05, confidence: float = 0.95,
) -> pd.DataFrame:
    """Per-target paired tests of extractor ``a`` against ``b`` on a tidy score table.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``ExperimentResult.scores`` (columns of :data:`featx.evaluation.results.SCORE_COLUMNS`).
    a, b : str
        Extractor names.
    metric : str
        e.g. "pearson_r", "roc_auc", "accuracy".
    folds : {"each"}, default "each"
        Resamples are the single folds (fold >= 0; J = n_splits * n_repeats; correction
        n_test / n_train of a fold). The former ``"pooled"`` mode (one out-of-fold score
        per repetition) is refused: repetitions reuse every patient, so their scores
        differ far less than independent cohorts would, and no correction factor makes
        it hold its level (with Nadeau-Bengio's k / (k - 1) for averaged scores it still
        rejected 20-28% of true nulls at alpha 0.05; ``benchmarks/bench_calibration.py``).
    alpha : float, default 0.05
        Level of the ``verdict`` (on ``q_corrected``).
    confidence : float
        Interval level.

    Returns
    -------
    pandas.DataFrame
        One row per target: a, b, metric, target, n, mean_a, mean_b, mean_diff, ci_low,
        ci_high (corrected), t_corrected, p_corrected, q_corrected (Benjamini-Hochberg
        over targets), effect_size (d_z), better (sign of mean_diff: a, b or tie),
        verdict (a or b where q_corrected < alpha, else "no difference"), test (the name
        of the test behind the verdict and interval, :data:`PER_TARGET_TEST`), and the
        liberal p_ttest_liberal, p_wilcoxon_liberal, q_ttest_liberal, q_wilcoxon_liberal.

    Raises
    ------
    DataError
        An extractor is missing, or every target's scores are NaN (the message names
        them). Resamples with a NaN score are left out with a warning naming the targets,
        and so are targets with fewer than two defined resamples.
    """
    if folds == "pooled":
        raise InvalidParameterError("folds", '"each" (the pooled mode was removed: it rejects '
                                    'a true null 20-28% of the time at alpha 0.05)', folds)
    one_of("folds", folds, ("each",))
    alpha = fraction("alpha", alpha)
    table = _pair(scores, a, b, metric, folds)
    rows = [_target_row(target, group, a, b, confidence)
            for target, group in table.groupby("target", sort=True)]
    out = pd.DataFrame(rows)
    out["q_corrected"] = multipletests(out["p_corrected"], method="fdr_bh")[1]
    for test in ("ttest", "wilcoxon"):
        out[f"q_{test}_{LIBERAL}"] = multipletests(out[f"p_{test}_{LIBERAL}"],
                                                   method="fdr_bh")[1]
    winner = np.where(out["mean_diff"] > 0, a, b)
    # A zero-width interval (every resample gave the same difference) or fewer than 3
    # resamples is never evidence: its p of ~0 only says the spread was not measured.
    measured = (out["n"] >= 3) & (out["ci_high"] > out["ci_low"])
    out["verdict"] = np.where((out["q_corrected"] < alpha) & measured, winner, "no difference")
    out["test"] = PER_TARGET_TEST
    out.insert(0, "metric", metric)
    out.insert(0, "b", b)
    out.insert(0, "a", a)
    first = ["a", "b", "metric", "target", "n", "mean_a", "mean_b", "mean_diff", "ci_low",
             "ci_high", "t_corrected", "p_corrected", "q_corrected", "effect_size", "better",
             "verdict", "test"]
    return out[first + [c for c in out.columns if c not in first]]


def _target_row(target: str, group: pd.DataFrame, a: str, b: str,
                confidence: float) -> dict[str, object]:
    x, y = group[a].to_numpy(), group[b].to_numpy()
    ratio = float((group["n_test"] / group["n_train"]).mean())
    corrected = corrected_resampled_ttest(x, y, n_train=1.0, n_test=ratio,
                                          confidence=confidence)
    return {
        "target": target, "n": len(x), "mean_a": x.mean(), "mean_b": y.mean(),
        "mean_diff": corrected.estimate, "ci_low": corrected.ci_low,
        "ci_high": corrected.ci_high, "t_corrected": corrected.statistic,
        "p_corrected": corrected.pvalue, "effect_size": corrected.effect_size,
        "better": a if corrected.estimate > 0 else (b if corrected.estimate < 0 else "tie"),
        f"p_ttest_{LIBERAL}": paired_ttest(x, y).pvalue,
        f"p_wilcoxon_{LIBERAL}": wilcoxon_test(x, y).pvalue,
    }


def compare_over_targets(scores: pd.DataFrame, a: str, b: str, *, metric: str,
                         method: str = "corrected", confidence: float = 0.95,
                         ) -> ComparisonResult:
    """Is ``a`` better than ``b`` across targets?

    ``method="corrected"`` (recommended): for each resample (repetition, fold) the mean
    over targets of the score difference a - b, then the Nadeau-Bengio corrected
    resampled t-test over those J numbers. Each resample gives one number computed on
    the same patients for every target, so the correlation between genes is inside it
    and the test does not treat correlated genes as independent evidence; the
    correction for overlapping training sets is the one that holds for a single target.
    Where each target has its own folds (mutation: stratified per gene), resample j is
    fold j of every gene's repetition; the mean is still one number per resample.

    ``method="wilcoxon_liberal"``: Wilcoxon over targets of the per-target mean (over
    repetitions) out-of-fold scores, the test of the literature. It treats genes as
    independent and is liberal (about 10% false positives at alpha 0.05).

    Targets with a NaN score in any resample are left out of the corrected test, with a
    warning naming them.

    Returns
    -------
    ComparisonResult
        ``n`` is the number of resamples (corrected) or targets (Wilcoxon).
    """
    one_of("method", method, OVER_TARGET_METHODS)
    if method == "wilcoxon_liberal":
        table = _pair(scores, a, b, metric, "pooled")
        means = table.groupby("target")[[a, b]].mean()
        return wilcoxon_test(means[a].to_numpy(), means[b].to_numpy(), confidence=confidence)
    table = _pair(scores, a, b, metric, "each", complete_targets=True)
    per_resample = _per_resample(table, (table[a] - table[b]).rename("d"), "mean")
    ratio = float((table["n_test"] / table["n_train"]).mean())
    result = corrected_resampled_ttest(per_resample.to_numpy(), np.zeros(len(per_resample)),
                                       n_train=1.0, n_test=ratio, confidence=confidence)
    return _renamed(result, "corrected resampled t-test of the mean difference over targets")


def _per_resample(table: pd.DataFrame, values: pd.Series, how: str) -> pd.Series:
    """One number per (repetition, fold): the mean over targets of ``values``."""
    frame = table[["repetition", "fold", "target"]].assign(v=values.to_numpy())
    counts = frame.groupby(["repetition", "fold"])["target"].nunique()
    if counts.nunique() != 1:
        raise DataError("scores", "resamples with different sets of targets",
                        "Score every target on every fold (one experiment run) first")
    return frame.groupby(["repetition", "fold"])["v"].agg(how)


def _renamed(result: ComparisonResult, name: str) -> ComparisonResult:
    return ComparisonResult(**{**result.to_dict(), "test": name})


def count_better(scores: pd.DataFrame, a: str, b: str, *, metric: str = "pearson_r",
                 p_metric: str = "pearson_p", alpha: float = 0.05, correction: str = "none",
                 null_value: float = 0.0) -> dict[str, object]:
    """The paper's "better for N of the M significant targets", on signed scores, with a test.

    Per target the score is the mean over repetitions of the out-of-fold (fold -1)
    ``metric`` and its p-value the median over repetitions of ``p_metric``. A target is
    significant for an extractor when its p-value is below ``alpha`` **and** its score
    is above ``null_value`` (a correlation of -0.45 is significant, but not a success).
    With ``correction="bh"`` the p-values of each extractor are Benjamini-Hochberg
    adjusted first, over that extractor's defined (non-NaN) p-values only, so one NaN
    does not erase the others. Among targets significant for either extractor, a
    target counts for the one with the higher score; a NaN score counts for neither
    (``undecided``), and so does a tie.

    Whether N_a - N_b is more than chance: for each resample (repetition, fold) the
    mean over the significant targets of sign(score_a - score_b) on that fold, then
    the corrected resampled t-test over resamples (two-sided), as in
    :func:`compare_over_targets`: correlated genes are one number per resample.

    Parameters
    ----------
    scores : pandas.DataFrame
        An ``ExperimentResult.scores`` table.
    a, b : str
        Extractor names.
    metric, p_metric : str
        Score and its p-value (``pearson_r`` and ``pearson_p`` for expression).
    alpha : float, default 0.05
        Significance threshold on the (median) p-value: the paper's P < 0.05.
    correction : {"none", "bh"}, default "none"
        "bh": threshold the Benjamini-Hochberg q-values instead.
    null_value : float, default 0.0
        A significant target must also score above this.

    Returns
    -------
    dict
        targets, significant, better_<a>, better_<b>, undecided, threshold (the rule in
        words), test, estimate (mean net share of wins of a), pvalue (NaN when no
        target is significant).
    """
    alpha = fraction("alpha", alpha)
    one_of("correction", correction, COUNT_CORRECTIONS)
    values, pvals = _pooled_values(scores, a, b, metric, p_metric)
    significant = np.zeros(len(values), dtype=bool)
    for name in (a, b):
        p = pvals[name].to_numpy(dtype=float)
        significant |= _significant(p, correction, alpha) & (values[name].to_numpy() > null_value)
    va, vb = values[a].to_numpy(), values[b].to_numpy()
    better_a, better_b = significant & (va > vb), significant & (vb > va)
    test = _count_test(scores, a, b, metric, list(values.index[significant]))
    return {"targets": len(values), "significant": int(significant.sum()),
            f"better_{a}": int(better_a.sum()), f"better_{b}": int(better_b.sum()),
            "undecided": int(significant.sum() - better_a.sum() - better_b.sum()),
            "threshold": (f"median {p_metric}{' (BH q)' if correction == 'bh' else ''} < "
                          f"{alpha:g} and mean {metric} > {null_value:g} for either extractor"),
            "test": "corrected resampled t-test of the per-resample net share of wins",
            "estimate": test[0], "pvalue": test[1]}


def _pooled_values(scores: pd.DataFrame, a: str, b: str, metric: str,
                   p_metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    pooled = scores[scores["fold"] == -1]
    tables = []
    for what, how in ((metric, "mean"), (p_metric, "median")):
        rows = pooled[pooled["metric"] == what]
        tables.append(rows.groupby(["target", "extractor"])["value"].agg(how).unstack())
    for name in (a, b):
        if any(name not in t for t in tables):
            raise DataError("scores", f"no {metric}/{p_metric} rows for extractor {name!r}",
                            f"Extractors present: {sorted(pooled['extractor'].unique())}")
    values, pvals = (t[[a, b]] for t in tables)
    return values, pvals.reindex(values.index)


def _significant(p: np.ndarray, correction: str, alpha: float) -> np.ndarray:
    defined = np.isfinite(p)
    out = np.zeros(len(p), dtype=bool)
    if correction == "bh" and defined.any():
        out[defined] = multipletests(p[defined], method="fdr_bh")[1] < alpha
    else:
        out[defined] = p[defined] < alpha
    return out


def _count_test(scores: pd.DataFrame, a: str, b: str, metric: str,
                targets: list[str]) -> tuple[float, float]:
    """Mean net share of wins of a per resample, and its corrected t p-value."""
    if not targets:
        return float("nan"), float("nan")
    table = _pair(scores[scores["target"].isin(targets)], a, b, metric, "each",
                  complete_targets=True)
    wins = _per_resample(table, np.sign(table[a] - table[b]), "mean")
    ratio = float((table["n_test"] / table["n_train"]).mean())
    if (wins == wins.iloc[0]).all():  # every resample the same share: no spread to test
        return float(wins.iloc[0]), 1.0 if wins.iloc[0] == 0 else 0.0
    result = corrected_resampled_ttest(wins.to_numpy(), np.zeros(len(wins)), n_train=1.0,
                                       n_test=ratio)
    return result.estimate, result.pvalue


def _pair(scores: pd.DataFrame, a: str, b: str, metric: str, folds: str, *,
          complete_targets: bool = False) -> pd.DataFrame:
    """Wide table: one row per (target, repetition, fold) with columns a and b.

    Resamples where either score is NaN are dropped with a warning (per target); with
    ``complete_targets`` the targets that have any are dropped whole (tests over targets
    need every target in every resample). A DataError names the targets when none is left.
    """
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
    # groupby-first keeps an all-NaN extractor as a NaN column (pivot_table drops it).
    wide = rows.groupby([*keys, "extractor"])["value"].first().unstack("extractor")
    sizes = rows.groupby(keys)[["n_train", "n_test", "n_splits"]].first()
    wide = wide.reindex(columns=[a, b]).join(sizes).reset_index()
    return _drop_undefined(wide, a, b, complete_targets)


def _drop_undefined(wide: pd.DataFrame, a: str, b: str, complete_targets: bool) -> pd.DataFrame:
    """Drop NaN resamples (or whole targets), saying which; refuse when nothing is left."""
    missing = wide[[a, b]].isna().any(axis=1)
    if not missing.any():
        return wide
    per_target = missing.groupby(wide["target"]).agg(["sum", "size"])
    bad = per_target[per_target["sum"] > 0]
    defined = per_target["size"] - per_target["sum"]
    dropped_targets = set(bad.index) if complete_targets else set(defined.index[defined < 2])
    listed = ", ".join(f"{t!r} ({s} of {n})" for t, (s, n) in bad.head(5).iterrows())
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    everywhere = list(bad.index[bad["sum"] == bad["size"]])
    what = (f"NaN in every resample for {everywhere[:5]}; " if everywhere else "")
    detail = (f"{what}resamples without a score of {a!r} or {b!r}, per target: "
              f"{listed}{more}")
    fix = ("Drop those targets (a constant prediction has no correlation; lower the SVR "
           "epsilon or rescale them), or evaluate both extractors on the same folds in one "
           "featx.evaluation.experiments call")
    if dropped_targets == set(per_target.index):
        raise DataError("scores", detail, fix)
    kept_targets = " (those targets left out)" if complete_targets else (
        f"; left out: targets {sorted(dropped_targets)[:5]}" if dropped_targets else "")
    warnings.warn(f"scores: {detail}{kept_targets}. {fix}", UserWarning, stacklevel=4)
    keep = ~missing & ~wide["target"].isin(dropped_targets)
    return wide[keep].reset_index(drop=True)
