"""The answer first: verdict cards, forest plots and readable comparison tables.

Everything here reads a comparison table of
:func:`featx.evaluation.comparisons.compare_extractors` (one row per target); no
statistic is computed that the table does not hold, except the count across targets.
A difference is called significant only when its BH q-value (or, without one, its
corrected p-value) is below ``ALPHA``; otherwise the card says there is no evidence
of a difference, whatever the sign of the estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featx._figures import subplots
from featx.evaluation.verdict_rules import NOT_ENOUGH_DATA, overall_verdict
from featx.report.document import Figure, Verdict

ALPHA = 0.05
#: The interval level ``compare_extractors`` uses unless the table says otherwise.
DEFAULT_CONFIDENCE = 0.95


def fmt_p(value: float | None) -> str:
    """A p- or q-value for reading: two significant digits, "<0.0001" below that."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return "<0.0001" if value < 1e-4 else f"{value:.2g}"


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A signed difference or score, ``digits`` decimals."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:+.{digits}f}"


def confidence_of(comparison: pd.DataFrame) -> float:
    """The interval level of a comparison table (its ``confidence`` column, else 95%)."""
    if "confidence" in comparison.columns and comparison["confidence"].notna().any():
        return float(comparison["confidence"].dropna().iloc[0])
    return DEFAULT_CONFIDENCE


