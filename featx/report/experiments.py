"""Report sections of the three experiments, drawn from the tables ``featx evaluate`` wrote.

The figures follow the Journal of Pathology Informatics paper: accuracy over
repetitions, per-class accuracy side by side, confusion matrices, the distribution of
per-gene correlation differences, observed against predicted, and mutation AUCs per
gene. Nothing is refitted here.

Each section opens with its card: with two extractors the verdict of the comparison
table (:mod:`featx.report.verdicts`), with one the score and its interval. The liberal
and conditional tests of the literature (the paper's count, Wilcoxon over genes, DeLong)
are in their own section (:mod:`featx.report.literature`), never beside a verdict.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from featx._figures import subplots
from featx._io import read_table
from featx.evaluation.comparisons import compare_over_targets
from featx.evaluation.multiway import rank_extractors
from featx.evaluation.results import EXPERIMENT_METRICS, EXPERIMENTS
from featx.report.document import Figure, Section, Table
from featx.report.text import p_phrase
from featx.report.verdicts import (
    across_verdict,
    comparison_display,
    confidence_of,
    forest_figure,
    score_display,
    score_verdict,
    single_verdict,
    test_label,
)

EXPERIMENT_TITLES = {"tissue": "Tissue classification (linear SVC)",
                     "expression": "Expression regression (SVR)",
                     "mutation": "Mutation prediction (LASSO logistic regression)"}
#: Metric names for reading, per experiment.
METRIC_WORDS = {"tissue": "accuracy", "expression": "Pearson r", "mutation": "ROC AUC"}
#: What an experiment's samples are.
UNITS = {"tissue": "tiles", "expression": "patients", "mutation": "patients"}
#: Fewer points than this per group are drawn as points, not as a box.
MIN_BOX_POINTS = 10


def read_result(folder: Path, stem: str) -> pd.DataFrame | None:
    """``<stem>.parquet`` or ``<stem>.csv`` in ``folder``, or None when neither is there."""
    path = next((folder / f"{stem}{s}" for s in (".parquet", ".csv")
                 if (folder / f"{stem}{s}").is_file()), None)
    return None if path is None else read_table(path, what="result table")


def experiment_section(results: str | Path, experiment: str,
                       targets: list[str] | None = None) -> Section | None:
    """The section of one experiment, or None when ``results`` holds none of it.

    ``targets``: targets to show first in the forest plots (default: largest difference).
    """
    folder = Path(results)
    scores = read_result(folder, f"{experiment}_scores")
    if scores is None:
        return None
    comparison = read_result(folder, f"{experiment}_comparison")
    if comparison is not None and comparison.empty:
        comparison = None
    section = Section(EXPERIMENT_TITLES[experiment])
    if comparison is None:
        _one_extractor(section, experiment, scores)
    else:
        _verdict(section, experiment, scores, comparison, targets)
    build = {"tissue": _tissue, "expression": _expression, "mutation": _mutation}[experiment]
    build(section, folder, scores, comparison)
    return section


def n_samples(scores: pd.DataFrame) -> int | None:
    """Samples in the experiment: a fold's train plus test size."""
    folds = scores[scores["fold"] >= 0]
    if not len(folds):
        return None
    return int(folds["n_train"].iloc[0] + folds["n_test"].iloc[0])


