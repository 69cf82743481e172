"""Paired significance tests between two extractors.

Over resamples (folds of repeated cross-validation) of one target:

* :func:`corrected_resampled_ttest`: Nadeau & Bengio (2003) corrected resampled
  t-test, the right one for repeated CV (training sets overlap, so the plain
  t-test's variance is too small); used with per-fold scores as in Bouckaert &
  Frank (2004), ``J = n_splits * n_repeats`` resamples.
* :func:`paired_ttest` and :func:`wilcoxon_test`: the plain paired t-test (what the
  paper reported) and the Wilcoxon signed-rank test. Over CV folds they are
  **liberal**: the folds share training rows, so their differences are positively
  correlated and both reject a true null about half the time at alpha 0.05
  (``benchmarks/bench_calibration.py``). They are exact for independent pairs, and
  featx reports them over folds only for comparison with the literature, never for
  a verdict.

For one AUC comparison on the same patients, :func:`delong_test` (or
:func:`delong_from_predictions` on the kept out-of-fold scores of a gene). DeLong's
variance treats the two score vectors as fixed: it is **conditional on the fitted
models** and ignores the variation from refitting on other training sets, so on one
repetition's out-of-fold scores it rejects a true null of equal extractors too often
(about 12% at alpha 0.05). Across repetitions the corrected t decides.
:mod:`featx.evaluation.comparisons` runs these tests over score tables.

Every test returns a frozen :class:`ComparisonResult` with the statistic,
p-value, estimate of the difference (a - b) with its confidence interval and an
effect size; ``print(result.summary())`` reads as a sentence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as sstats

from featx._validate import fraction, one_of, positive_int
from featx.errors import DataError, InvalidParameterError

ALTERNATIVES = ("two-sided", "greater", "less")
#: The name DeLong results carry: it is a statement about two fitted models.
DELONG_NAME = "DeLong test of two correlated AUCs (conditional on the fitted models)"


@dataclass(frozen=True)
class ComparisonResult:
    """Outcome of a paired test of ``a`` against ``b``.

    Attributes
    ----------
    test : str
        Name of the test.
    statistic : float
        t, W or z.
    pvalue : float
    estimate : float
        Estimated difference a - b (mean difference; Hodges-Lehmann pseudo-median
        for Wilcoxon; AUC difference for DeLong).
    ci_low, ci_high : float
        Confidence interval of ``estimate``.
    confidence : float
        Level of that interval.
    effect_size : float
    effect_size_name : str
        What ``effect_size`` is (Cohen's d_z, rank-biserial r, ...).
    n : int
        Paired observations (resamples, targets or patients).
    df : float or None
        Degrees of freedom (t tests).
    alternative : str
        "two-sided", "greater" (a > b) or "less".
    """

    test: str
    statistic: float
    pvalue: float
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    effect_size: float
    effect_size_name: str
    n: int
    df: float | None = None
    alternative: str = "two-sided"

    def summary(self) -> str:
        """One readable paragraph."""
        df = f", df = {self.df:g}" if self.df is not None else ""
        verdict = "significant" if self.pvalue < 0.05 else "not significant"
        return (f"{self.test}: difference (a - b) = {self.estimate:.4g}, "
                f"{self.confidence:.0%} CI [{self.ci_low:.4g}, {self.ci_high:.4g}]; "
                f"statistic = {self.statistic:.4g}{df}, p = {self.pvalue:.3g} "
                f"({self.alternative}, {verdict} at 0.05); {self.effect_size_name} = "
                f"{self.effect_size:.3g}; n = {self.n}.")

    def to_dict(self) -> dict[str, object]:
        """Fields as a plain dict (for tables)."""
        return asdict(self)


# ------------------------------------------------------------------ over resamples


def corrected_resampled_ttest(
    a: np.ndarray, b: np.ndarray, *, n_train: float, n_test: float,
    alternative: str = "two-sided", confidence: float = 0.95,
) -> ComparisonResult:
    """Nadeau-Bengio corrected resampled t-test of paired resample scores.

    With ``d = a - b`` over ``J`` resamples, ``t = mean(d) / sqrt((1/J + n_test/n_train)
    * var(d))`` (variance with ddof 1), on ``J - 1`` degrees of freedom.

    Parameters
    ----------
    a, b : array-like
        Scores of the two extractors on the same resamples (e.g. every fold of every
        repetition, in the same order).
    n_train, n_test : float
        Training and test set sizes of one resample.
    alternative : {"two-sided", "greater", "less"}
        "greater" tests a > b.
    confidence : float, default 0.95
        Level of the interval for the mean difference.
    """
    d = _differences(a, b, minimum=2)
    if not (np.isfinite(n_train) and np.isfinite(n_test)) or n_train <= 0 or n_test <= 0:
        raise InvalidParameterError("n_train/n_test", "positive sizes", (n_train, n_test))
    j = len(d)
    se = np.sqrt((1 / j + n_test / n_train) * d.var(ddof=1))
    return _t_result("Nadeau-Bengio corrected resampled t-test", d, se, alternative, confidence)


def paired_ttest(a: np.ndarray, b: np.ndarray, *, alternative: str = "two-sided",
                 confidence: float = 0.95) -> ComparisonResult:
    """Plain paired t-test of paired scores.

    Exact for independent pairs (e.g. independent test sets). Over the folds of repeated
    CV it ignores that training sets overlap and is liberal (about 50-60% false positives
    at alpha 0.05 for two equally good extractors): never use it there for a verdict.
    """
    d = _differences(a, b, minimum=2)
    se = d.std(ddof=1) / np.sqrt(len(d))
    return _t_result("paired t-test", d, se, alternative, confidence)


def _t_result(name: str, d: np.ndarray, se: float, alternative: str,
              confidence: float) -> ComparisonResult:
    one_of("alternative", alternative, ALTERNATIVES)
    confidence = _confidence(confidence)
    mean, df = float(d.mean()), len(d) - 1
    sd = d.std(ddof=1)
    if se == 0:  # every difference equal: no variance to test against
        t = 0.0 if mean == 0 else np.copysign(np.inf, mean)
    else:
        t = mean / se
    p = _t_pvalue(t, df, alternative)
    half = sstats.t.ppf(0.5 + confidence / 2, df) * se
    dz = 0.0 if mean == 0 else (mean / sd if sd > 0 else np.copysign(np.inf, mean))
    return ComparisonResult(name, float(t), float(p), mean, mean - half, mean + half,
                            confidence, float(dz), "Cohen's d_z (mean/sd of differences)",
                            len(d), float(df), alternative)


def _t_pvalue(t: float, df: float, alternative: str) -> float:
    if alternative == "greater":
        return float(sstats.t.sf(t, df))
    if alternative == "less":
        return float(sstats.t.cdf(t, df))
    return float(min(1.0, 2 * sstats.t.sf(abs(t), df)))


def wilcoxon_test(a: np.ndarray, b: np.ndarray, *, alternative: str = "two-sided",
                  confidence: float = 0.95) -> ComparisonResult:
    """Wilcoxon signed-rank test of paired scores.

    Assumes independent pairs; over the folds of repeated CV, or over correlated genes,
    it is liberal (see the module docstring).

    The estimate is the Hodges-Lehmann pseudo-median of the differences with its
    (normal-approximation) Walsh-average interval; the effect size is the
    matched-pairs rank-biserial correlation (W+ - W-) / (W+ + W-).
    """
    one_of("alternative", alternative, ALTERNATIVES)
    confidence = _confidence(confidence)
    d = _differences(a, b, minimum=1)
    nonzero = d[d != 0]
    walsh = np.sort((d[:, None] + d[None, :])[np.triu_indices(len(d))] / 2)
    estimate = float(np.median(walsh))
    n = len(d)
    z = sstats.norm.ppf(0.5 + confidence / 2)
    k = int(np.floor(n * (n + 1) / 4 - z * np.sqrt(n * (n + 1) * (2 * n + 1) / 24)))
    k = min(max(k, 0), len(walsh) - 1)
    ci = (float(walsh[k]), float(walsh[len(walsh) - 1 - k]))
    if len(nonzero) == 0:  # all pairs tie: nothing favours either side
        return ComparisonResult("Wilcoxon signed-rank test", 0.0, 1.0, estimate, *ci,
                                confidence, 0.0, "rank-biserial r", n, None, alternative)
    ranks = sstats.rankdata(np.abs(nonzero))
    w_plus, w_minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    result = sstats.wilcoxon(nonzero, alternative=alternative)
    r = (w_plus - w_minus) / (w_plus + w_minus)
    return ComparisonResult("Wilcoxon signed-rank test", float(result.statistic),
                            float(result.pvalue), estimate, *ci, confidence, float(r),
                            "rank-biserial r", n, None, alternative)


# ---------------------------------------------------------------------- DeLong


def delong_test(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, *,
                alternative: str = "two-sided", confidence: float = 0.95) -> ComparisonResult:
    """DeLong's test of two correlated ROC AUCs (same patients, two score vectors).

    Conditional on the fitted models: the variance is that of the AUCs of these two
    score vectors over resampled patients, not that of refitting the models, so it does
    not say whether one *extractor* is better (the corrected resampled t-test over
    repetitions does). Uses the fast mid-rank algorithm of Sun & Xu (2014). The estimate is
    AUC(a) - AUC(b), with its normal interval; the effect size is AUC(a).

    Parameters
    ----------
    y_true : array-like
        0/1 labels.
    score_a, score_b : array-like
        Scores of the two models for the same patients (higher = more likely 1).
    """
    one_of("alternative", alternative, ALTERNATIVES)
    confidence = _confidence(confidence)
    y = np.asarray(y_true)
    sa, sb = np.asarray(score_a, float), np.asarray(score_b, float)
    if y.ndim != 1 or sa.shape != y.shape or sb.shape != y.shape:
        raise InvalidParameterError("y_true, score_a, score_b", "1-d arrays of equal length",
                                    (y.shape, sa.shape, sb.shape))
    scores = np.vstack([sa, sb])
    if not set(np.unique(y)) <= {0, 1} or len(np.unique(y)) != 2:
        raise DataError("y_true", f"values {np.unique(y)[:5]}", "Pass 0/1 labels with both "
                        "classes present")
    if not np.isfinite(scores).all():
        raise DataError("scores", "NaN or infinite values", "Pass finite scores")
    aucs, cov = delong_covariance(y.astype(bool), scores)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = np.sqrt(max(var, 0.0))
    if se == 0:
        z = 0.0 if diff == 0 else np.copysign(np.inf, diff)
    else:
        z = diff / se
    if alternative == "greater":
        p = sstats.norm.sf(z)
    elif alternative == "less":
        p = sstats.norm.cdf(z)
    else:
        p = 2 * sstats.norm.sf(abs(z))
    half = sstats.norm.ppf(0.5 + confidence / 2) * se
    return ComparisonResult(DELONG_NAME, float(z), float(p), diff,
                            diff - half, diff + half, confidence, float(aucs[0]), "AUC of a",
                            len(y), None, alternative)


def delong_from_predictions(predictions: pd.DataFrame, a: str, b: str, *, target: str,
                            repetition: int = 0, alternative: str = "two-sided",
                            confidence: float = 0.95) -> ComparisonResult:
    """DeLong's test of one gene's out-of-fold AUCs of extractors ``a`` and ``b``.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``ExperimentResult.predictions`` of :func:`featx.evaluation.experiments.predict_mutations`.
    target : str
        Gene.
    repetition : int, default 0
        Which repetition's out-of-fold scores to compare.
    """
    rows = predictions[(predictions["target"] == target)
                       & (predictions["repetition"] == repetition)]
    wide = rows.pivot_table(index=["sample", "label"], columns="extractor", values="score",
                            aggfunc="first").reset_index()
    for name in (a, b):
        if name not in wide:
            raise DataError("predictions", f"no scores of {name!r} for {target!r}, "
                            f"repetition {repetition}", f"Extractors present: "
                            f"{sorted(rows['extractor'].unique())}")
    return delong_test(wide["label"].to_numpy(), wide[a].to_numpy(), wide[b].to_numpy(),
                       alternative=alternative, confidence=confidence)


def delong_covariance(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of each row of ``scores`` and their DeLong covariance matrix.

    Parameters
    ----------
    positive : numpy.ndarray of bool
        True for the positive class.
    scores : numpy.ndarray
        (n_models, n_samples).
    """
    pos, neg = scores[:, positive], scores[:, ~positive]
    m, n = pos.shape[1], neg.shape[1]
    # Mid-ranks within positives, negatives and both give the placement values.
    rank_pos = np.apply_along_axis(sstats.rankdata, 1, pos)
    rank_neg = np.apply_along_axis(sstats.rankdata, 1, neg)
    rank_all = np.apply_along_axis(sstats.rankdata, 1, np.hstack([pos, neg]))
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (rank_all[:, :m] - rank_pos) / n          # per positive: share of negatives below
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m    # per negative: share of positives above
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def _differences(a: np.ndarray, b: np.ndarray, *, minimum: int) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise InvalidParameterError("a, b", "1-d arrays of the same length",
                                    (a.shape, b.shape))
    positive_int("len(a)", len(a))
    if len(a) < minimum:
        raise InvalidParameterError("a, b", f"at least {minimum} paired values", len(a))
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("scores", "NaN or infinite values", "Drop those resamples in both "
                        "a and b, or find why the score is undefined")
    return a - b


def _confidence(value: float) -> float:
    value = fraction("confidence", value)
    if not 0 < value < 1:
        raise InvalidParameterError("confidence", "a number in (0, 1)", value)
    return value
