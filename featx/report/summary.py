"""The top of every report: every answer in one table, what ran on what, and the caveats.

A reader who stops after the first screen knows each experiment's answer, which test
gave it, what each extractor really was (trained, fine-tuned for how long, random,
stand-in) and what changes the reading. The answers are the sections' own verdict cards
(nothing is decided here); the extractor states come from
:mod:`featx.report.extractor_states`, the data from the stored score tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from featx._io import read_table
from featx.evaluation.results import EXPERIMENTS
from featx.report.document import Section, Summary
from featx.report.experiments import EXPERIMENT_TITLES, UNITS, n_samples, read_result
from featx.report.extractor_states import ExtractorState, flags_for


def build_summary(sections: Sequence[Section], states: Mapping[str, ExtractorState], *,
                  results: str | Path | None, slidescores: str | Path | None,
                  caveats: Sequence[str]) -> Summary:
    """The summary of a report whose ``sections`` are built; flags go into their cards."""
    rows = []
    for section in sections:
        verdict = section.verdict
        if verdict is None:
            continue
        verdict.flags = flags_for(states, verdict.extractors)
        rows.append({"experiment": section.heading.split(" (")[0],
                     "extractors": _extractors_cell(verdict.extractors, states),
                     "answer": verdict.headline, "test": verdict.test or "–"})
    answers = pd.DataFrame(rows, columns=["experiment", "extractors", "answer", "test"])
    return Summary(answers, [s.line() for s in states.values()],
                   data_lines(results, slidescores), list(caveats))


def _extractors_cell(names: Sequence[str], states: Mapping[str, ExtractorState]) -> str:
    """"A vs B", with what to know about them: "(stand-ins)", "(A barely trained)"."""
    if not names:
        return "–"
    cautions = {n: states[n].caution for n in names if n in states and states[n].caution}
    text = " vs ".join(names)
    if len(cautions) == len(names) and len(set(cautions.values())) == 1 and len(names) > 1:
        caution = next(iter(cautions.values()))
        return f"{text} ({'stand-ins' if caution == 'stand-in' else f'both {caution}'})"
    return text + (f" ({'; '.join(f'{n} {c}' for n, c in cautions.items())})"
                   if cautions else "")


def data_lines(results: str | Path | None, slidescores: str | Path | None) -> list[str]:
    """What each experiment ran on: samples, targets or classes, and the folds."""
    lines = []
    for experiment in EXPERIMENTS if results is not None else ():
        scores = read_result(Path(results), f"{experiment}_scores")  # type: ignore[arg-type]
        if scores is None or scores.empty:
            continue
        folds = scores[scores["fold"] >= 0]
        repeats = int(folds["repetition"].nunique()) if len(folds) else 0
        splits = int(folds["n_splits"].iloc[0]) if len(folds) else 0
        targets = sorted(set(scores["target"].astype(str)) - {"all"})
        what = (f"{len(targets)} classes" if experiment == "tissue"
                else f"{len(targets)} gene{'s' * (len(targets) != 1)}")
        samples = n_samples(scores)
        lines.append(f"{EXPERIMENT_TITLES[experiment].split(' (')[0]}: "
                     f"{samples if samples is not None else '?'} {UNITS[experiment]}, {what}; "
                     f"{repeats} x {splits}-fold cross-validation on identical folds")
    if slidescores is not None and (Path(slidescores) / "slide_scores.csv").is_file():
        scores = read_table(Path(slidescores) / "slide_scores.csv", what="slide scores")
        tumour = (f", {int(scores['label'].sum())} with tumour"
                  if "label" in scores and scores["label"].isin([0, 1]).all() else "")
        lines.append(f"Slide scores: {len(scores)} slides{tumour}")
    return lines


def extractor_names(results: str | Path | None) -> list[str]:
    """Every extractor in the stored score tables, in order of first appearance."""
    names: list[str] = []
    for experiment in EXPERIMENTS if results is not None else ():
        scores = read_result(Path(results), f"{experiment}_scores")  # type: ignore[arg-type]
        if scores is not None:
            names += list(scores["extractor"].astype(str).unique())
    return list(dict.fromkeys(names))


def default_title(results: str | Path | None) -> str:
    """A title that says what the report holds: the extractors and the experiments."""
    experiments = [EXPERIMENT_TITLES[e].split(" (")[0].lower() for e in EXPERIMENTS
                   if results is not None and read_result(Path(results), f"{e}_scores")
                   is not None]
    names = extractor_names(results)
    head = " vs ".join(names) if names else "Slide scores"
    return head + (f": {', '.join(experiments)}" if experiments else "")


__all__ = ["build_summary", "data_lines", "default_title", "extractor_names"]
