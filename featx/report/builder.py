"""Build comparison and slide-score reports from stored results (``featx report``).

Everything here reads tables that earlier steps wrote and draws figures from
them; no model is fitted and no score is recomputed. The inputs:

``results/``
    Written by ``featx evaluate`` / :meth:`featx.evaluation.experiments.ExperimentResult.save`:
    ``<experiment>_scores``, ``_confusion``, ``_predictions`` (Parquet or CSV),
    ``<experiment>_comparison.csv`` and ``<experiment>_provenance.json``.
``slidescores/``
    Written by ``featx slidescore``: ``slide_scores.csv`` (with ``label``),
    ``metrics.csv``, ``heatmaps.npz``; optionally ``tile_probabilities.parquet``
    (slide_id, x, y, level, read_px, prob) to paint heatmaps over thumbnails.
a store
    For the tiles nearest each patient's mean embedding (the slides' files are
    needed to show the tiles).

The sections come from :mod:`featx.report.experiments`, :mod:`featx.report.multiway`
(three or more extractors) and :mod:`featx.report.slides`;
:mod:`featx.report.document` writes the result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from featx.embed.store import list_extractors
from featx.errors import DataNotFoundError
from featx.evaluation.results import EXPERIMENTS
from featx.report.document import Report, Section
from featx.report.experiments import experiment_sections
from featx.report.multiway import multiway_section
from featx.report.slides import nearest_tiles_section, slidescore_section


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
        found = experiment_sections(results)
        if not found:
            raise DataNotFoundError(f"experiment tables in {results}",
                                    "Expected <experiment>_scores.parquet from `featx evaluate`.")
        sections += found
        sections += [s for e in EXPERIMENTS if (s := multiway_section(results, e)) is not None]
    if slidescores is not None:
        sections.append(slidescore_section(slidescores, slides=slides))
    if store is not None and slides:
        extractor = nearest_extractor or list_extractors(store)[0]
        sections.append(nearest_tiles_section(store, extractor, slides))
    record = {**collect_provenance(results, slidescores), **(provenance or {})}
    return Report(title, record, sections)
