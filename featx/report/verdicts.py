"""The answer first: verdict cards, forest plots and readable comparison tables.

Everything here reads a comparison table of
:func:`featx.evaluation.comparisons.compare_extractors` (one row per target) or a
:class:`~featx.evaluation.paired_tests.ComparisonResult`; no statistic is computed that
they do not hold, except the count of verdicts across targets. Who is better comes from
the table's ``verdict`` column and nothing else, so the terminal, the CSV, the cards and
the notebooks say the same thing; what a test is called comes from the result (the
table's ``test`` and ``rule`` columns, ``ComparisonResult.test``), never from a literal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featx._figures import subplots
from featx.evaluation.comparisons import PER_TARGET_TEST
from featx.evaluation.verdict_rules import NO_DIFFERENCE
from featx.report.document import Figure, Verdict
from featx.report.text import fmt_interval, fmt_num, fmt_p, fmt_score, p_phrase

ALPHA = 0.05
#: The interval level ``compare_extractors`` uses unless the table says otherwise.
DEFAULT_CONFIDENCE = 0.95
#: What the ``better`` column says where the verdict names no winner.
NO_EVIDENCE = "no evidence"

__all__ = ["ALPHA", "NO_EVIDENCE", "across_verdict", "comparison_display", "confidence_of",
           "fmt_num", "fmt_p", "forest_figure", "order_by_effect", "score_display",
           "score_verdict", "significant", "single_verdict", "test_label", "winner"]


def confidence_of(comparison: pd.DataFrame) -> float:
    """The interval level of a comparison table (its ``confidence`` column, else 95%)."""
    if "confidence" in comparison.columns and comparison["confidence"].notna().any():
        return float(comparison["confidence"].dropna().iloc[0])
    return DEFAULT_CONFIDENCE


def test_label(comparison: pd.DataFrame) -> str:
    """The test behind a comparison table's verdicts and intervals, as the table names it.

    Its ``test`` column (and ``rule``, where the table has one); a table written before
    featx recorded the name is one of :func:`compare_extractors`, whose test that is.
    """
    test = PER_TARGET_TEST
    if "test" in comparison.columns and comparison["test"].notna().any():
        test = str(comparison["test"].dropna().iloc[0])
    if "rule" in comparison.columns and comparison["rule"].notna().any():
        test += f", {comparison['rule'].dropna().iloc[0]} verdict rule"
    return test


def significant(row: pd.Series, alpha: float = ALPHA) -> bool:
    """Whether one target's verdict names a winner: the comparison's ``verdict`` column.

    The rule lives in :mod:`featx.evaluation.verdict_rules` (the ``verdict`` column names a
    or b, or says "no difference" or "not enough data"); tables without a ``verdict``
    column fall back to BH q (or p) below alpha on a measured interval.
    """
    verdict = row.get("verdict")
    if isinstance(verdict, str) and alpha == ALPHA:
        return verdict in (str(row["a"]), str(row["b"]))
    if int(row.get("n", 0)) < 3 or not row["ci_high"] > row["ci_low"]:
        return False
    for column in ("q_corrected", "p_corrected"):
        value = row.get(column)
        if value is not None and np.isfinite(value):
            return bool(value < alpha)
    return False


def winner(row: pd.Series, alpha: float = ALPHA) -> str:
    """The better extractor of one target as its verdict names it, "no evidence", or any
    other reason the verdict gives for naming no winner (as the column says it)."""
    verdict = row.get("verdict")
    if (isinstance(verdict, str) and alpha == ALPHA
            and verdict not in (str(row["a"]), str(row["b"]), NO_DIFFERENCE)):
        return verdict
    if not significant(row, alpha):
        return NO_EVIDENCE
    verdict = row.get("verdict")
    if isinstance(verdict, str) and verdict in (str(row["a"]), str(row["b"])):
        return verdict
    return str(row["a"] if row["mean_diff"] > 0 else row["b"])


def single_verdict(row: pd.Series, *, metric: str, confidence: float,
                   n_samples: int | None = None, test: str = PER_TARGET_TEST,
                   unit: str = "samples") -> Verdict:
    """The card of a comparison on one target (tissue accuracy over all classes).

    ``test`` names the test behind the verdict (:func:`test_label` of the table); ``unit``
    what the ``n_samples`` are (tiles, patients).
    """
    a, b, level = str(row["a"]), str(row["b"]), f"{confidence:.0%}"
    better = winner(row)
    interval = fmt_interval(row["ci_low"], row["ci_high"])
    if better == NO_EVIDENCE:
        headline = f"No evidence of a difference in {metric} between {a} and {b}"
        reason = row.get("reason")  # the rule's own words, where the table has them
        sentence = (f"The verdict names no winner: {reason}." if isinstance(reason, str)
                    and reason else "The verdict names no winner: the interval includes "
                    f"zero, the BH q is not below {ALPHA}, or the resamples show no spread "
                    "to test against.")
    elif better not in (a, b):  # the verdict gives another reason (e.g. not enough data)
        headline = f"No verdict on {metric} between {a} and {b}: {better}"
        sentence = str(row.get("reason") or "The verdict names no winner.")
    else:
        other = b if better == a else a
        headline = f"{better} is better than {other} ({metric})"
        sentence = (f"{better}'s {metric} is higher by {abs(row['mean_diff']):.3f} "
                    f"({level} CI {interval} for {a} - {b}).")
    facts = [(f"Difference ({a} - {b})", f"{fmt_num(row['mean_diff'])} {metric}, "
              f"{level} CI {interval}"),
             ("Test", test),
             ("p, BH q", f"{p_phrase(row.get('p_corrected'))}, "
                         f"{p_phrase(row.get('q_corrected'), 'q')}"),
             ("n", _n_text(int(row["n"]), 1, n_samples, unit))]
    return Verdict(headline, facts, better in (a, b), sentence, test=test, extractors=(a, b))


def across_verdict(comparison: pd.DataFrame, *, metric: str, noun: str, confidence: float,
                   n_samples: int | None = None, overall: object | None = None,
                   test: str = PER_TARGET_TEST, unit: str = "samples") -> Verdict:
    """The card of a comparison over many targets: one count, of the ``verdict`` column.

    ``overall`` is a :class:`~featx.evaluation.paired_tests.ComparisonResult` across
    targets, when the caller has one; its label is the result's own ``test``.
    """
    a, b = str(comparison["a"].iloc[0]), str(comparison["b"].iloc[0])
    winners = comparison.apply(winner, axis=1)
    n_a, n_b = int((winners == a).sum()), int((winners == b).sum())
    n_sig, n_all = n_a + n_b, len(comparison)
    reasons = set(winners) - {NO_EVIDENCE}
    if n_sig == 0 and len(reasons) == 1 and (winners != NO_EVIDENCE).all():
        reason = reasons.pop()  # every verdict refused for one reason (e.g. not enough data)
        headline = f"No verdict between {a} and {b} for any {noun}: {reason}"
        sentence = (str(comparison["reason"].iloc[0]) + "." if "reason" in comparison
                    else f"The verdict of each of the {n_all} {noun}s is: {reason}.")
    elif n_sig == 0:
        headline = f"No evidence of a difference between {a} and {b} for any {noun}"
        sentence = (f"No verdict of the {n_all} {noun}s names a winner; the differences "
                    "shown are within what resampling alone produces.")
        if reasons:
            sentence += " " + _others(winners, a, b).capitalize() + "."
    else:
        if n_a == n_b:
            headline = (f"Neither is better overall: {a} is better for {n_a} and {b} for "
                        f"{n_b} of {n_all} {noun}s")
        else:
            lead, count = (a, n_a) if n_a > n_b else (b, n_b)
            other = n_b if lead == a else n_a
            headline = f"{lead} is better for {count} of {n_all} {noun}s" + (
                f" ({b if lead == a else a} for {other})" if other else "")
        sentence = f"{a} better: {n_a}; {b} better: {n_b}; " + _others(winners, a, b) + "."
    diffs = comparison["mean_diff"].to_numpy(dtype=float)
    facts = [(f"{noun.capitalize()}s with a verdict", f"{n_sig} of {n_all}"),
             (f"Median difference ({a} - {b})", f"{fmt_num(float(np.median(diffs)))} {metric}"),
             (f"Test per {noun}", test)]
    if overall is not None:
        facts.append((f"Mean difference across {noun}s",
                      f"{fmt_num(overall.estimate)} {metric}, {overall.confidence:.0%} CI "
                      f"{fmt_interval(overall.ci_low, overall.ci_high)}, "
                      f"{p_phrase(overall.pvalue)} ({overall.test})"))
    facts.append(("n", _n_text(int(comparison["n"].iloc[0]), n_all, n_samples, unit)))
    return Verdict(headline, facts, n_sig > 0, sentence, test=test, extractors=(a, b))


def _others(winners: pd.Series, a: str, b: str) -> str:
    """The targets without a winner, by the reason their verdict gives."""
    rest = winners[~winners.isin([a, b])].value_counts()
    if NO_EVIDENCE not in rest.index:
        rest[NO_EVIDENCE] = 0
    return "; ".join(f"{'no evidence either way' if reason == NO_EVIDENCE else reason}: {count}"
                     for reason, count in rest.items())


def score_verdict(ranking: pd.DataFrame, *, metric: str, noun: str,
                  n_samples: int | None = None, unit: str = "samples") -> Verdict:
    """The card of one extractor: its score with the interval, nothing compared.

    ``ranking`` is :func:`featx.evaluation.multiway.rank_extractors` of that extractor
    (mean per-fold score and its interval per target; ``interval`` names how).
    """
    name, level = str(ranking["extractor"].iloc[0]), _level(ranking)
    how = str(ranking["interval"].iloc[0]) if "interval" in ranking else PER_TARGET_TEST
    if len(ranking) == 1:
        row = ranking.iloc[0]
        headline = (f"{name}: {metric} {fmt_score(row['mean'])}, {level} CI "
                    f"{fmt_interval(row['ci_low'], row['ci_high'], signed=False)}")
    else:
        values = ranking["mean"].to_numpy(dtype=float)
        headline = (f"{name}: median {metric} {fmt_score(float(np.median(values)))} over "
                    f"{len(ranking)} {noun}s (from {fmt_score(values.min())} to "
                    f"{fmt_score(values.max())})")
    facts = [("Interval", f"{level}, {how}"),
             ("n", _n_text(int(ranking["n"].iloc[0]), len(ranking), n_samples, unit))]
    sentence = ("One extractor: nothing is compared. Evaluate a second extractor on the same "
                "targets to learn whether another one does better.")
    return Verdict(headline, facts, False, sentence, test=how, extractors=(name,))


def _level(ranking: pd.DataFrame) -> str:
    return f"{confidence_of(ranking):.0%}"


def _n_text(resamples: int, targets: int, samples: int | None, unit: str) -> str:
    text = f"{resamples} resamples per target, {targets} target{'s' if targets != 1 else ''}"
    return text + (f", {samples} {unit}" if samples else "")


def order_by_effect(comparison: pd.DataFrame, targets: list[str] | None = None) -> pd.DataFrame:
    """Rows in reading order: the named ``targets`` first (as given), then largest |difference|."""
    named = [t for t in (targets or []) if t in set(comparison["target"].astype(str))]
    rank = comparison["target"].astype(str).map({t: i for i, t in enumerate(named)})
    return (comparison.assign(_named=rank.fillna(len(named)), _abs=-comparison["mean_diff"].abs())
            .sort_values(["_named", "_abs"], kind="stable")
            .drop(columns=["_named", "_abs"]).reset_index(drop=True))


def comparison_display(comparison: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """The key columns of a comparison table, rounded and worded for reading, largest effect first."""
    rows = order_by_effect(comparison)
    a, b = str(rows["a"].iloc[0]), str(rows["b"].iloc[0])
    return pd.DataFrame({
        "target": rows["target"].astype(str),
        a: rows["mean_a"].map(fmt_score),
        b: rows["mean_b"].map(fmt_score),
        "difference": rows["mean_diff"].map(fmt_num),
        f"{confidence:.0%} CI": [fmt_interval(lo, hi)
                                 for lo, hi in zip(rows["ci_low"], rows["ci_high"])],
        "p": _tested(rows, "p_corrected"),
        "q (BH)": _tested(rows, "q_corrected" if "q_corrected" in rows else "p_corrected"),
        "better": rows.apply(winner, axis=1),
    })


def score_display(ranking: pd.DataFrame) -> pd.DataFrame:
    """One extractor's score per target with its interval, best first."""
    rows = ranking.sort_values("mean", ascending=False)
    return pd.DataFrame({
        "target": rows["target"].astype(str),
        "mean": rows["mean"].map(fmt_score),
        f"{_level(ranking)} CI": [fmt_interval(lo, hi, signed=False)
                                  for lo, hi in zip(rows["ci_low"], rows["ci_high"])],
        "resamples": rows["n"].astype(int),
    })


