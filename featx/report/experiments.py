"""Report sections of the three experiments, drawn from the tables ``featx evaluate`` wrote.

The figures follow the Journal of Pathology Informatics paper: accuracy over
repetitions with paired-test p-values, per-class accuracy side by side, confusion
matrices, the distribution of per-gene correlation differences, observed against
predicted, and mutation AUCs per gene. Nothing is refitted here.

Verdicts come only from tests that hold their level under the null
(:mod:`featx.evaluation.comparisons`): the corrected resampled t per target, the
corrected t of the mean difference over targets, and the count's corrected t.
The plain t-test and Wilcoxon over folds are shown labelled "liberal", and
DeLong's test "conditional on the fitted models".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from featx._figures import subplots
from featx._io import read_table
from featx.evaluation.comparisons import compare_over_targets, count_better
from featx.evaluation.paired_tests import delong_from_predictions
from featx.evaluation.results import EXPERIMENTS
from featx.report.document import Figure, Section, Table
from featx.report.verdicts import (
    across_verdict,
    comparison_display,
    confidence_of,
    fmt_num,
    fmt_p,
    forest_figure,
    single_verdict,
)

EXPERIMENT_TITLES = {"tissue": "Tissue classification (linear SVC)",
                     "expression": "Expression regression (SVR)",
                     "mutation": "Mutation prediction (LASSO logistic regression)"}


def _read(folder: Path, stem: str) -> pd.DataFrame | None:
    """``<stem>.parquet`` or ``<stem>.csv`` in ``folder``, or None when neither is there."""
    path = next((folder / f"{stem}{s}" for s in (".parquet", ".csv")
                 if (folder / f"{stem}{s}").is_file()), None)
    return None if path is None else read_table(path, what="result table")


def _p(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else (
        f"{value:.2g}" if value >= 1e-4 else "<1e-4")


def experiment_section(results: str | Path, experiment: str) -> Section | None:
    """The section of one experiment, or None when ``results`` holds none of it."""
    folder = Path(results)
    scores = _read(folder, f"{experiment}_scores")
    if scores is None:
        return None
    comparison = _read(folder, f"{experiment}_comparison")
    build = {"tissue": _tissue, "expression": _expression, "mutation": _mutation}[experiment]
    section = Section(EXPERIMENT_TITLES[experiment])
    build(section, folder, scores, comparison)
    return section


def _summary_table(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    pooled = scores[(scores["fold"] == -1) & (scores["metric"] == metric)]
    return (pooled.groupby(["target", "extractor"])["value"]
            .agg(["mean", "std", "count"]).reset_index()
            .rename(columns={"mean": f"mean_{metric}", "std": "sd_over_repetitions",
                             "count": "repetitions"}))


def _summary_display(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per target, one "mean ± SD" column per extractor: readable, no empty cells."""
    cells = summary.assign(cell=[
        f"{m:.3f}" + (f" ± {sd:.3f}" if np.isfinite(sd) else "")
        for m, sd in zip(summary[f"mean_{metric}"], summary["sd_over_repetitions"])])
    wide = cells.pivot(index="target", columns="extractor", values="cell").fillna("–")
    wide.columns = [f"{name} {metric} (mean ± SD)" for name in wide.columns]
    reps = summary.groupby("target")["repetitions"].max()
    return wide.assign(repetitions=reps).reset_index()


def _n_samples(scores: pd.DataFrame) -> int | None:
    """Samples in the experiment: a fold's train plus test size."""
    folds = scores[scores["fold"] >= 0]
    if not len(folds):
        return None
    return int(folds["n_train"].iloc[0] + folds["n_test"].iloc[0])


def _comparison_tables(section: Section, name: str, comparison: pd.DataFrame,
                       caption: str) -> None:
    section.tables.append(Table(name, comparison, caption, display=comparison_display(
        comparison, confidence_of(comparison))))


