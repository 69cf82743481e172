"""Build comparison and slide-score reports from stored results (``featx report``).

Everything here reads tables that earlier steps wrote and draws figures from
them; no model is fitted and no score is recomputed. The inputs:

``results/``
    Written by ``featx evaluate`` / :meth:`featx.models.ExperimentResult.save`:
    ``<experiment>_scores``, ``_confusion``, ``_predictions`` (Parquet or CSV),
    ``<experiment>_comparison.csv`` and ``<experiment>_provenance.json``.
``slidescores/``
    Written by ``featx slidescore``: ``slide_scores.csv`` (with ``label``),
    ``metrics.csv``, ``heatmaps.npz``; optionally ``tile_probabilities.parquet``
    (slide_id, x, y, level, read_px, prob) to paint heatmaps over thumbnails.
a store
    For the tiles nearest each patient's mean embedding (the slides' files are
    needed to show the tiles).

The figures follow the Journal of Pathology Informatics paper: accuracy over
repetitions with paired-test p-values, per-class accuracy side by side,
confusion matrices, the distribution of per-gene correlation differences,
observed against predicted, mutation AUCs per gene; and for slide scores ROC
curves, violin plots and heatmap overlays.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx.errors import DataNotFoundError
from featx.report import Figure, Report, Section, Table

METRIC = {"tissue": "accuracy", "expression": "pearson_r", "mutation": "roc_auc"}
EXPERIMENT_TITLES = {"tissue": "Tissue classification (linear SVC)",
                     "expression": "Expression regression (SVR)",
                     "mutation": "Mutation prediction (LASSO logistic regression)"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read(folder: Path, stem: str) -> pd.DataFrame | None:
    for suffix, reader in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return reader(path)
    return None


def _p(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else (
        f"{value:.2g}" if value >= 1e-4 else "<1e-4")


# ----------------------------------------------------------------- experiments


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
    plt = _plt()
    overall = scores[(scores["fold"] == -1) & (scores["metric"] == "accuracy")
                     & (scores["target"] == "all")]
    wide = overall.pivot_table(index="repetition", columns="extractor", values="value")
    names = list(wide.columns)
    fig, ax = plt.subplots(figsize=(6, 4))
    for _, row in wide.iterrows():  # one line per repetition: the comparison is paired
        ax.plot(range(len(names)), row.to_numpy(), color="grey", alpha=0.35, lw=0.8)
    ax.boxplot([wide[n].to_numpy() for n in names], positions=range(len(names)), widths=0.35)
    ax.set_xticks(range(len(names)), names)
    title = "Accuracy over repetitions (out-of-fold)"
    if comparison is not None and (comparison["target"] == "all").any():
        row = comparison[comparison["target"] == "all"].iloc[0]
        title += (f"\n{row['a']} vs {row['b']}: corrected t p={_p(row['p_corrected'])}, "
                  f"t-test p={_p(row['p_ttest'])}, Wilcoxon p={_p(row['p_wilcoxon'])}")
    ax.set(ylabel="accuracy", title=title)
    section.figures.append(Figure.from_matplotlib("tissue-accuracy", fig,
                           "Overall accuracy of each repetition's out-of-fold predictions; "
                           "grey lines join the same repetition (identical folds)."))
    classes = scores[(scores["fold"] == -1) & (scores["metric"] == "class_accuracy")]
    if len(classes):
        means = classes.pivot_table(index="target", columns="extractor", values="value")
        fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(means)), 4))
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
        section.tables.append(Table("tissue-comparison", comparison,
                                    "Paired tests per target (Nadeau-Bengio corrected t-test, "
                                    "plain paired t-test, Wilcoxon; BH q-values)"))


def _confusion_figure(confusion: pd.DataFrame) -> Figure:
    plt = _plt()
    names = sorted(confusion["extractor"].unique())
    labels = sorted(set(confusion["true_label"]) | set(confusion["predicted_label"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 4), squeeze=False)
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
    from featx.stats import compare_over_targets, count_better

    plt = _plt()
    names = sorted(scores["extractor"].unique())
    if comparison is not None and len(comparison):
        a, b = comparison["a"].iloc[0], comparison["b"].iloc[0]
        rows = comparison[comparison["b"] == b]
        over = compare_over_targets(scores, a, b, metric="pearson_r")
        counts = count_better(scores, a, b)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(rows["mean_diff"], bins=min(40, max(5, len(rows) // 3)), color="#2a5db0")
        ax.axvline(0, color="black", lw=1)
        ax.set(xlabel=f"Pearson r difference ({a} - {b})", ylabel="targets",
               title=f"Per-target correlation differences: Wilcoxon p={_p(over.p_value)}")
        section.figures.append(Figure.from_matplotlib("expression-differences", fig,
                               "Distribution over targets of the mean (over repetitions) "
                               "difference in out-of-fold Pearson r."))
        section.paragraphs.append(
            f"{counts['significant']} of {counts['targets']} targets have a significant "
            f"correlation (BH q < 0.05) for either extractor; {counts[f'better_{a}']} of them "
            f"are better with {a} and {counts[f'better_{b}']} with {b}. Over all targets, "
            f"{over.summary()}")
        section.tables.append(Table("expression-comparison", comparison,
                                    "Paired tests per target (BH q-values over targets)"))
    predictions = _read(folder, "expression_predictions")
    if predictions is not None and len(predictions):
        pooled = _summary_table(scores, "pearson_r")
        best = pooled.groupby("target")["mean_pearson_r"].max().nlargest(3).index.tolist()
        fig, axes = plt.subplots(1, len(best), figsize=(4.2 * len(best), 4), squeeze=False)
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


def _mutation(section: Section, folder: Path, scores: pd.DataFrame,
              comparison: pd.DataFrame | None) -> None:
    from featx.stats import delong_from_predictions

    plt = _plt()
    summary = _summary_table(scores, "roc_auc")
    means = summary.pivot_table(index="target", columns="extractor", values="mean_roc_auc")
    sds = summary.pivot_table(index="target", columns="extractor", values="sd_over_repetitions")
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(means)), 4))
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
                           "p_delong": result.p_value})
        section.tables.append(Table("mutation-delong", pd.DataFrame(delong),
                                    f"DeLong's test, {a} vs {b}, first repetition"))
    if comparison is not None:
        section.tables.append(Table("mutation-comparison", comparison,
                                    "Paired tests over repetitions per gene (BH q-values)"))
    section.tables.append(Table("mutation-summary", summary, "Mean out-of-fold AUC"))


# ----------------------------------------------------------------- slide scores


def slidescore_section(folder: str | Path, *, slides: Mapping[str, Path] | None = None,
                       max_overlays: int = 4) -> Section:
    """ROC curves, violin plots, metrics and heatmaps from a ``featx slidescore`` folder.

    Parameters
    ----------
    folder : str or Path
        Output of ``featx slidescore`` (``slide_scores.csv`` with a ``label`` column).
    slides : mapping of slide_id to path, optional
        Slide files, to paint heatmaps over thumbnails; without them the tile-grid
        heatmaps are shown.
    max_overlays : int
        Heatmaps shown (the highest- and lowest-scoring slides first).
    """
    from featx.slidescore import plot_roc_curves, plot_score_violins

    folder = Path(folder)
    scores_path = folder / "slide_scores.csv"
    if not scores_path.is_file():
        raise DataNotFoundError(f"slide scores {scores_path}", "Run `featx slidescore` first.")
    scores = pd.read_csv(scores_path)
    section = Section("Slide scores")
    methods = {c.removesuffix("_score"): scores[c].to_numpy() for c in scores.columns
               if c.endswith("_score")}
    if "label" in scores.columns and scores["label"].nunique() == 2:
        with tempfile.TemporaryDirectory() as tmp:
            roc = plot_roc_curves(scores["label"], methods, Path(tmp) / "roc.png")
            section.figures.append(Figure("slide-roc", roc.read_bytes(),
                                          "ROC curves of the slide scores."))
            for name, values in methods.items():
                path = plot_score_violins(scores["label"], values, Path(tmp) / f"{name}.png",
                                          title=f"{name} slide scores by class")
                section.figures.append(Figure(f"slide-violin-{name}", path.read_bytes(),
                                              f"{name} score by slide class."))
    metrics = folder / "metrics.csv"
    if metrics.is_file():
        section.tables.append(Table("slide-metrics", pd.read_csv(metrics),
                                    "Slide-level metrics at 0.5 and at the screening threshold"))
    section.tables.append(Table("slide-scores", scores, "Slide scores"))
    order = scores.sort_values(scores.columns[scores.columns.str.endswith("_score")][0],
                               ascending=False)["slide_id"].astype(str).tolist()
    shown = (order[: max_overlays // 2] + order[::-1][: max_overlays - max_overlays // 2])
    for slide_id in dict.fromkeys(shown):
        figure = _heatmap_figure(folder, slide_id, slides)
        if figure is not None:
            section.figures.append(figure)
    return section


def _heatmap_figure(folder: Path, slide_id: str,
                    slides: Mapping[str, Path] | None) -> Figure | None:
    from featx.heatmap import heatmap_rgba, overlay_on_thumbnail

    plt = _plt()
    probabilities = folder / "tile_probabilities.parquet"
    if slides and slide_id in slides and probabilities.is_file():
        from featx.slide import open_slide

        tiles = pd.read_parquet(probabilities, filters=[("slide_id", "=", slide_id)])
        with open_slide(slides[slide_id]) as slide:
            thumb = slide.thumbnail(mpp=max(8.0, slide.mpp))
            image = overlay_on_thumbnail(thumb, tiles, tiles["prob"].to_numpy(),
                                         downsample=slide.info.width / thumb.shape[1],
                                         level_downsamples=slide.info.level_downsamples)
        caption = f"{slide_id}: tile tumour probabilities over the thumbnail."
    else:
        grids = folder / "heatmaps.npz"
        if not grids.is_file():
            return None
        with np.load(grids) as data:
            if slide_id not in data:
                return None
            image = heatmap_rgba(data[slide_id])
        caption = f"{slide_id}: tile tumour probabilities on the tile grid."
    fig, ax = plt.subplots(figsize=(5, 5 * image.shape[0] / max(image.shape[1], 1)))
    ax.imshow(image)
    ax.set_axis_off()
    ax.set_title(slide_id, fontsize=9)
    return Figure.from_matplotlib(f"heatmap-{slide_id}", fig, caption)


# ----------------------------------------------------------------- nearest tiles


def nearest_tiles_section(store: str | Path, extractor: str, slides: Mapping[str, Path], *,
                          n_patients: int = 3, k: int = 6) -> Section:
    """For a few patients, the ``k`` tiles whose embeddings lie nearest the patient's mean.

    Reads embeddings from the store and the tiles' pixels from the slide files.
    """
    from featx.slide import open_slide
    from featx.store import read_store
    from featx.tiling import read_tiles

    plt = _plt()
    table = read_store(store, extractor=extractor)
    table = table[table["slide_id"].astype(str).isin(slides)]
    patients = sorted(table["patient_id"].unique())[:n_patients]
    section = Section(f"Tiles nearest each patient's mean {extractor} embedding")
    if not patients:
        section.paragraphs.append("No stored tiles belong to the given slides.")
        return section
    fig, axes = plt.subplots(len(patients), k, figsize=(1.6 * k, 1.7 * len(patients)),
                             squeeze=False)
    for axes_row, patient in zip(axes, patients):
        rows = table[table["patient_id"] == patient].reset_index(drop=True)
        embeddings = np.stack(rows["embedding"].to_numpy()).astype(np.float64)
        distance = np.linalg.norm(embeddings - embeddings.mean(0), axis=1)
        nearest = rows.iloc[np.argsort(distance)[:k]]
        for ax in axes_row:
            ax.set_axis_off()
        images = {}  # row label -> pixels; read slide by slide, shown nearest first
        for slide_id, group in nearest.groupby("slide_id", sort=False):
            with open_slide(slides[str(slide_id)]) as slide:
                images.update(zip(group.index, read_tiles(slide, _tile_rows(group, slide))))
        for ax, label in zip(axes_row, nearest.index):
            ax.imshow(images[label])
        axes_row[0].set_title(str(patient), fontsize=8, loc="left")
    section.figures.append(Figure.from_matplotlib("nearest-tiles", fig,
                           "Each row: one patient's tiles closest (Euclidean) to the mean of "
                           "all its tiles' embeddings, nearest first."))
    return section


def _tile_rows(group: pd.DataFrame, slide: Any) -> pd.DataFrame:
    """Store rows as a tile table: the read size follows from the slide's level downsample."""
    downsample = np.asarray(slide.info.level_downsamples)[group["level"].to_numpy()]
    read_px = np.round(group["tile_px"] * group["mpp"] / (slide.mpp * downsample)).astype(int)
    return group.assign(read_px=read_px)