def _verdict(section: Section, experiment: str, scores: pd.DataFrame,
             comparison: pd.DataFrame, targets: list[str] | None) -> None:
    """The comparison's card, its forest plot and its table (first extractor vs the next)."""
    metric, level = METRIC_WORDS[experiment], confidence_of(comparison)
    rows = comparison[comparison["b"] == comparison["b"].iloc[0]]
    test = test_label(rows)
    if experiment == "tissue":
        overall = rows[rows["target"] == "all"]
        if len(overall):
            section.verdict = single_verdict(overall.iloc[0], metric=metric, confidence=level,
                                             n_samples=n_samples(scores), test=test,
                                             unit=UNITS[experiment])
    else:
        a, b = str(rows["a"].iloc[0]), str(rows["b"].iloc[0])
        over = compare_over_targets(scores, a, b, metric=EXPERIMENT_METRICS[experiment],
                                    confidence=level)
        section.verdict = across_verdict(rows, metric=metric, noun="gene", confidence=level,
                                         n_samples=n_samples(scores), overall=over, test=test,
                                         unit=UNITS[experiment])
        section.figures.append(forest_figure(rows, f"{experiment}-forest", metric=metric,
                                             confidence=level, targets=targets))
    section.tables.append(Table(f"{experiment}-comparison", comparison,
                                f"Paired tests per target, largest difference first. The "
                                f"verdict ('better') and interval: {test}, BH q over "
                                "targets (each target's reason for its verdict is the CSV's "
                                "reason column); 'no spread': every "
                                "resample gave the same "
                                "difference, so there is nothing to test against (and 'too few "
                                "resamples': under 3). The CSV's "
                                "columns ending in _liberal are for comparison with the "
                                "literature only.",
                                display=comparison_display(comparison, level)))


def _one_extractor(section: Section, experiment: str, scores: pd.DataFrame) -> None:
    """One extractor: its score per target with the interval; nothing is compared."""
    name = str(scores["extractor"].iloc[0])
    ranking = rank_extractors(scores, [name], metric=EXPERIMENT_METRICS[experiment])
    if experiment == "tissue" and (ranking["target"] == "all").any():
        ranking = ranking[ranking["target"] == "all"]
    section.verdict = score_verdict(ranking, metric=METRIC_WORDS[experiment], noun="gene",
                                    n_samples=n_samples(scores), unit=UNITS[experiment])
    if len(ranking) > 1:
        section.tables.append(Table(f"{experiment}-scores", ranking,
                                    f"{name}'s mean per-fold {METRIC_WORDS[experiment]} per "
                                    "target with its interval, best first",
                                    display=score_display(ranking)))


