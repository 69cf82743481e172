"""When a comparison of two extractors names a winner: the verdict rule, per target and overall.

The reader of a featx report reads one sentence per experiment: "A is better for N
targets", "no evidence of a difference", or "not enough data to compare". A rule is
valid only if that sentence, over *all* targets, names a winner in at most alpha of
datasets where the extractors are equally good. Per target the rule is the
Nadeau-Bengio corrected resampled t over single folds, with three changes the
calibration benchmark (``benchmarks/bench_calibration.py``) showed necessary:

* **a calibrated variance factor**: ``inflation`` times Nadeau-Bengio's n_test / n_train.
  One noise draw of an extractor is a dataset-level "luck" that every fold and every
  gene shares, so the folds' differences correlate more than n_test / n_train assumes;
* **refusing near chance**: where the two extractors' mean score is not above chance (a
  one-sided corrected test at alpha), the target's verdict is "not enough data", never a
  winner: a LASSO that finds no signal picks the same spurious features in every fold
  of the same patients, and its AUC differences look consistent when they are noise. The
  check reads the *mean* of a and b, whose noise is uncorrelated with that of their
  difference when they are equally good; selecting targets where either one alone beats
  chance would pick those where that one was lucky, and then find it better;
* **a gate, then Benjamini-Hochberg over the targets compared**: no target's winner is
  named until the over-targets test (the same corrected t of the per-resample mean
  difference over the compared targets) rejects, closed-testing style; the gate is what
  lets the variance factor stay small, so that single targets keep their power.

:data:`RULES` holds the named rules; :data:`DEFAULT_RULE` (``calibrated``: factor 1.25,
chance check, gate) is the one the measured table chose: of the candidates whose verdict
named a winner in at most 7.5% of null datasets in every cell (and 5% pooled), the one
with the most power (README, "Which test answers which question"). One consequence of
the gate: where A is better for some targets and B for others by as much, the mean
difference is near zero and no winner is named for either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sstats
from statsmodels.stats.multitest import multipletests

from featx._validate import fraction, positive_float
from featx.errors import InvalidParameterError

#: Score of an extractor that predicts nothing, per metric (accuracy: the majority share,
#: which the score table does not hold; pass it as ``chance``).
CHANCE_LEVELS = {"roc_auc": 0.5, "pearson_r": 0.0}
NO_DIFFERENCE = "no difference"
NOT_ENOUGH_DATA = "not enough data"


@dataclass(frozen=True)
class VerdictRule:
    """How per-fold scores become a verdict.

    Attributes
    ----------
    name : str
    inflation : float
        The variance factor is ``inflation * n_test / n_train`` (1: Nadeau-Bengio).
    df : float or None
        Degrees of freedom of the reference t distribution; None: resamples - 1.
        A fixed small value is Bouckaert's calibrated degrees of freedom.
    chance : bool
        Refuse a verdict ("not enough data") where the extractors' mean score is not above
        chance.
    gate : bool
        Name per-target winners only when the over-targets test rejects.
    """

    name: str
    inflation: float = 1.0
    df: float | None = None
    chance: bool = False
    gate: bool = False

    @property
    def config(self) -> dict[str, object]:
        """JSON identity (for provenance)."""
        return asdict(self)

    @property
    def test(self) -> str:
        """The name of the per-target test behind the verdict and its interval."""
        if self.inflation == 1 and self.df is None:
            return "corrected resampled t-test (Nadeau-Bengio) over single folds"
        how = [f"variance factor {self.inflation:g} x Nadeau-Bengio's"] if self.inflation != 1 else []
        how += [f"{self.df:g} degrees of freedom"] if self.df is not None else []
        return f"corrected resampled t-test over single folds ({', '.join(how)})"

    def describe(self) -> str:
        """The rule in words, for reports and provenance."""
        factor = ("Nadeau-Bengio's n_test/n_train" if self.inflation == 1 else
                  f"{self.inflation:g} x Nadeau-Bengio's n_test/n_train")
        words = [f"{self.name}: corrected resampled t over single folds, variance factor "
                 f"{factor}",
                 "t reference with " + ("resamples - 1" if self.df is None else f"{self.df:g}")
                 + " degrees of freedom", "Benjamini-Hochberg over targets"]
        if self.chance:
            words.append("no verdict where the two extractors' mean score is not above chance")
        if self.gate:
            words.append("per-target winners only after the over-targets test rejects")
        return "; ".join(words)


RULES = {
    "nadeau-bengio": VerdictRule("nadeau-bengio"),
    "calibrated": VerdictRule("calibrated", inflation=1.25, chance=True, gate=True),
}
DEFAULT_RULE = "calibrated"


def checked_rule(rule: str | VerdictRule) -> VerdictRule:
    """A rule by name (:data:`RULES`) or as given, checked."""
    if isinstance(rule, VerdictRule):
        positive_float("verdict_rule.inflation", rule.inflation)
        if rule.df is not None:
            positive_float("verdict_rule.df", rule.df)
        return rule
    if rule not in RULES:
        raise InvalidParameterError("verdict_rule", f"one of {sorted(RULES)} or a VerdictRule",
                                    rule)
    return RULES[rule]


@dataclass(frozen=True)
class TTests:
    """Corrected t-tests of the row means of a (rows, resamples) matrix, one per row."""

    n: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def corrected_t(values: np.ndarray, ratio: np.ndarray, rule: VerdictRule, *,
                null: float = 0.0, alternative: str = "two-sided",
                confidence: float = 0.95) -> TTests:
    """The rule's corrected t of each row of ``values`` against ``null``.

    Parameters
    ----------
    values : numpy.ndarray
        (rows, resamples); NaN where a resample is missing (left out of that row).
    ratio : numpy.ndarray
        (rows,) mean n_test / n_train of each row's resamples.
    rule : VerdictRule
    null : float
        The mean under the null hypothesis.
    alternative : {"two-sided", "greater"}
    confidence : float
        Level of the interval of the mean.
    """
    confidence = fraction("confidence", confidence)
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n = np.sum(np.isfinite(values), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(values, axis=1)
        variance = np.nanvar(values, axis=1, ddof=1)
        se = np.sqrt((1 / n + rule.inflation * np.asarray(ratio, float)) * variance)
        shift = mean - null
        statistic = np.where(se > 0, shift / se, np.where(shift == 0, 0.0,
                                                          np.copysign(np.inf, shift)))
    df = np.full(len(n), float(rule.df)) if rule.df is not None else (n - 1).astype(float)
    if alternative == "greater":
        pvalue = sstats.t.sf(statistic, df)
    else:
        pvalue = np.minimum(1.0, 2 * sstats.t.sf(np.abs(statistic), df))
    half = sstats.t.ppf(0.5 + confidence / 2, df) * se
    return TTests(n, mean, se, statistic, pvalue, df, mean - half, mean + half)


@dataclass(frozen=True)
class Decisions:
    """The rule applied to every target of one pair of extractors.

    Attributes
    ----------
    tests : TTests
        The rule's corrected t of a - b per target.
    q : numpy.ndarray
        Benjamini-Hochberg q-values over the targets compared (NaN for the others).
    compared : numpy.ndarray of bool
        Targets where the extractors' mean score is above chance (all, where the rule or
        the metric has no chance check).
    measured : numpy.ndarray of bool
        At least 3 resamples and an interval of non-zero width.
    gate_pvalue : float
        The over-targets test of the mean difference (NaN without a gate).
    winner : numpy.ndarray of int
        +1: a is better; -1: b is better; 0: no winner named.
    """

    tests: TTests
    q: np.ndarray
    compared: np.ndarray
    measured: np.ndarray
    gate_pvalue: float
    winner: np.ndarray


def decide(a: np.ndarray, b: np.ndarray, ratio: np.ndarray, rule: VerdictRule, *,
           alpha: float = 0.05, chance: float | None = None,
           confidence: float = 0.95) -> Decisions:
    """Apply ``rule`` to per-fold scores of a and b: (targets, resamples), NaN where missing.

    ``chance``: the score of an extractor that predicts nothing (:data:`CHANCE_LEVELS`),
    or None where unknown (no chance check).
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    ratio = np.asarray(ratio, float)
    tests = corrected_t(a - b, ratio, rule, confidence=confidence)
    compared = np.ones(len(a), dtype=bool)
    if rule.chance and chance is not None:
        compared = corrected_t((a + b) / 2, ratio, rule, null=chance,
                               alternative="greater").pvalue < alpha
    q = np.full(len(a), np.nan)
    q[compared] = benjamini_hochberg(tests.pvalue[compared])
    measured = (tests.n >= 3) & (tests.ci_high > tests.ci_low)
    gate = np.nan
    if rule.gate:
        complete = compared & np.isfinite(a - b).all(axis=1)
        if complete.any():
            per_resample = np.mean((a - b)[complete], axis=0)
            gate = float(corrected_t(per_resample, ratio[complete].mean(keepdims=True),
                                     rule).pvalue[0])
    named = compared & measured & (q < alpha) & (not rule.gate or gate < alpha)
    winner = np.where(named, np.sign(tests.mean), 0).astype(int)
    return Decisions(tests, q, compared, measured, gate, winner)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (statsmodels' ``fdr_bh``) over the finite p-values; NaN
    where p is NaN, so one undefined target does not erase the others."""
    p = np.asarray(p, float)
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = multipletests(p[finite], method="fdr_bh")[1]
    return q


@dataclass(frozen=True)
class OverallVerdict:
    """The headline of a comparison over all its targets: what the reader reads.

    Attributes
    ----------
    a, b : str
    targets : int
        Targets compared.
    better_a, better_b : int
        Targets whose verdict names a or b.
    no_difference : int
        Targets with no evidence of a difference.
    not_enough_data : int
        Targets where the rule refused a verdict (the extractors' mean score is not above
        chance).
    rule : str or None
        The rule's name (None for a table written before featx recorded it).
    """

    a: str
    b: str
    targets: int
    better_a: int
    better_b: int
    no_difference: int
    not_enough_data: int
    rule: str | None

    @property
    def names_a_winner(self) -> bool:
        """Whether the headline names a better extractor for at least one target."""
        return self.better_a + self.better_b > 0

    @property
    def headline(self) -> str:
        """One sentence: who is better for how many targets, or why no winner is named."""
        a, b, noun = self.a, self.b, "target" if self.targets == 1 else "targets"
        if self.names_a_winner:
            parts = [f"{name} is better for {k} of {self.targets} {noun}"
                     for name, k in ((a, self.better_a), (b, self.better_b)) if k]
            return "; ".join(parts)
        if self.not_enough_data == self.targets:
            return (f"Not enough data to compare {a} and {b}: together they score no better "
                    f"than chance on any of the {self.targets} {noun}")
        return f"No evidence of a difference between {a} and {b} ({self.targets} {noun})"


def overall_verdict(comparison) -> OverallVerdict:
    """The headline of a :func:`~featx.evaluation.comparisons.compare_extractors` table.

    One pair (a, b): the counts of its ``verdict`` column.
    """
    pairs = comparison[["a", "b"]].drop_duplicates()
    if len(pairs) != 1:
        raise InvalidParameterError("comparison", "the rows of one pair (a, b)",
                                    f"{len(pairs)} pairs")
    a, b = str(pairs["a"].iloc[0]), str(pairs["b"].iloc[0])
    verdict = comparison["verdict"].astype(str)
    rule = str(comparison["rule"].iloc[0]) if "rule" in comparison else None
    return OverallVerdict(a, b, len(comparison), int((verdict == a).sum()),
                          int((verdict == b).sum()), int((verdict == NO_DIFFERENCE).sum()),
                          int((verdict == NOT_ENOUGH_DATA).sum()), rule)


__all__ = ["CHANCE_LEVELS", "DEFAULT_RULE", "NOT_ENOUGH_DATA", "NO_DIFFERENCE", "RULES",
           "Decisions", "OverallVerdict", "TTests", "VerdictRule", "benjamini_hochberg",
           "checked_rule", "corrected_t", "decide", "overall_verdict"]
