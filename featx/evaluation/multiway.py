"""N-way extractor comparisons: every pair (or each against a reference) on the same folds.

:func:`compare_many` runs :func:`featx.evaluation.comparisons.compare_extractors` for
each pair of extractors on one score table, so every pair is tested on the identical
folds, then corrects the corrected-resampled-t p-values across the pairs of each
target (Holm, which controls the family-wise error, or Benjamini-Hochberg, the false
discovery rate) and says so in the table. It also ranks the extractors per target by
their mean score, with the Nadeau-Bengio corrected interval of that mean (the folds'
training sets overlap, so the plain interval is too narrow), and over targets by mean
rank with a bootstrap interval over targets.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from featx._validate import fraction, one_of, positive_int
from featx.errors import DataError, InvalidParameterError
from featx.evaluation.comparisons import compare_extractors
from featx.evaluation.paired_tests import corrected_resampled_ttest
from featx.evaluation.verdict_rules import DEFAULT_RULE, VerdictRule

#: Corrections across pairs: name -> (statsmodels method, words for the table).
CORRECTIONS = {"holm": ("holm", "Holm (family-wise error)"),
               "bh": ("fdr_bh", "Benjamini-Hochberg (false discovery rate)")}


@dataclass(frozen=True)
class MultiwayComparison:
    """What :func:`compare_many` found.

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per (pair, target): the columns of ``compare_extractors`` plus
        ``p_adjusted`` (across the pairs of that target), ``correction`` (in words),
        ``n_pairs`` and ``significant`` (the pair's verdict names a winner for that
        target under the verdict rule, and ``p_adjusted < alpha``).
    ranking : pandas.DataFrame
        One row per (target, extractor): ``mean``, ``ci_low``, ``ci_high`` (corrected
        interval of the mean score), ``rank`` (1 = best).
    mean_ranks : pandas.DataFrame
        One row per extractor: ``mean_rank`` over targets, bootstrap ``ci_low`` /
        ``ci_high`` over targets, ``n_targets``, sorted best first.
    """

    pairs: pd.DataFrame
    ranking: pd.DataFrame
    mean_ranks: pd.DataFrame


def extractor_pairs(names: Sequence[str], reference: str | None = None) -> list[tuple[str, str]]:
    """All pairs of ``names`` in order, or ``(reference, other)`` for each other name."""
    names = list(dict.fromkeys(names))
    if len(names) < 2:
        raise DataError("scores", f"{len(names)} extractor(s) {names}",
                        "Compare at least two extractors")
    if reference is None:
        return list(itertools.combinations(names, 2))
    if reference not in names:
        raise InvalidParameterError("reference", f"one of the extractors {names}", reference)
    return [(reference, other) for other in names if other != reference]


def compare_many(scores: pd.DataFrame, *, metric: str, extractors: Sequence[str] | None = None,
                 reference: str | None = None, correction: str = "holm", alpha: float = 0.05,
                 confidence: float = 0.95, n_boot: int = 2000, seed: int = 0,
                 verdict_rule: str | VerdictRule = DEFAULT_RULE, chance: float | None = None,
                 ) -> MultiwayComparison:
    """Compare three or more extractors on the same folds, corrected across pairs.

    Parameters
    ----------
    scores : pandas.DataFrame
        A tidy score table with every extractor scored on the same folds
        (``ExperimentResult.scores``).
    metric : str
        The score compared (higher is better), e.g. "accuracy", "pearson_r", "roc_auc".
    extractors : sequence of str, optional
        Which extractors, in order (default: all in ``scores``, in order of appearance).
    reference : str, optional
        Compare each extractor with this one only (k - 1 pairs); default all pairs.
    correction : {"holm", "bh"}
        Correction of the corrected-resampled-t p-values across the pairs of each target.
    alpha : float
        Level of ``significant``.
    confidence : float
        Level of the intervals.
    n_boot : int
        Bootstrap resamples of the targets for the mean-rank intervals.
    seed : int
        Seed of that bootstrap.
    verdict_rule, chance
        The verdict rule and chance level of each pair's
        :func:`~featx.evaluation.comparisons.compare_extractors`; a pair-target is
        ``significant`` only where that pair's verdict names a winner.
    """
    one_of("correction", correction, tuple(CORRECTIONS))
    alpha, confidence = fraction("alpha", alpha), fraction("confidence", confidence)
    names = list(extractors) if extractors is not None else list(
        dict.fromkeys(scores["extractor"]))
    pairs = extractor_pairs(names, reference)
    table = pd.concat([compare_extractors(scores, a, b, metric=metric, confidence=confidence,
                                          verdict_rule=verdict_rule, chance=chance)
                       for a, b in pairs], ignore_index=True)
    method, words = CORRECTIONS[correction]
    table["p_adjusted"] = table.groupby("target")["p_corrected"].transform(
        lambda p: multipletests(p.to_numpy(), method=method)[1])
    table["n_pairs"] = len(pairs)
    table["correction"] = (f"{words} over {len(pairs)} pairs per target, on the corrected "
                           "resampled t-test p-values")
    # A pair-target counts where the pair's own verdict names a winner (the rule: chance
    # check, gate, BH over targets, a measured spread) and survives the correction over pairs.
    named = table["verdict"].astype(str).eq(table["a"]) | table["verdict"].astype(str).eq(table["b"])
    table["significant"] = named & (table["p_adjusted"] < alpha)
    ranking = rank_extractors(scores, names, metric=metric, confidence=confidence)
    return MultiwayComparison(table, ranking, mean_ranks(ranking, confidence=confidence,
                                                         n_boot=n_boot, seed=seed))


def rank_extractors(scores: pd.DataFrame, names: Sequence[str], *, metric: str,
                    confidence: float = 0.95) -> pd.DataFrame:
    """Per target, each extractor's mean per-fold score with its corrected interval, and rank."""
    rows = scores[(scores["metric"] == metric) & (scores["fold"] >= 0)
                  & scores["extractor"].isin(names)]
    if rows.empty:
        raise DataError("scores", f"no per-fold {metric!r} rows for {list(names)}",
                        "Pass the score table of one experiment run with these extractors")
    out = []
    for (target, name), group in rows.groupby(["target", "extractor"], sort=True):
        values = group["value"].to_numpy(np.float64)
        ratio = float((group["n_test"] / group["n_train"]).mean())
        # The corrected t interval of the mean score: the test of the scores against 0.
        interval = corrected_resampled_ttest(values, np.zeros_like(values), n_train=1.0,
                                             n_test=ratio, confidence=confidence)
        out.append({"target": target, "extractor": name, "metric": metric, "n": len(values),
                    "mean": interval.estimate, "ci_low": interval.ci_low,
                    "ci_high": interval.ci_high})
    ranking = pd.DataFrame(out)
    ranking["rank"] = ranking.groupby("target")["mean"].rank(ascending=False, method="average")
    return ranking.sort_values(["target", "rank"], ignore_index=True)


def mean_ranks(ranking: pd.DataFrame, *, confidence: float = 0.95, n_boot: int = 2000,
               seed: int = 0) -> pd.DataFrame:
    """Mean rank of each extractor over targets, with a bootstrap interval over targets."""
    n_boot = positive_int("n_boot", n_boot)
    wide = ranking.pivot_table(index="target", columns="extractor", values="rank")
    ranks = wide.to_numpy()
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ranks), size=(n_boot, len(ranks)))
    boot = ranks[draws].mean(axis=1)  # (n_boot, n_extractors)
    tail = (1 - confidence) / 2
    table = pd.DataFrame({"extractor": wide.columns, "mean_rank": ranks.mean(axis=0),
                          "ci_low": np.quantile(boot, tail, axis=0),
                          "ci_high": np.quantile(boot, 1 - tail, axis=0),
                          "n_targets": len(ranks)})
    return table.sort_values("mean_rank", ignore_index=True)


__all__ = ["CORRECTIONS", "MultiwayComparison", "compare_many", "extractor_pairs", "mean_ranks",
           "rank_extractors"]
