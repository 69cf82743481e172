"""Report sections about slides: slide scores with their figures, heatmaps, and nearest tiles.

Drawn from what ``featx slidescore`` wrote (``slide_scores.csv``, ``metrics.csv``,
``heatmaps.npz``, ``tile_probabilities.parquet``) and from the store; slide files
are opened only to paint heatmaps over thumbnails and to show tiles.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from featx._figures import subplots
from featx._io import read_table
from featx.embed.store import read_store
from featx.errors import DataError, DataNotFoundError, SlideError
from featx.report.document import Figure, Section, Table, Verdict
from featx.report.live_viewer import DEFAULT_PORT
from featx.report.viewer import safe_name, viewer_files
from featx.slidescore.heatmaps import overlay_on_thumbnail
from featx.slidescore.plots import plot_roc_curves, plot_score_violins
from featx.wsi.slide import open_slide
from featx.wsi.tiling import read_tiles


def slidescore_section(folder: str | Path, *, slides: Mapping[str, Path] | None = None,
                       max_overlays: int = 4, viewers: bool = True,
                       max_viewers: int = 20) -> Section:
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
    viewers : bool, default True
        Write a zoomable slide viewer with the overlay for each scored slide that has a
        file (at most ``max_viewers``, highest scores first), linked from the section.
    max_viewers : int
    """
    folder = Path(folder)
    scores_path = folder / "slide_scores.csv"
    if not scores_path.is_file():
        raise DataNotFoundError(f"slide scores {scores_path}", "Run `featx slidescore` first.")
    scores = read_table(scores_path, what="slide scores")
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
        table = read_table(metrics, what="slide metrics")
        key = [c for c in _METRIC_COLUMNS if c in table.columns]
        section.tables.append(Table("slide-metrics", table, "Slide-level metrics at 0.5 and at "
                                    "the screening threshold",
                                    display=table[key].rename(columns=_readable)))
        section.verdict = _slide_verdict(table)
    section.tables.append(Table("slide-scores", scores, "Slide scores"))
    order = scores.sort_values(scores.columns[scores.columns.str.endswith("_score")][0],
                               ascending=False)["slide_id"].astype(str).tolist()
    shown = (order[: max_overlays // 2] + order[::-1][: max_overlays - max_overlays // 2])
    for slide_id in dict.fromkeys(shown):
        figure = _heatmap_figure(folder, slide_id, slides)
        if figure is not None:
            section.figures.append(figure)
    top = _top_tiles_figure(folder, list(dict.fromkeys(shown)), slides)
    if top is not None:
        section.figures.append(top)
    if slides and viewers:
        _add_viewers(section, folder, order, slides, max_viewers)
    return section


def _top_tiles_figure(folder: Path, slide_ids: list[str], slides: Mapping[str, Path] | None,
                      k: int = 5) -> Figure | None:
    """Each shown slide's ``k`` highest-probability tiles, so a reader sees what scored."""
    from featx.wsi.tiling import TILE_TABLE_COLUMNS

    probabilities = folder / "tile_probabilities.parquet"
    slide_ids = [s for s in slide_ids if slides and s in slides]
    if not slide_ids or not probabilities.is_file():
        return None
    table = pd.read_parquet(probabilities, filters=[("slide_id", "in", slide_ids)])
    if not set(TILE_TABLE_COLUMNS) <= set(table.columns):
        return None
    fig, axes = subplots(len(slide_ids), k, figsize=(1.7 * k, 1.9 * len(slide_ids)),
                         squeeze=False)
    for axes_row, slide_id in zip(axes, slide_ids):
        rows = table[table["slide_id"].astype(str) == slide_id].nlargest(k, "prob")
        for ax in axes_row:
            ax.set_axis_off()
        try:
            with open_slide(slides[slide_id]) as slide:
                images = read_tiles(slide, rows)
        except SlideError:  # an unreadable slide file: its row stays blank
            images = []
        for ax, image, prob in zip(axes_row, images, rows["prob"]):
            ax.imshow(image)
            ax.set_title(f"p = {prob:.2f}", fontsize=8)
        axes_row[0].text(-0.08, 0.5, slide_id, transform=axes_row[0].transAxes, rotation=90,
                         ha="right", va="center", fontsize=8)
    return Figure.from_matplotlib("top-tiles", fig, f"The {k} tiles with the highest tumour "
                                  "probability on each slide shown above, highest first.")


def _add_viewers(section: Section, folder: Path, order: list[str], slides: Mapping[str, Path],
                 max_viewers: int) -> None:
    """A zoomable viewer per scored slide (with a file), linked from the section."""
    probabilities = folder / "tile_probabilities.parquet"
    if not probabilities.is_file():
        return
    skipped = []
    for slide_id in [s for s in order if s in slides][:max_viewers]:
        tiles = pd.read_parquet(probabilities, filters=[("slide_id", "=", slide_id)])
        try:
            section.files.update(viewer_files(slides[slide_id], tiles, slide_id))
        except DataError as error:
            skipped.append(f"{slide_id} ({error.problem})")
            section.links.append((f"{slide_id}: open in `featx view` (run it on the slides "
                                  "folder; the live viewer reads any slide at full size)",
                                  f"http://127.0.0.1:{DEFAULT_PORT}/slide/{quote(slide_id, safe='')}"))
            continue
        section.links.append((f"{slide_id}: open in the slide viewer (zoom and pan at full "
                              "resolution; space bar toggles the probability overlay)",
                              f"viewer-{safe_name(slide_id)}.html"))
    if skipped:
        section.paragraphs.append("No viewer for " + ", ".join(skipped) + ".")


def _readable(column: str) -> str:
    """A column name that can wrap in a narrow table header."""
    return column.replace("_", " ")


def _slide_verdict(metrics: pd.DataFrame) -> Verdict | None:
    """Which slide score ranks tumour slides best, and how few slides that rests on."""
    if not {"score", "roc_auc", "n_slides"} <= set(metrics.columns) or not len(metrics):
        return None
    best = metrics.loc[metrics["roc_auc"].idxmax()]
    n = int(best["n_slides"])
    facts = [(f"{row['score']} score ROC AUC", f"{row['roc_auc']:.3f}")
             for _, row in metrics.iterrows()]
    facts.append(("n", f"{n} slides" + (f", {int(best['n_tumour'])} with tumour"
                                        if "n_tumour" in metrics else "")))
    sentence = ("With fewer than 30 slides an AUC has a wide interval; treat it as a check "
                "that the pipeline runs, not as a performance estimate." if n < 30 else
                "AUCs are over slides, each scored by a model that never saw it.")
    return Verdict(f"The {best['score']} slide score separates tumour from normal slides best "
                   f"(ROC AUC {best['roc_auc']:.3f})", facts, False, sentence)


_METRIC_COLUMNS = ["score", "n_slides", "n_tumour", "roc_auc", "pr_auc", "accuracy_at_0.5",
                   "sensitivity_screening", "specificity_screening", "screening_threshold"]


def _heatmap_figure(folder: Path, slide_id: str,
                    slides: Mapping[str, Path] | None) -> Figure | None:
    """The slide's thumbnail beside its probability map, with a colour bar and axes in tiles."""
    grids = folder / "heatmaps.npz"
    grid = None
    if grids.is_file():
        with np.load(grids) as data:
            grid = data[slide_id] if slide_id in data else None
    probabilities = folder / "tile_probabilities.parquet"
    thumb = overlay = None
    unreadable = ""
    if slides and slide_id in slides and probabilities.is_file():
        tiles = pd.read_parquet(probabilities, filters=[("slide_id", "=", slide_id)])
        try:
            with open_slide(slides[slide_id]) as slide:
                thumb = slide.thumbnail(thumbnail_mpp=max(8.0, slide.slide_mpp))
                overlay = overlay_on_thumbnail(thumb, tiles, tiles["prob"].to_numpy(),
                                               downsample=slide.info.width / thumb.shape[1],
                                               level_downsamples=slide.info.level_downsamples)
        except SlideError as error:  # one bad slide file: its grid heatmap, said so
            thumb, unreadable = None, f" (slide file unreadable: {error.reason})"
    if grid is None and overlay is None:
        return None
    panels = [p for p in ((thumb, "thumbnail"), (overlay, "probability over the slide"),
                          (grid, "probability per tile (row, column)")) if p[0] is not None]
    first = panels[0][0]
    aspect = first.shape[0] / max(first.shape[1], 1)
    fig, axes = subplots(1, len(panels), figsize=(4.2 * len(panels) + 0.8, 4.2 * aspect + 0.8),
                         squeeze=False)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    for ax, (image, label) in zip(axes[0], panels):
        if image is grid:
            ax.imshow(np.ma.masked_invalid(image), cmap="inferno", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set(xlabel="tile column", ylabel="tile row")
        else:
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(label, fontsize=9)
    fig.colorbar(ScalarMappable(Normalize(0, 1), "inferno"), ax=list(axes[0]), shrink=0.8,
                 label="tumour probability")
    fig.suptitle(slide_id, fontsize=10)
    return Figure.from_matplotlib(f"heatmap-{slide_id}", fig,
                                  f"{slide_id}: tile tumour probabilities "
                                  f"{'over the thumbnail' if overlay is not None else 'on the tile grid'}"
                                  f"{unreadable} (0 black, 1 yellow); tiles without tissue are "
                                  "left blank.", colour_bar=True)


# ----------------------------------------------------------------- nearest tiles


def nearest_tiles_section(store: str | Path, extractor: str, slides: Mapping[str, Path], *,
                          n_patients: int = 3, k: int = 6) -> Section:
    """For a few patients, the ``k`` tiles whose embeddings lie nearest the patient's mean.

    Reads embeddings from the store and the tiles' pixels from the slide files.
    """
    table = read_store(store, extractor=extractor)
    table = table[table["slide_id"].astype(str).isin(slides)]
    patients = sorted(table["patient_id"].unique())[:n_patients]
    section = Section(f"Tiles nearest each patient's mean {extractor} embedding")
    if not patients:
        section.paragraphs.append("No stored tiles belong to the given slides.")
        return section
    fig, axes = subplots(len(patients), k, figsize=(1.6 * k, 1.7 * len(patients)),
                             squeeze=False)
    unreadable: list[str] = []
    for axes_row, patient in zip(axes, patients):
        rows = table[table["patient_id"] == patient].reset_index(drop=True)
        embeddings = np.stack(rows["embedding"].to_numpy()).astype(np.float64)
        distance = np.linalg.norm(embeddings - embeddings.mean(0), axis=1)
        nearest = rows.iloc[np.argsort(distance)[:k]]
        for ax in axes_row:
            ax.set_axis_off()
        images = {}  # row label -> pixels; read slide by slide, shown nearest first
        for slide_id, group in nearest.groupby("slide_id", sort=False):
            try:
                with open_slide(slides[str(slide_id)]) as slide:
                    images.update(zip(group.index, read_tiles(slide, group)))
            except SlideError as error:  # its tiles stay blank; the others are shown
                unreadable.append(str(error))
        for ax, label in zip(axes_row, nearest.index):
            if label in images:
                ax.imshow(images[label])
        axes_row[0].set_title(str(patient), fontsize=8, loc="left")
    section.paragraphs.extend(f"Left blank, slide unreadable: {e}" for e in unreadable)
    section.figures.append(Figure.from_matplotlib("nearest-tiles", fig,
                           "Each row: one patient's tiles closest (Euclidean) to the mean of "
                           "all its tiles' embeddings, nearest first."))
    return section
