"""Extractor comparisons over a tidy score table: per target, across targets, and counts.

Which test answers which question (false-positive rates under the null measured by
``benchmarks/bench_calibration.py`` through the real experiments; README, "Which test
answers which question"):

=====================================  ==============================================
question                               test (function, column)
=====================================  ==============================================
is ``a`` better than ``b``, and for    the verdict rule (:mod:`featx.evaluation.
which targets?                         verdict_rules`): corrected resampled t over
                                       single folds with a calibrated variance factor,
                                       no verdict near chance, Benjamini-Hochberg over
                                       targets (:func:`compare_extractors`, ``verdict``;
                                       its headline: ``overall_verdict``)
is ``a`` better across all targets,    corrected t over resamples of the per-resample
on average?                            mean difference over targets, same factor
                                       (:func:`compare_over_targets`)
on how many significant targets is     a signed count with its stated threshold; a
``a`` better?                          description, not a test (:func:`count_better`)
=====================================  ==============================================

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
    paired_ttest,
    wilcoxon_test,
)
from featx.evaluation.verdict_rules import (
    CHANCE_LEVELS,
    DEFAULT_RULE,
    NO_DIFFERENCE,
    NOT_ENOUGH_DATA,
    RULES,
    Decisions,
    VerdictRule,
    benjamini_hochberg,
    checked_rule,
    corrected_t,
    decide,
)

#: Column name suffix of tests that do not hold their level over CV folds.
LIBERAL = "liberal"
#: The test of a comparison table written before featx recorded its ``test`` column.
PER_TARGET_TEST = RULES["nadeau-bengio"].test
OVER_TARGET_METHODS = ("corrected", "wilcoxon_liberal")
COUNT_CORRECTIONS = ("none", "bh")


def compare_extractors(
    scores: pd.DataFrame, a: str, b: str, *, metric: str, folds: str = "each",
    alpha: float = 0.05, confidence: float = 0.95,
    verdict_rule: str | VerdictRule = DEFAULT_RULE,
    chance: float | None = None,
) -> pd.DataFrame:
    """Per-target paired tests of extractor ``a`` against ``b``, and the verdict of each.

    The verdict follows ``verdict_rule`` (:mod:`featx.evaluation.verdict_rules`): the corrected
    resampled t over single folds with the rule's variance factor, Benjamini-Hochberg
    over the targets compared, no verdict where the extractors' mean score is not above
    chance.
    :func:`~featx.evaluation.verdict_rules.overall_verdict` of the table is the
    headline over all targets, the sentence a report shows.

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
        Level of the ``verdict`` (on ``q_corrected``) and of the chance check.
    confidence : float
        Interval level.
    verdict_rule : str or VerdictRule, default "calibrated"
        The verdict rule (:data:`~featx.evaluation.verdict_rules.RULES`).
    chance : float, optional
        The score of an extractor that predicts nothing; default 0.5 for ROC AUC, 0 for
        Pearson r, none (no chance check) for other metrics. Tissue accuracy: the share
        of the largest class (:func:`featx.evaluation.experiments.run_evaluation` passes it).

    Returns
    -------
    pandas.DataFrame
        One row per target: a, b, metric, target, n, mean_a, mean_b, mean_diff, ci_low,
        ci_high (the rule's interval), t_corrected, p_corrected, q_corrected
        (Benjamini-Hochberg over the targets compared), effect_size (d_z), better (sign of
        mean_diff: a, b or tie), verdict (a, b, "no difference", or "not enough data"
        where the two extractors' mean score is not above chance), reason (the verdict in
        words), test (the name of the test behind the verdict and interval), rule,
        variance_factor, df, chance, above_chance, gate_pvalue, and the
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
    rule = checked_rule(verdict_rule)
    chance = CHANCE_LEVELS.get(metric) if chance is None else float(chance)
    table = _pair(scores, a, b, metric, folds)
    targets, x, y, ratio = paired_matrices(table, a, b)
    decisions = decide(x, y, ratio, rule, alpha=alpha, chance=chance, confidence=confidence)
    tests = decisions.tests
    d = x - y
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.nanstd(d, axis=1, ddof=1)
        d_z = np.where(sd > 0, tests.mean / sd, np.where(tests.mean == 0, 0.0,
                                                          np.copysign(np.inf, tests.mean)))
    out = pd.DataFrame({
        "a": a, "b": b, "metric": metric, "target": targets, "n": tests.n,
        "mean_a": np.nanmean(x, axis=1), "mean_b": np.nanmean(y, axis=1),
        "mean_diff": tests.mean, "ci_low": tests.ci_low, "ci_high": tests.ci_high,
        "t_corrected": tests.statistic, "p_corrected": tests.pvalue,
        "q_corrected": decisions.q, "effect_size": d_z,
        "better": np.where(tests.mean > 0, a, np.where(tests.mean < 0, b, "tie")),
        "verdict": _verdicts(decisions, a, b),
        "reason": _reasons(decisions, rule, alpha, chance, a, b), "test": rule.test,
        "rule": rule.name, "variance_factor": rule.inflation * ratio, "df": tests.df,
        "chance": np.nan if chance is None else chance, "above_chance": decisions.compared,
        "gate_pvalue": decisions.gate_pvalue,
    })
    for test, function in (("ttest", paired_ttest), ("wilcoxon", wilcoxon_test)):
        p = [function(row[np.isfinite(row)], other[np.isfinite(row)]).pvalue
             for row, other in zip(x, y)]
        out[f"p_{test}_{LIBERAL}"] = p
        out[f"q_{test}_{LIBERAL}"] = benjamini_hochberg(np.asarray(p))
    return out


def paired_matrices(table: pd.DataFrame, a: str, b: str,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Targets (sorted), and (targets, resamples) score matrices of a and b with the mean
    n_test / n_train of each target's resamples; NaN where a resample is missing."""
    wide = table.pivot_table(index="target", columns=["repetition", "fold"],
                             values=[a, b], aggfunc="first", dropna=False, sort=True)
    ratio = (table["n_test"] / table["n_train"]).groupby(table["target"], sort=True).mean()
    return (np.asarray(wide.index, dtype=str), wide[a].to_numpy(float), wide[b].to_numpy(float),
            ratio.reindex(wide.index).to_numpy(float))


def _verdicts(decisions: Decisions, a: str, b: str) -> np.ndarray:
    named = np.where(decisions.winner > 0, a, np.where(decisions.winner < 0, b, NO_DIFFERENCE))
    return np.where(decisions.compared, named, NOT_ENOUGH_DATA)


def _reasons(decisions: Decisions, rule: VerdictRule, alpha: float, chance: float | None,
             a: str, b: str) -> list[str]:
    """Each target's verdict in words."""
    out = []
    for i, winner in enumerate(decisions.winner):
        if not decisions.compared[i]:
            out.append(f"the mean score of {a} and {b} is not above chance ({chance:g})")
        elif winner:
            out.append(f"BH q {decisions.q[i]:.2g} < {alpha:g}")
        elif not decisions.measured[i]:
            out.append("no spread over the resamples to test against")
        elif rule.gate and not decisions.gate_pvalue < alpha:
            out.append(f"over-targets test p {decisions.gate_pvalue:.2g} >= {alpha:g} (gate)")
        else:
            out.append(f"BH q {decisions.q[i]:.2g} >= {alpha:g}")
    return out


def compare_over_targets(scores: pd.DataFrame, a: str, b: str, *, metric: str,
                         method: str = "corrected", confidence: float = 0.95,
                         verdict_rule: str | VerdictRule = DEFAULT_RULE) -> ComparisonResult:
    """Is ``a`` better than ``b`` across targets?

    ``method="corrected"`` (recommended): for each resample (repetition, fold) the mean
    over targets of the score difference a - b, then the corrected resampled t-test over
    those J numbers with ``verdict_rule``'s variance factor and degrees of freedom. Each resample
    gives one number computed on the same patients for every target, so the correlation
    between genes is inside it and the test does not treat correlated genes as
    independent evidence. Where each target has its own folds (mutation: stratified per
    gene), resample j is fold j of every gene's repetition; the mean is still one number
    per resample.

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
    rule = checked_rule(verdict_rule)
    table = _pair(scores, a, b, metric, "each", complete_targets=True)
    per_resample = _per_resample(table, (table[a] - table[b]).rename("d"), "mean").to_numpy()
    ratio = float((table["n_test"] / table["n_train"]).mean())
    tests = corrected_t(per_resample, np.array([ratio]), rule, confidence=confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = per_resample.std(ddof=1)
        d_z = float(tests.mean[0] / sd) if sd > 0 else 0.0
    return ComparisonResult(
        f"corrected resampled t-test of the mean difference over targets ({rule.name} rule)",
        float(tests.statistic[0]), float(tests.pvalue[0]), float(tests.mean[0]),
        float(tests.ci_low[0]), float(tests.ci_high[0]), confidence, d_z,
        "Cohen's d_z (mean/sd of differences)", len(per_resample), float(tests.df[0]))


def _per_resample(table: pd.DataFrame, values: pd.Series, how: str) -> pd.Series:
    """One number per (repetition, fold): the mean over targets of ``values``."""
    frame = table[["repetition", "fold", "target"]].assign(v=values.to_numpy())
    counts = frame.groupby(["repetition", "fold"])["target"].nunique()
    if counts.nunique() != 1:
        raise DataError("scores", "resamples with different sets of targets",
                        "Score every target on every fold (one experiment run) first")
    return frame.groupby(["repetition", "fold"])["v"].agg(how)


def count_better(scores: pd.DataFrame, a: str, b: str, *, metric: str = "pearson_r",
                 p_metric: str = "pearson_p", alpha: float = 0.05, correction: str = "none",
                 null_value: float = 0.0) -> dict[str, object]:
    """The paper's "better for N of the M significant targets", on signed scores: a count.

    Per target the score is the mean over repetitions of the out-of-fold (fold -1)
    ``metric`` and its p-value the median over repetitions of ``p_metric``. A target is
    significant for an extractor when its p-value is below ``alpha`` **and** its score
    is above ``null_value`` (a correlation of -0.45 is significant, but not a success).
    With ``correction="bh"`` the p-values of each extractor are Benjamini-Hochberg
    adjusted first, over that extractor's defined (non-NaN) p-values only, so one NaN
    does not erase the others. Among targets significant for either extractor, a
    target counts for the one with the higher score; a NaN score counts for neither
    (``undecided``), and so does a tie.

    The count describes; it is not a verdict. It has no p-value: the targets are chosen
    by the same scores that then decide who wins them (a target enters because one
    extractor's score is high), so no test of the split holds its level (the removed
    corrected t of the net share of wins rejected 39% of true nulls at alpha 0.05 with
    both extractors pure noise). Whether A is better, and for which targets, is
    :func:`compare_extractors`' verdict.

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
        words).
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
    return {"targets": len(values), "significant": int(significant.sum()),
            f"better_{a}": int(better_a.sum()), f"better_{b}": int(better_b.sum()),
            "undecided": int(significant.sum() - better_a.sum() - better_b.sum()),
            "threshold": (f"median {p_metric}{' (BH q)' if correction == 'bh' else ''} < "
                          f"{alpha:g} and mean {metric} > {null_value:g} for either extractor")}


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