def _summary_table(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    pooled = scores[(scores["fold"] == -1) & (scores["metric"] == metric)]
    return (pooled.groupby(["target", "extractor"])["value"]
            .agg(["mean", "std", "count"]).reset_index()
            .rename(columns={"mean": f"mean_{metric}", "std": "sd_over_repetitions",
                             "count": "repetitions"}))


def _summary_display(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per target, one "mean ± SD" column per extractor: readable, no empty cells."""
    cells = summary.assign(cell=[
        ("n/a" if not np.isfinite(m) else f"{m:.3f}" + (f" ± {sd:.3f}" if np.isfinite(sd) else ""))
        for m, sd in zip(summary[f"mean_{metric}"], summary["sd_over_repetitions"])])
    wide = cells.pivot(index="target", columns="extractor", values="cell").fillna("–")
    reps = summary.groupby("target")["repetitions"].max()
    return wide.assign(repetitions=reps).reset_index()


def _tissue(section: Section, folder: Path, scores: pd.DataFrame,
            comparison: pd.DataFrame | None) -> None:
    overall = scores[(scores["fold"] == -1) & (scores["metric"] == "accuracy")
                     & (scores["target"] == "all")]
    section.figures.append(_accuracy_figure(overall.pivot_table(
        index="repetition", columns="extractor", values="value")))
    classes = scores[(scores["fold"] == -1) & (scores["metric"] == "class_accuracy")]
    if len(classes):
        section.figures.append(_class_bars(classes))
        # No per-class test: class accuracy exists only per repetition (pooled folds), and
        # the corrected t on pooled scores rejects 10-28% of true nulls (issue 19).
    confusion = read_result(folder, "tissue_confusion")
    if confusion is not None and len(confusion):
        section.figures.append(_confusion_figure(confusion))
    summary = pd.concat([_summary_table(scores, "accuracy"),
                         _summary_table(scores, "class_accuracy")
                         .rename(columns={"mean_class_accuracy": "mean_accuracy"})])
    section.tables.append(Table("tissue-summary", summary,
                                "Out-of-fold accuracy (mean ± SD over repetitions): overall "
                                "('all') and per class", display=_summary_display(summary,
                                                                                 "accuracy")))


def _accuracy_figure(wide: pd.DataFrame) -> Figure:
    """Accuracy per repetition: every point, joined across extractors; a box only from 10 on."""
    names = list(wide.columns)
    fig, ax = subplots(figsize=(max(4.0, 2.2 * len(names)), 4))
    for _, row in wide.iterrows():  # one line per repetition: the comparison is paired
        ax.plot(range(len(names)), row.to_numpy(), color="grey", alpha=0.45, lw=0.8,
                marker="o", markersize=4, markerfacecolor="#2a5db0", markeredgecolor="none")
    if len(wide) >= MIN_BOX_POINTS:
        ax.boxplot([wide[n].dropna().to_numpy() for n in names], positions=range(len(names)),
                   widths=0.35)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set(ylabel="accuracy (out-of-fold)", title=f"Accuracy of each of {len(wide)} repetitions")
    joined = " joined across extractors (identical folds)" if len(names) > 1 else ""
    return Figure.from_matplotlib("tissue-accuracy", fig,
                                  "Overall accuracy of each repetition's out-of-fold "
                                  f"predictions, one point per repetition{joined}"
                                  + ("; boxes summarise them." if len(wide) >= MIN_BOX_POINTS
                                     else "; too few for a box plot."))


def _class_bars(classes: pd.DataFrame) -> Figure:
    means = classes.pivot_table(index="target", columns="extractor", values="value")
    fig, ax = subplots(figsize=(max(6, 0.8 * len(means)), 4))
    width = 0.8 / len(means.columns)
    for i, name in enumerate(means.columns):
        ax.bar(np.arange(len(means)) + i * width, means[name], width, label=name)
    ax.set_xticks(np.arange(len(means)) + 0.4 - width / 2, means.index, rotation=30, ha="right")
    ax.set(ylabel="accuracy", ylim=(0, 1.0), title="Per-class accuracy (mean over repetitions)")
    # Outside the axes, so it covers no bar.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return Figure.from_matplotlib("tissue-class-accuracy", fig, "Per-class accuracy"
                                  + (" side by side." if len(means.columns) > 1 else "."))


def _confusion_figure(confusion: pd.DataFrame) -> Figure:
    names = sorted(confusion["extractor"].unique())
    labels = sorted(set(confusion["true_label"]) | set(confusion["predicted_label"]))
    side = max(4.0, 0.45 * len(labels) + 2.0)
    fig, axes = subplots(1, len(names), figsize=(side * len(names) + 1.0, side), squeeze=False,
                         sharey=True)
    fig.set_layout_engine("constrained")  # tick labels never reach the next panel
    for ax, name in zip(axes[0], names):
        counts = (confusion[confusion["extractor"] == name]
                  .pivot_table(index="true_label", columns="predicted_label", values="count",
                               aggfunc="sum").reindex(index=labels, columns=labels).fillna(0))
        rates = counts.to_numpy() / np.maximum(counts.to_numpy().sum(1, keepdims=True), 1)
        image = ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        for (i, j), value in np.ndenumerate(rates):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.5 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set(title=name, xlabel="predicted", ylabel="true" if ax is axes[0][0] else "")
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="fraction of the true class")
    return Figure.from_matplotlib("tissue-confusion", fig,
                                  "Confusion matrices, summed over repetitions, rows normalised.",
                                  colour_bar=True)


def _expression(section: Section, folder: Path, scores: pd.DataFrame,
                comparison: pd.DataFrame | None) -> None:
    names = sorted(scores["extractor"].unique())
    if comparison is not None:
        a, b = comparison["a"].iloc[0], comparison["b"].iloc[0]
        rows = comparison[comparison["b"] == b]
        over = compare_over_targets(scores, a, b, metric="pearson_r",
                                    confidence=confidence_of(rows))
        fig, ax = subplots(figsize=(6, 4))
        ax.hist(rows["mean_diff"], bins=min(40, max(5, len(rows) // 3)), color="#2a5db0")
        ax.axvline(0, color="black", lw=1)
        ax.set(xlabel=f"Pearson r difference ({a} - {b})", ylabel="targets",
               title=f"Per-target differences; across targets {p_phrase(over.pvalue)}")
        section.figures.append(Figure.from_matplotlib(
            "expression-differences", fig, "Distribution over targets of the mean difference "
            f"in per-fold Pearson r; the p-value is the {over.test}."))
    predictions = read_result(folder, "expression_predictions")
    if predictions is not None and len(predictions):
        section.figures.append(_observed_predicted(scores, predictions, names))
    summary = _summary_table(scores, "pearson_r")
    section.tables.append(Table("expression-summary", summary,
                                "Out-of-fold Pearson r (mean ± SD over repetitions)",
                                display=_summary_display(summary, "pearson_r")))


def _observed_predicted(scores: pd.DataFrame, predictions: pd.DataFrame,
                        names: list[str]) -> Figure:
    pooled = _summary_table(scores, "pearson_r")
    best = pooled.groupby("target")["mean_pearson_r"].max().nlargest(3).index.tolist()
    fig, axes = subplots(1, len(best), figsize=(4.2 * len(best), 4), squeeze=False)
    for ax, target in zip(axes[0], best):
        for name, marker in zip(names, "o^sD"):
            rows = predictions[(predictions["target"] == target)
                               & (predictions["extractor"] == name)]
            r = np.corrcoef(rows["observed"], rows["predicted"])[0, 1]
            ax.scatter(rows["observed"], rows["predicted"], s=12, alpha=0.6, marker=marker,
                       label=f"{name} (r={r:.2f})")
        ax.set(title=target, xlabel="observed (transformed)", ylabel="predicted")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.18), frameon=False)
    return Figure.from_matplotlib("expression-observed-predicted", fig,
                                  "Observed against out-of-fold predicted values (first "
                                  "repetition) for the best-predicted targets.")


def _mutation(section: Section, folder: Path, scores: pd.DataFrame,
              comparison: pd.DataFrame | None) -> None:
    summary = _summary_table(scores, "roc_auc")
    section.figures.append(_auc_bars(summary))
    section.tables.append(Table("mutation-summary", summary,
                                "Out-of-fold ROC AUC (mean ± SD over repetitions)",
                                display=_summary_display(summary, "roc_auc")))


def _auc_bars(summary: pd.DataFrame) -> Figure:
    means = summary.pivot_table(index="target", columns="extractor", values="mean_roc_auc")
    sds = summary.pivot_table(index="target", columns="extractor",
                              values="sd_over_repetitions").fillna(0)
    fig, ax = subplots(figsize=(max(6, 0.9 * len(means)), 4))
    width = 0.8 / len(means.columns)
    for i, name in enumerate(means.columns):
        ax.bar(np.arange(len(means)) + i * width, means[name], width, yerr=sds[name], label=name,
               capsize=2)
    ax.axhline(0.5, color="grey", ls=":")
    ax.set_xticks(np.arange(len(means)) + 0.4 - width / 2, means.index, rotation=30, ha="right")
    ax.set(ylabel="ROC AUC", ylim=(0, 1), title="Mutation prediction: AUC per gene")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return Figure.from_matplotlib("mutation-auc", fig,
                                  "Out-of-fold ROC AUC per gene, mean and SD over repetitions; "
                                  "the dotted line is chance.")


def experiment_sections(results: str | Path, targets: list[str] | None = None) -> list[Section]:
    """The sections of every experiment whose tables are in ``results``."""
    return [s for e in EXPERIMENTS if (s := experiment_section(results, e, targets)) is not None]