def _tissue(section: Section, folder: Path, scores: pd.DataFrame,
            comparison: pd.DataFrame | None) -> None:
    overall = scores[(scores["fold"] == -1) & (scores["metric"] == "accuracy")
                     & (scores["target"] == "all")]
    if comparison is not None and (comparison["target"] == "all").any():
        row = comparison[comparison["target"] == "all"].iloc[0]
        section.verdict = single_verdict(row, metric="accuracy",
                                         confidence=confidence_of(comparison),
                                         n_samples=_n_samples(scores))
    wide = overall.pivot_table(index="repetition", columns="extractor", values="value")
    names = list(wide.columns)
    fig, ax = subplots(figsize=(6, 4))
    for _, row in wide.iterrows():  # one line per repetition: the comparison is paired
        ax.plot(range(len(names)), row.to_numpy(), color="grey", alpha=0.35, lw=0.8)
    ax.boxplot([wide[n].to_numpy() for n in names], positions=range(len(names)), widths=0.35)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="accuracy (out-of-fold)", title="Accuracy over repetitions")
    section.figures.append(Figure.from_matplotlib("tissue-accuracy", fig,
                           "Overall accuracy of each repetition's out-of-fold predictions; "
                           "grey lines join the same repetition (identical folds)."))
    classes = scores[(scores["fold"] == -1) & (scores["metric"] == "class_accuracy")]
    if len(classes):
        section.figures.append(_class_bars(classes))
        # No per-class test: class accuracy exists only per repetition (pooled folds), and
        # the corrected t on pooled scores rejects 10-28% of true nulls (issue 19).
    confusion = _read(folder, "tissue_confusion")
    if confusion is not None and len(confusion):
        section.figures.append(_confusion_figure(confusion))
    summary = pd.concat([_summary_table(scores, "accuracy"),
                         _summary_table(scores, "class_accuracy")
                         .rename(columns={"mean_class_accuracy": "mean_accuracy"})])
    section.tables.append(Table("tissue-summary", summary,
                                "Out-of-fold accuracy over repetitions: overall ('all') and "
                                "per class", display=_summary_display(summary, "accuracy")))
    if comparison is not None:
        _comparison_tables(section, "tissue-comparison", comparison, COMPARISON_CAPTION)


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
    return Figure.from_matplotlib("tissue-class-accuracy", fig, "Per-class accuracy side by side.")


COMPARISON_CAPTION = (
    "Paired tests per target. The verdict is the Nadeau-Bengio corrected resampled t-test "
    "over single folds (BH q < 0.05); the CSV's columns ending in _liberal (plain paired "
    "t-test and Wilcoxon over folds, which reject a true null about half the time) are there "
    "only for comparison with the literature.")