def _tested(comparison: pd.DataFrame, column: str) -> list[str]:
    """p- or q-values, or why the resamples could not test anything: "too few resamples"
    (under 3) or "no spread" (every resample gave the same difference)."""
    return [("too few resamples" if n < 3 else fmt_p(v) if high > low else "no spread")
            for v, n, low, high in zip(comparison[column], comparison["n"],
                                       comparison["ci_low"], comparison["ci_high"])]


def forest_figure(comparison: pd.DataFrame, name: str, *, metric: str, confidence: float,
                  max_rows: int = 30, targets: list[str] | None = None) -> Figure:
    """Per-target differences with their intervals, largest |difference| on top.

    Targets a verdict names a winner for are filled. With more than ``max_rows`` targets
    the named ``targets`` and then the largest differences are drawn (the table and the
    CSV have all).
    """
    a, b = str(comparison["a"].iloc[0]), str(comparison["b"].iloc[0])
    rows = order_by_effect(comparison, targets).head(max_rows).iloc[::-1].reset_index(drop=True)
    sig = rows.apply(significant, axis=1).to_numpy(dtype=bool)
    fig, ax = subplots(figsize=(6.5, max(2.2, 0.28 * len(rows) + 1.2)))
    y = np.arange(len(rows))
    low = (rows["mean_diff"] - rows["ci_low"]).clip(lower=0)
    high = (rows["ci_high"] - rows["mean_diff"]).clip(lower=0)
    ax.errorbar(rows["mean_diff"], y, xerr=[low, high], fmt="none", ecolor="#555", capsize=2)
    ax.scatter(rows["mean_diff"][~sig], y[~sig], facecolors="white", edgecolors="#2a5db0",
               zorder=3, label="no winner named")
    ax.scatter(rows["mean_diff"][sig], y[sig], color="#1a7f37", zorder=3,
               label="verdict names a winner")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, rows["target"].astype(str), fontsize=8)
    ax.set(xlabel=f"{metric} difference, {a} - {b} ({confidence:.0%} CI)",
           title=f"Per-target differences: right of 0 favours {a}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    shown = "" if len(rows) == len(comparison) else (
        f" The {len(rows)} of {len(comparison)} targets with the largest differences.")
    return Figure.from_matplotlib(name, fig, "Difference per target with its "
                                  f"{confidence:.0%} interval ({test_label(comparison)}), "
                                  f"largest difference on top; filled points are targets whose "
                                  f"verdict names a winner.{shown}")