def significant(row: pd.Series, alpha: float = ALPHA) -> bool:
    """Whether one target's difference counts: the comparison's calibrated ``verdict``.

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
    """The better extractor of one target, "not enough data" where the rule refused a
    verdict, or "no evidence" when not significant."""
    if row.get("verdict") == NOT_ENOUGH_DATA:
        return NOT_ENOUGH_DATA
    if not significant(row, alpha):
        return "no evidence"
    return str(row["a"] if row["mean_diff"] > 0 else row["b"])


def single_verdict(row: pd.Series, *, metric: str, confidence: float,
                   n_samples: int | None = None) -> Verdict:
    """The card of a comparison on one target (tissue accuracy over all classes)."""
    a, b, level = str(row["a"]), str(row["b"]), f"{confidence:.0%}"
    better = winner(row)
    interval = f"[{fmt_num(row['ci_low'])}, {fmt_num(row['ci_high'])}]"
    if row.get("verdict") == NOT_ENOUGH_DATA:
        headline = f"Not enough data to compare {a} and {b} on {metric}"
        reason = str(row.get("reason", "the two score no better than chance"))
        sentence = f"{reason[:1].upper()}{reason[1:]}: no verdict."
    elif better == "no evidence":
        headline = f"No evidence of a difference in {metric} between {a} and {b}"
        sentence = (f"The {level} interval of the difference includes zero or the corrected "
                    f"p-value is at least {ALPHA}; the data do not show either extractor better.")
    else:
        other = b if better == a else a
        headline = f"{better} is better than {other} ({metric})"
        sentence = (f"{better}'s {metric} is higher by {abs(row['mean_diff']):.3f} "
                    f"({level} CI {interval} for {a} - {b}).")
    facts = [(f"Difference ({a} - {b})", f"{fmt_num(row['mean_diff'])} {metric}"),
             (f"{level} CI (corrected resampled t)", interval),
             ("Corrected t-test p", fmt_p(row.get("p_corrected"))),
             ("BH q", fmt_p(row.get("q_corrected"))),
             ("n", _n_text(int(row["n"]), 1, n_samples))]
    return Verdict(headline, facts, better != "no evidence", sentence)


def across_verdict(comparison: pd.DataFrame, *, metric: str, noun: str, confidence: float,
                   n_samples: int | None = None, overall: object | None = None) -> Verdict:
    """The card of a comparison over many targets: the paper's "better for N of M" count.

    ``overall`` is a :class:`~featx.evaluation.paired_tests.ComparisonResult` across
    targets (the corrected t of the mean difference), when the caller has one.
    """
    a, b = str(comparison["a"].iloc[0]), str(comparison["b"].iloc[0])
    winners = comparison.apply(winner, axis=1)
    n_a, n_b = int((winners == a).sum()), int((winners == b).sum())
    n_sig, n_all = n_a + n_b, len(comparison)
    refused = (int((comparison["verdict"] == NOT_ENOUGH_DATA).sum())
               if "verdict" in comparison else 0)
    if n_sig == 0 and refused == n_all:
        headline = overall_verdict(comparison).headline
        sentence = (f"Together the two score no better than chance on any {noun}, so no "
                    "difference between them can be told from noise.")
    elif n_sig == 0:
        headline = f"No evidence of a difference between {a} and {b} for any {noun}"
        sentence = (f"None of the {n_all} {noun}s has a BH q below {ALPHA}; the differences "
                    "shown are within what resampling alone produces.")
        if refused:
            sentence += (f" Not enough data for {refused} (together the two score no better "
                         "than chance).")
    elif n_a == n_b:
        headline = (f"Neither is better overall: {a} wins {n_a} and {b} wins {n_b} of the "
                    f"{n_sig} {noun}s with a significant difference ({n_all} tested)")
    else:
        lead = a if n_a > n_b else b
        headline = (f"{lead} is better for {max(n_a, n_b)} of the {n_sig} {noun}s with a "
                    f"significant difference ({n_all} {noun}s tested)")
    if n_sig:
        sentence = (f"{a} better: {n_a}; {b} better: {n_b}; no evidence either way: "
                    f"{n_all - n_sig - refused}; not enough data (no better than chance "
                    "together): "
                    f"{refused} (BH q < {ALPHA}, corrected resampled t-test, "
                    f"{comparison['rule'].iloc[0] if 'rule' in comparison else 'featx'} "
                    "verdict rule).")
    diffs = comparison["mean_diff"].to_numpy(dtype=float)
    facts = [(f"Median difference ({a} - {b})", f"{fmt_num(float(np.median(diffs)))} {metric}"),
             ("Significant " + noun + "s", f"{n_sig} of {n_all}")]
    if overall is not None:
        facts += [(f"Across {noun}s (corrected t of the mean difference, {confidence:.0%} CI)",
                   f"{fmt_num(overall.estimate)} [{fmt_num(overall.ci_low)}, "
                   f"{fmt_num(overall.ci_high)}], p {fmt_p(overall.pvalue)}")]
    facts.append(("n", _n_text(int(comparison["n"].iloc[0]), n_all, n_samples)))
    return Verdict(headline, facts, n_sig > 0, sentence)


def _n_text(resamples: int, targets: int, samples: int | None) -> str:
    text = f"{resamples} resamples per target, {targets} target{'s' if targets != 1 else ''}"
    return text + (f", {samples} patients/samples" if samples else "")


def comparison_display(comparison: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """The key columns of a comparison table, rounded and worded for reading."""
    a, b = str(comparison["a"].iloc[0]), str(comparison["b"].iloc[0])
    level = f"{confidence:.0%}"
    return pd.DataFrame({
        "target": comparison["target"].astype(str),
        a: comparison["mean_a"].map(lambda v: f"{v:.3f}"),
        b: comparison["mean_b"].map(lambda v: f"{v:.3f}"),
        f"{a} - {b}": comparison["mean_diff"].map(fmt_num),
        f"{level} CI": [f"[{fmt_num(lo)}, {fmt_num(hi)}]"
                        for lo, hi in zip(comparison["ci_low"], comparison["ci_high"])],
        "p (corrected t)": _tested(comparison, "p_corrected"),
        "q (BH)": _tested(comparison, "q_corrected" if "q_corrected" in comparison
                          else "p_corrected"),
        "better": comparison.apply(winner, axis=1),
    })


def _tested(comparison: pd.DataFrame, column: str) -> list[str]:
    """p- or q-values, or "no spread" where the resamples could not measure one."""
    spread = (comparison["ci_high"] > comparison["ci_low"]) & (comparison["n"] >= 3)
    return [fmt_p(v) if ok else "n/a (no spread)" for v, ok in zip(comparison[column], spread)]


def forest_figure(comparison: pd.DataFrame, name: str, *, metric: str, confidence: float,
                  max_rows: int = 40) -> Figure:
    """Per-target differences with their intervals, significant ones filled.

    With more than ``max_rows`` targets, the ones with the largest absolute
    differences are drawn (the table and CSV have all).
    """
    a, b = str(comparison["a"].iloc[0]), str(comparison["b"].iloc[0])
    rows = comparison.assign(_abs=comparison["mean_diff"].abs())
    if len(rows) > max_rows:
        rows = rows.nlargest(max_rows, "_abs")
    rows = rows.sort_values("mean_diff").reset_index(drop=True)
    sig = rows.apply(significant, axis=1).to_numpy()
    fig, ax = subplots(figsize=(6.5, max(2.2, 0.28 * len(rows) + 1.2)))
    y = np.arange(len(rows))
    low = (rows["mean_diff"] - rows["ci_low"]).clip(lower=0)
    high = (rows["ci_high"] - rows["mean_diff"]).clip(lower=0)
    ax.errorbar(rows["mean_diff"], y, xerr=[low, high], fmt="none", ecolor="#555", capsize=2)
    ax.scatter(rows["mean_diff"][~sig], y[~sig], facecolors="white", edgecolors="#2a5db0",
               zorder=3, label=f"q >= {ALPHA}")
    ax.scatter(rows["mean_diff"][sig], y[sig], color="#1a7f37", zorder=3, label=f"q < {ALPHA}")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, rows["target"].astype(str), fontsize=8)
    ax.set(xlabel=f"{metric} difference, {a} - {b} ({confidence:.0%} CI)",
           title=f"Per-target differences: right of 0 favours {a}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    shown = "" if len(rows) == len(comparison) else (
        f" The {len(rows)} of {len(comparison)} targets with the largest differences.")
    return Figure.from_matplotlib(name, fig, f"Difference per target with its {confidence:.0%} "
                                  "interval (corrected resampled t); filled points have BH q < "
                                  f"{ALPHA}.{shown}")