def _confusion_figure(confusion: pd.DataFrame) -> Figure:
    names = sorted(confusion["extractor"].unique())
    labels = sorted(set(confusion["true_label"]) | set(confusion["predicted_label"]))
    fig, axes = subplots(1, len(names), figsize=(4.5 * len(names), 4), squeeze=False)
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
    if comparison is not None and len(comparison):
        a, b = comparison["a"].iloc[0], comparison["b"].iloc[0]
        rows = comparison[comparison["b"] == b]
        level = confidence_of(rows)
        over = compare_over_targets(scores, a, b, metric="pearson_r", confidence=level)
        counts = count_better(scores, a, b)
        section.verdict = across_verdict(rows, metric="Pearson r", noun="gene", confidence=level,
                                         n_samples=_n_samples(scores), overall=over)
        section.figures.append(forest_figure(rows, "expression-forest", metric="Pearson r",
                                             confidence=level))
        fig, ax = subplots(figsize=(6, 4))
        ax.hist(rows["mean_diff"], bins=min(40, max(5, len(rows) // 3)), color="#2a5db0")
        ax.axvline(0, color="black", lw=1)
        ax.set(xlabel=f"Pearson r difference ({a} - {b})", ylabel="targets",
               title=f"Per-target correlation differences: corrected t p={_p(over.pvalue)}")
        section.figures.append(Figure.from_matplotlib("expression-differences", fig,
                               "Distribution over targets of the mean (over repetitions) "
                               "difference in out-of-fold Pearson r; the p-value is the corrected t over "
                               "resamples of the mean difference over targets."))
        section.paragraphs.append("The paper's count: " + _count_sentence(counts, a, b)
                                  + f" Over all targets, {over.summary()}")
        _comparison_tables(section, "expression-comparison", comparison, COMPARISON_CAPTION)
    predictions = _read(folder, "expression_predictions")
    if predictions is not None and len(predictions):
        section.figures.append(_observed_predicted(scores, predictions, names))
    summary = _summary_table(scores, "pearson_r")
    section.tables.append(Table("expression-summary", summary,
                                "Out-of-fold Pearson r over repetitions",
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


def _count_sentence(counts: dict[str, object], a: str, b: str) -> str:
    return (f"{counts['significant']} of {counts['targets']} targets are significant for either "
            f"extractor ({counts['threshold']}); {counts[f'better_{a}']} of them are better "
            f"with {a}, {counts[f'better_{b}']} with {b} and {counts['undecided']} undecided. "
            "The count describes; the verdict above decides (targets chosen by the same "
            "scores that then decide who wins them admit no test of the split).")


def _mutation(section: Section, folder: Path, scores: pd.DataFrame,
              comparison: pd.DataFrame | None) -> None:
    summary = _summary_table(scores, "roc_auc")
    if comparison is not None and len(comparison):
        rows = comparison[comparison["b"] == comparison["b"].iloc[0]]
        level = confidence_of(rows)
        over = compare_over_targets(scores, rows["a"].iloc[0], rows["b"].iloc[0],
                                    metric="roc_auc", confidence=level)
        section.verdict = across_verdict(rows, metric="ROC AUC", noun="gene", confidence=level,
                                         n_samples=_n_samples(scores), overall=over)
        section.figures.append(forest_figure(rows, "mutation-forest", metric="ROC AUC",
                                             confidence=level))
    section.figures.append(_auc_bars(summary))
    predictions = _read(folder, "mutation_predictions")
    if comparison is not None and predictions is not None:
        a, b = comparison["a"].iloc[0], comparison["b"].iloc[0]
        delong = []
        for gene in sorted(predictions["target"].unique()):
            result = delong_from_predictions(predictions, a, b, target=gene)
            delong.append({"target": gene, "auc_difference": result.estimate,
                           "ci_low": result.ci_low, "ci_high": result.ci_high,
                           "p_delong_conditional": result.pvalue})
        delong = pd.DataFrame(delong)
        section.tables.append(Table("mutation-delong", delong,
                                    f"DeLong's test, {a} vs {b}, first repetition's out-of-fold "
                                    "scores (95% CI): conditional on the fitted models (it "
                                    "ignores refitting, about 12% false positives between equal "
                                    "extractors), not a verdict; the corrected t over "
                                    "repetitions in the next table decides.",
                                    display=_delong_display(delong, a, b)))
    if comparison is not None:
        _comparison_tables(section, "mutation-comparison", comparison, COMPARISON_CAPTION)
    section.tables.append(Table("mutation-summary", summary, "Out-of-fold ROC AUC",
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


def _delong_display(delong: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    return pd.DataFrame({
        "target": delong["target"],
        f"AUC {a} - {b}": delong["auc_difference"].map(fmt_num),
        "95% CI": [f"[{fmt_num(lo)}, {fmt_num(hi)}]"
                   for lo, hi in zip(delong["ci_low"], delong["ci_high"])],
        "p (DeLong, conditional)": delong["p_delong_conditional"].map(fmt_p),
    })


def experiment_sections(results: str | Path) -> list[Section]:
    """The sections of every experiment whose tables are in ``results``."""
    return [s for e in EXPERIMENTS if (s := experiment_section(results, e)) is not None]
