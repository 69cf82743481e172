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


def _tissue(section: Section, folder: Path, scores: pd.DataFrame,
            comparison: pd.DataFrame | None) -> None:
    overall = scores[(scores["fold"] == -1) & (scores["metric"] == "accuracy")
                     & (scores["target"] == "all")]
    wide = overall.pivot_table(index="repetition", columns="extractor", values="value")
    names = list(wide.columns)
    fig, ax = subplots(figsize=(6, 4))
    for _, row in wide.iterrows():  # one line per repetition: the comparison is paired
        ax.plot(range(len(names)), row.to_numpy(), color="grey", alpha=0.35, lw=0.8)
    ax.boxplot([wide[n].to_numpy() for n in names], positions=range(len(names)), widths=0.35)
    ax.set_xticks(range(len(names)), names)
    title = "Accuracy over repetitions (out-of-fold)"
    if comparison is not None and (comparison["target"] == "all").any():
        row = comparison[comparison["target"] == "all"].iloc[0]
        title += (f"\n{row['a']} vs {row['b']}: corrected t p={_p(row['p_corrected'])}"
                  f" ({_verdict(row)}); liberal: t-test p={_p(_column(row, 'p_ttest'))}, "
                  f"Wilcoxon p={_p(_column(row, 'p_wilcoxon'))}")
    ax.set(ylabel="accuracy", title=title)
    section.figures.append(Figure.from_matplotlib("tissue-accuracy", fig,
                           "Overall accuracy of each repetition's out-of-fold predictions; "
                           "grey lines join the same repetition (identical folds)."))
    classes = scores[(scores["fold"] == -1) & (scores["metric"] == "class_accuracy")]
    if len(classes):
        means = classes.pivot_table(index="target", columns="extractor", values="value")
        fig, ax = subplots(figsize=(max(6, 0.8 * len(means)), 4))
        width = 0.8 / len(means.columns)
        for i, name in enumerate(means.columns):
            ax.bar(np.arange(len(means)) + i * width, means[name], width, label=name)
        ax.set_xticks(np.arange(len(means)) + 0.4 - width / 2, means.index, rotation=30, ha="right")
        ax.set(ylabel="accuracy", ylim=(0, 1.05), title="Per-class accuracy (mean over repetitions)")
        ax.legend()
        section.figures.append(Figure.from_matplotlib("tissue-class-accuracy", fig,
                                                      "Per-class accuracy side by side."))
    confusion = _read(folder, "tissue_confusion")
    if confusion is not None and len(confusion):
        section.figures.append(_confusion_figure(confusion))
    section.tables.append(Table("tissue-summary", _summary_table(scores, "accuracy")
                                .merge(_summary_table(scores, "class_accuracy"), how="outer"),
                                "Mean out-of-fold accuracy over repetitions"))
    if comparison is not None:
        section.tables.append(Table("tissue-comparison", comparison, COMPARISON_CAPTION))


COMPARISON_CAPTION = (
    "Paired tests per target. The verdict is the Nadeau-Bengio corrected resampled t-test "
    "over single folds (BH q < 0.05); columns ending in _liberal (plain paired t-test and "
    "Wilcoxon over folds, which reject a true null about half the time) are shown only for "
    "comparison with the literature.")


def _column(row: pd.Series, stem: str) -> float:
    """A liberal p-value under its current name, or its name in tables from before issue 19."""
    return row.get(f"{stem}_liberal", row.get(stem, float("nan")))


def _verdict(row: pd.Series) -> str:
    verdict = row.get("verdict")
    if verdict is None or verdict == "no difference":
        return "no significant difference"
    return f"{verdict} better"


