"""The tests of the literature, apart from the verdicts: the paper's count, Wilcoxon, DeLong.

The paper counted "better for N of the M significant genes" and tested across genes
with a Wilcoxon signed-rank test; mutation papers compare AUCs with DeLong's test. A
reader comparing featx with them wants those numbers, but none of them holds its level
here (genes are correlated, folds share training rows, DeLong ignores refitting), so
they sit in this section, each with its rule in words and its name as the result gives
it, and never beside a verdict card. Nothing is refitted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from featx.evaluation.comparisons import compare_over_targets, count_better
from featx.evaluation.paired_tests import delong_from_predictions
from featx.report.document import Section, Table
from featx.report.experiments import EXPERIMENT_TITLES, read_result
from featx.report.text import fmt_interval, fmt_num, fmt_p, p_phrase

HEADING = "For comparison with the literature (liberal tests, not verdicts)"


def literature_section(results: str | Path) -> Section | None:
    """The paper's count and liberal tests of every two-extractor experiment, or None."""
    folder = Path(results)
    section = Section(HEADING, ["These are the statistics the literature reports. They "
                                "reject a true null far more often than their level (genes "
                                "are correlated, folds share training rows, DeLong treats "
                                "the fitted models as fixed), so they decide nothing here: "
                                "the verdicts above do."])
    for experiment, metric, p_metric in (("expression", "pearson_r", "pearson_p"),
                                         ("mutation", "roc_auc", None)):
        scores = read_result(folder, f"{experiment}_scores")
        comparison = read_result(folder, f"{experiment}_comparison")
        if scores is None or comparison is None or comparison.empty:
            continue
        a, b = str(comparison["a"].iloc[0]), str(comparison["b"].iloc[0])
        title = EXPERIMENT_TITLES[experiment]
        wilcoxon = compare_over_targets(scores, a, b, metric=metric, method="wilcoxon_liberal")
        section.bullets.append(
            f"{title}, across genes, {wilcoxon.test} of the per-gene mean scores: "
            f"{a} - {b} = {fmt_num(wilcoxon.estimate)}, {wilcoxon.confidence:.0%} CI "
            f"{fmt_interval(wilcoxon.ci_low, wilcoxon.ci_high)}, {p_phrase(wilcoxon.pvalue)} "
            f"over {wilcoxon.n} genes (treats correlated genes as independent).")
        if p_metric is not None and (scores["metric"] == p_metric).any():
            section.bullets.append(f"{title}, the paper's count: " + _count(
                count_better(scores, a, b, metric=metric, p_metric=p_metric), a, b))
        predictions = read_result(folder, f"{experiment}_predictions")
        if experiment == "mutation" and predictions is not None and len(predictions):
            section.tables.append(_delong_table(predictions, a, b))
    return section if section.bullets or section.tables else None


def _count(counts: dict[str, object], a: str, b: str) -> str:
    """The count in words, with its rule; a description, not a test."""
    return (f"{counts['significant']} of {counts['targets']} genes are significant for either "
            f"extractor (rule: {counts['threshold']}); of them {counts[f'better_{a}']} score "
            f"higher with {a}, {counts[f'better_{b}']} with {b}, {counts['undecided']} tie. "
            "The genes are chosen by the same scores that then decide who wins them, so the "
            "split admits no test.")


def _delong_table(predictions: pd.DataFrame, a: str, b: str) -> Table:
    rows = []
    for gene in sorted(predictions["target"].unique()):
        result = delong_from_predictions(predictions, a, b, target=gene)
        rows.append({"target": gene, "auc_difference": result.estimate, "ci_low": result.ci_low,
                     "ci_high": result.ci_high, "p_delong_conditional": result.pvalue,
                     "test": result.test})
    table = pd.DataFrame(rows)
    test = str(table["test"].iloc[0])
    display = pd.DataFrame({
        "target": table["target"],
        "AUC difference": table["auc_difference"].map(fmt_num),
        "95% CI": [fmt_interval(lo, hi) for lo, hi in zip(table["ci_low"], table["ci_high"])],
        "p": table["p_delong_conditional"].map(fmt_p)})
    return Table("mutation-delong", table, f"{test}, {a} - {b}, on the first repetition's "
                 "out-of-fold scores (95% CI); it ignores refitting (about 12% false positives "
                 "between equal extractors)", display=display)


__all__ = ["HEADING", "literature_section"]