# ----------------------------------------------------------------- whole report


#: File suffixes taken for slides when a folder is searched.
SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".svslide", ".bif", ".vms")


def find_slides(folder: str | Path) -> dict[str, Path]:
    """Slide files below ``folder``, keyed by slide id (file name without extension)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"slide folder {folder}", "Pass the folder holding the slides.")
    return {p.stem: p for p in sorted(folder.rglob("*")) if p.suffix.lower() in SLIDE_SUFFIXES}


def collect_provenance(*folders: str | Path | None) -> dict[str, Any]:
    """Every ``*provenance*.json`` in the given folders, keyed by file name."""
    record: dict[str, Any] = {}
    for folder in folders:
        if folder is None or not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).glob("*provenance*.json")):
            record[f"{Path(folder).name}/{path.name}"] = json.loads(path.read_text())
    return record


def build_report(
    title: str,
    *,
    results: str | Path | None = None,
    slidescores: str | Path | None = None,
    store: str | Path | None = None,
    nearest_extractor: str | None = None,
    slides: Mapping[str, Path] | None = None,
    intro: list[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Report:
    """Assemble a report from whatever results are given.

    Parameters
    ----------
    title : str
    results : path, optional
        Folder of ``featx evaluate`` outputs (any of the three experiments).
    slidescores : path, optional
        Folder of ``featx slidescore`` outputs.
    store : path, optional
        Embedding store, for the nearest-tiles figure (needs ``slides`` too).
    nearest_extractor : str, optional
        Whose embeddings to use there (default: the store's first extractor).
    slides : mapping of slide_id to path, optional
        Slide files, for the nearest tiles and the heatmap overlays.
    intro : list of str, optional
        Opening paragraphs.
    provenance : mapping, optional
        Extra provenance; the inputs' provenance files are added automatically.
    """
    sections = [Section("About this report", list(intro or []))] if intro else []
    if results is not None:
        if not Path(results).is_dir():
            raise DataNotFoundError(f"results folder {results}", "Run `featx evaluate` first.")
        found = [s for e in METRIC if (s := experiment_section(results, e)) is not None]
        if not found:
            raise DataNotFoundError(f"experiment tables in {results}",
                                    "Expected <experiment>_scores.parquet from `featx evaluate`.")
        sections += found
    if slidescores is not None:
        sections.append(slidescore_section(slidescores, slides=slides))
    if store is not None and slides:
        from featx.store import list_extractors

        extractor = nearest_extractor or list_extractors(store)[0]
        sections.append(nearest_tiles_section(store, extractor, slides))
    record = {**collect_provenance(results, slidescores), **(provenance or {})}
    return Report(title, record, sections)