def _confusion_figure(confusion: pd.DataFrame) -> Figure:
    names = sorted(confusion["extractor"].unique())
    labels = sorted(set(confusion["true_label"]) | set(confusion["predicted_label"]))
    fig, axes = subplots(1, len(names), figsize=(4.5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        counts = (confusion[confusion["extractor"] == name]
                  .pivot_table(index="true_label", columns="predicted_label", values="count",
                               aggfunc="sum").reindex(index=labels, columns=labels).fillna(0))
        rates = counts.to_numpy() / np.maximum(counts.to_numpy().sum(1, keepdims=True), 1)
        ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        for (i, j), value in np.ndenumerate(rates):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.5 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set(title=name, xlabel="predicted", ylabel="true")
    return Figure.from_matplotlib("tissue-confusion", fig,
                                  "Confusion matrices, summed over repetitions, rows normalised.")


def _expression(section: Section, folder: Path, scores: pd.DataFrame,
                comparison: pd.DataFrame | None) -> None:
    names = sorted(scores["extractor"].unique())
    if comparison is not None and len(comparison):
        a, b = comparison["a"].iloc[0], comparison["b"].iloc[0]
        rows = comparison[comparison["b"] == b]
        over = compare_over_targets(scores, a, b, metric="pearson_r")
        counts = count_better(scores, a, b)
        fig, ax = subplots(figsize=(6, 4))
        ax.hist(rows["mean_diff"], bins=min(40, max(5, len(rows) // 3)), color="#2a5db0")
        ax.axvline(0, color="black", lw=1)
        ax.set(xlabel=f"Pearson r difference ({a} - {b})", ylabel="targets",
               title=f"Per-target correlation differences: corrected t p={_p(over.p_value)}")
        section.figures.append(Figure.from_matplotlib("expression-differences", fig,
                               "Distribution over targets of the mean (over folds) difference "
                               "in Pearson r; the p-value is the corrected t over resamples of "
                               "the mean difference over targets."))
        section.paragraphs.append(_count_sentence(counts, a, b) + f" Over all targets, "
                                  f"{over.summary()}")
        section.tables.append(Table("expression-comparison", comparison, COMPARISON_CAPTION))
    predictions = _read(folder, "expression_predictions")
    if predictions is not None and len(predictions):
        pooled = _summary_table(scores, "pearson_r")
        best = pooled.groupby("target")["mean_pearson_r"].max().nlargest(3).index.tolist()
        fig, axes = subplots(1, len(best), figsize=(4.2 * len(best), 4), squeeze=False)
        for ax, target in zip(axes[0], best):
            for name in names:
                rows = predictions[(predictions["target"] == target)
                                   & (predictions["extractor"] == name)]
                r = np.corrcoef(rows["observed"], rows["predicted"])[0, 1]
                ax.scatter(rows["observed"], rows["predicted"], s=10, alpha=0.7,
                           label=f"{name} (r={r:.2f})")
            ax.set(title=target, xlabel="observed (transformed)", ylabel="predicted")
            ax.legend(fontsize=7)
        section.figures.append(Figure.from_matplotlib("expression-observed-predicted", fig,
                               "Observed against out-of-fold predicted values (first "
                               "repetition) for the best-predicted targets."))
    section.tables.append(Table("expression-summary", _summary_table(scores, "pearson_r"),
                                "Mean out-of-fold Pearson r over repetitions"))


def _count_sentence(counts: dict[str, object], a: str, b: str) -> str:
    chance = ("" if not np.isfinite(counts["p_value"]) else
              f" Whether that split is more than chance ({counts['test']}): "
              f"p = {_p(counts['p_value'])}.")
    return (f"{counts['significant']} of {counts['targets']} targets are significant for either "
            f"extractor ({counts['threshold']}); {counts[f'better_{a}']} of them are better "
            f"with {a}, {counts[f'better_{b}']} with {b} and {counts['undecided']} undecided."
            + chance)


def _mutation(section: Section, folder: Path, scores: pd.DataFrame,
              comparison: pd.DataFrame | None) -> None:
    summary = _summary_table(scores, "roc_auc")
    means = summary.pivot_table(index="target", columns="extractor", values="mean_roc_auc")
    sds = summary.pivot_table(index="target", columns="extractor", values="sd_over_repetitions")
    fig, ax = subplots(figsize=(max(6, 0.9 * len(means)), 4))
    width = 0.8 / len(means.columns)
    for i, name in enumerate(means.columns):
        ax.bar(np.arange(len(means)) + i * width, means[name], width, yerr=sds[name], label=name,
               capsize=2)
    ax.axhline(0.5, color="grey", ls=":")
    ax.set_xticks(np.arange(len(means)) + 0.4 - width / 2, means.index, rotation=30, ha="right")
    ax.set(ylabel="ROC AUC", ylim=(0, 1), title="Mutation prediction: AUC per gene")
    ax.legend()
    section.figures.append(Figure.from_matplotlib("mutation-auc", fig,
                           "Out-of-fold ROC AUC per gene, mean and SD over repetitions."))
    predictions = _read(folder, "mutation_predictions")
    if comparison is not None and predictions is not None:
        a, b = comparison["a"].iloc[0], comparison["b"].iloc[0]
        delong = []
        for gene in sorted(predictions["target"].unique()):
            result = delong_from_predictions(predictions, a, b, target=gene)
            delong.append({"target": gene, "auc_difference": result.estimate,
                           "ci_low": result.ci_low, "ci_high": result.ci_high,
                           "p_delong_conditional": result.p_value})
        section.tables.append(Table("mutation-delong", pd.DataFrame(delong),
                                    f"DeLong's test, {a} vs {b}, first repetition's out-of-fold "
                                    "scores: conditional on the fitted models (it ignores "
                                    "refitting, about 12% false positives between equal "
                                    "extractors), not a verdict; the corrected t over "
                                    "repetitions in the next table decides."))
    if comparison is not None:
        section.tables.append(Table("mutation-comparison", comparison, COMPARISON_CAPTION))
    section.tables.append(Table("mutation-summary", summary, "Mean out-of-fold AUC"))


def experiment_sections(results: str | Path) -> list[Section]:
    """The sections of every experiment whose tables are in ``results``."""
    return [s for e in EXPERIMENTS if (s := experiment_section(results, e)) is not None]
