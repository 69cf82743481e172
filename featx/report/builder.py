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

The summary at the top comes from :mod:`featx.report.summary` (what each extractor
really was: :mod:`featx.report.extractor_states`; caveats: :mod:`featx.report.caveats`);
the sections from :mod:`featx.report.experiments`, :mod:`featx.report.multiway` (three
or more extractors), :mod:`featx.report.slides` and :mod:`featx.report.literature` (the
liberal tests of the literature, apart from the verdicts); :mod:`featx.report.document`
writes the result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from featx.embed.store import list_extractors
from featx.errors import DataNotFoundError
from featx.evaluation.results import EXPERIMENTS
from featx.report.caveats import data_caveats, leaves
from featx.report.document import Report, Section
from featx.report.experiments import experiment_sections
from featx.report.extractor_states import extractor_states, flags_for
from featx.report.licences import licence_section
from featx.report.literature import literature_section
from featx.report.multiway import multiway_section
from featx.report.slides import nearest_tiles_section, slidescore_section
from featx.report.summary import build_summary, default_title, extractor_names

__all__ = ["build_report", "collect_provenance", "data_caveats", "provenance_facts"]


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
    title: str | None = None,
    *,
    results: str | Path | None = None,
    slidescores: str | Path | None = None,
    store: str | Path | None = None,
    nearest_extractor: str | None = None,
    slides: Mapping[str, Path] | None = None,
    intro: list[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    caveats: list[str] | None = None,
    targets: Sequence[str] | None = None,
) -> Report:
    """Assemble a report from whatever results are given: the summary and the answers first.

    Parameters
    ----------
    title : str, optional
        Default: the extractors and experiments of the results ("A vs B: tissue
        classification"). The title is followed by a flag for every extractor that is not
        what its name promises (stand-in, random weights, barely trained).
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
        Paragraphs about the data, in "About this report" after the results.
    provenance : mapping, optional
        Extra provenance; the inputs' provenance files are added automatically.
    caveats : list of str, optional
        Caveats the caller knows of (stand-in data); those read from the results and
        provenance (random weights, tiny classes, few repetitions) are added. All are
        in the summary at the top.
    targets : sequence of str, optional
        Targets (genes) to show first in the forest plots; default largest difference first.
    """
    sections: list[Section] = []
    if results is not None:
        if not Path(results).is_dir():
            raise DataNotFoundError(f"results folder {results}", "Run `featx evaluate` first.")
        found = experiment_sections(results, list(targets or []))
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
    if results is not None and (liberal := literature_section(results)) is not None:
        sections.append(liberal)
    record = {**collect_provenance(results, slidescores), **(provenance or {})}
    terms = licence_section(record)  # beside the results: under which terms the models run
    if terms is not None:
        sections.append(terms)
    if intro:
        sections.append(Section("About this report", list(intro)))
    states = extractor_states(record, extractor_names(results))
    found_caveats = list(dict.fromkeys([*(caveats or []), *data_caveats(record, results)]))
    summary = build_summary(sections, states, results=results, slidescores=slidescores,
                            caveats=found_caveats)
    return Report(title or default_title(results), record, sections,
                  facts=provenance_facts(record), summary=summary,
                  flags=flags_for(states, states))


#: Provenance leaves a reader wants in the table (the rest stays in the JSON).
_FACT_KEYS = {"featx_version", "experiment", "n_rows", "weights", "weights_sha256",
              "base_weights_sha256", "data_hash", "stain_target", "target_sha256", "method",
              "mode", "tile_px", "tile_mpp", "min_tissue", "overlap_px", "n_splits", "n_repeats",
              "seed", "n_samples", "fold_ids_sha256", "tiles", "targets_sha256", "path",
              "sha256", "n_features", "input_px", "classes_sha256", "version",
              # the experiment's model options and the verdict rule (featx evaluate)
              "transform", "kernel", "C", "epsilon", "scale_y", "rule", "inner_splits", "n_Cs",
              "solver", "max_iter", "verdict_rule", "alpha",
              # how much an FTX-2048 was fine-tuned (its state is part of its identity)
              "batches", "validation_accuracy"}


def provenance_facts(record: Mapping[str, Any]) -> pd.DataFrame:
    """The provenance as a table a reader scans: source, fact, value (hashes shortened).

    Only the leaves named in ``_FACT_KEYS`` or ending in ``sha256``/``_version`` are
    listed; the full record is written beside the report as ``provenance.json``.
    """
    facts: dict[tuple[str, str], list[str]] = {}
    for source, value in record.items():
        for path, leaf in leaves(value):
            key = path[-1] if path else source
            if key in _FACT_KEYS or key.endswith(("sha256", "_version")):
                # Folds are recorded per target: one row per fact, not one per gene.
                shown = ("folds", "per target", *path[2:]) if path[:1] == ("folds",) else path
                facts.setdefault((source, " / ".join(shown) or source), []).append(_short(leaf))
    rows = [{"source": source, "fact": fact,
             "value": values[0] if len(set(values)) == 1 else
             f"{len(set(values))} values over {len(values)} targets (see the JSON)"}
            for (source, fact), values in facts.items()]
    return pd.DataFrame(rows, columns=["source", "fact", "value"])


def _short(value: Any) -> str:
    text = str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text[:16] + "…"  # a SHA-256: the start identifies it, the JSON has it whole
    return text if len(text) <= 90 else text[:87] + "…"
