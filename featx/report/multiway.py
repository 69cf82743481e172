"""The N-way comparison section: every pair on the same folds, corrected across pairs, and ranks.

Drawn from the tables ``featx evaluate`` writes with three or more extractors
(``<experiment>_pairs.csv``, ``_ranking.csv``, ``_mean_ranks.csv``) and its provenance
file, which says where each extractor came from (extracted by featx, imported from
TRIDENT/CLAM/slideflow, random weights). Nothing is refitted here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._figures import subplots
from featx._io import read_table
from featx.report.document import Figure, Section, Table
from featx.report.experiments import EXPERIMENT_TITLES

#: Targets drawn in the per-target forest plots (the tables hold every target).
MAX_TARGET_PANELS = 4
_PAIR_COLUMNS = ["target", "a", "b", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high",
                 "p_corrected", "p_adjusted", "significant", "correction"]


def _csv(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / name
    return read_table(path, what="N-way table") if path.is_file() else None


def describe_extractor(name: str, record: dict[str, Any]) -> str:
    """Where one extractor's embeddings came from, in words, from the evaluation provenance."""
    config = record.get("extractor") or {}
    if config.get("imported"):
        return f"{name}: imported from {config.get('source_format')} files (`featx import`)"
    weights = config.get("weights")
    if weights == "random":
        return (f"{name}: random weights (seeded Keras initialisers, no pre-training; the "
                "control for what pre-training adds)")
    if config:
        hashed = config.get("weights_sha256") or config.get("weights_array_sha256")
        return (f"{name}: extracted by featx ({config.get('architecture', config.get('name'))}"
                + (f", weights sha256 {hashed[:12]}…" if hashed else "") + ")")
    return f"{name}: a feature table ({record.get('path', 'unknown source')})"


def _provenance(folder: Path, experiment: str) -> dict[str, Any]:
    path = folder / f"{experiment}_provenance.json"
    return json.loads(path.read_text()).get("extractors", {}) if path.is_file() else {}


def _forest(ax: Any, labels: list[str], mid: np.ndarray, low: np.ndarray, high: np.ndarray,
            colours: list[str], *, zero: bool) -> None:
    y = np.arange(len(labels))[::-1]
    for yi, m, lo, hi, colour in zip(y, mid, low, high, colours):  # errorbar takes one colour
        ax.errorbar([m], [yi], xerr=[[m - lo], [hi - m]], fmt="o", color=colour, capsize=3)
    if zero:
        ax.axvline(0, color="grey", ls=":")
    ax.set_yticks(y, labels, fontsize=8)


def pairs_figure(pairs: pd.DataFrame, experiment: str) -> Figure:
    """Forest plot of the pairwise differences, one panel per target, significant ones dark."""
    targets = sorted(pairs["target"].unique())[:MAX_TARGET_PANELS]
    fig, axes = subplots(1, len(targets), figsize=(4.6 * len(targets), 0.5 * pairs[["a", "b"]]
                         .drop_duplicates().shape[0] + 1.6), squeeze=False)
    for ax, target in zip(axes[0], targets):
        rows = pairs[pairs["target"] == target]
        colours = ["#2a5db0" if s else "#9aa7bd" for s in rows["significant"].astype(bool)]
        _forest(ax, [f"{a} − {b}" for a, b in zip(rows["a"], rows["b"])],
                rows["mean_diff"].to_numpy(), rows["ci_low"].to_numpy(),
                rows["ci_high"].to_numpy(), colours, zero=True)
        ax.set(title=str(target), xlabel="difference in mean score")
    return Figure.from_matplotlib(f"{experiment}-pairs", fig,
                                  "Every pair on the same folds: mean difference with its "
                                  "corrected (Nadeau-Bengio) interval; dark = significant after "
                                  "correction across pairs. " + pairs["correction"].iloc[0] + ".")


def ranking_figure(ranking: pd.DataFrame, mean_ranks: pd.DataFrame | None,
                   experiment: str) -> Figure:
    """Forest plot of each extractor's mean score per target, and the mean rank over targets."""
    targets = sorted(ranking["target"].unique())[:MAX_TARGET_PANELS]
    over = mean_ranks is not None and int(mean_ranks["n_targets"].iloc[0]) > 1
    panels = len(targets) + int(over)
    fig, axes = subplots(1, panels, figsize=(4.2 * panels, 0.45 * ranking["extractor"].nunique()
                                             + 1.6), squeeze=False)
    for ax, target in zip(axes[0], targets):
        rows = ranking[ranking["target"] == target].sort_values("rank")
        _forest(ax, list(rows["extractor"]), rows["mean"].to_numpy(), rows["ci_low"].to_numpy(),
                rows["ci_high"].to_numpy(), ["#2a5db0"] * len(rows), zero=False)
        ax.set(title=str(target), xlabel=f"mean {rows['metric'].iloc[0]} (per fold)")
    if over:
        ax = axes[0][-1]
        _forest(ax, list(mean_ranks["extractor"]), mean_ranks["mean_rank"].to_numpy(),
                mean_ranks["ci_low"].to_numpy(), mean_ranks["ci_high"].to_numpy(),
                ["#b05d2a"] * len(mean_ranks), zero=False)
        ax.invert_xaxis()
        ax.set(title=f"mean rank over {int(mean_ranks['n_targets'].iloc[0])} targets",
               xlabel="rank (1 = best)")
    return Figure.from_matplotlib(f"{experiment}-ranking", fig,
                                  "Ranking: mean per-fold score with its corrected interval "
                                  "(best on top); mean rank over targets with a bootstrap "
                                  "interval over targets.")


def multiway_section(results: str | Path, experiment: str) -> Section | None:
    """The N-way section of one experiment, or None when ``results`` holds no N-way tables."""
    folder = Path(results)
    pairs = _csv(folder, f"{experiment}_pairs.csv")
    ranking = _csv(folder, f"{experiment}_ranking.csv")
    if pairs is None or ranking is None or pairs.empty:
        return None
    mean_ranks = _csv(folder, f"{experiment}_mean_ranks.csv")
    names = list(dict.fromkeys([*pairs["a"], *pairs["b"]]))
    section = Section(f"{EXPERIMENT_TITLES[experiment]}: {len(names)} extractors compared")
    sources = _provenance(folder, experiment)
    section.paragraphs.append("Extractors: " + "; ".join(
        describe_extractor(n, sources.get(n, {})) for n in names) + ".")
    n_pairs = int(pairs["n_pairs"].iloc[0])
    significant = pairs[pairs["significant"].astype(bool)]
    section.paragraphs.append(
        f"{n_pairs} pairs tested on identical folds; {pairs['correction'].iloc[0]}. "
        f"{len(significant)} of {len(pairs)} pair-target tests are significant at 0.05 after "
        "that correction" + (": " + ", ".join(
            f"{r.a if r.mean_diff > 0 else r.b} over {r.b if r.mean_diff > 0 else r.a} "
            f"({r.target})" for r in significant.head(12).itertuples()) if len(significant)
            else "") + ".")
    if mean_ranks is not None and len(mean_ranks):
        best, n = mean_ranks.iloc[0], int(mean_ranks["n_targets"].iloc[0])
        section.paragraphs.append(
            f"Best mean rank: {best['extractor']} ({best['mean_rank']:.2f}, interval "
            f"{best['ci_low']:.2f}–{best['ci_high']:.2f} over {n} target{'s' * (n != 1)}).")
    section.figures += [pairs_figure(pairs, experiment),
                        ranking_figure(ranking, mean_ranks, experiment)]
    section.tables.append(Table(f"{experiment}-pairs", pairs[[c for c in _PAIR_COLUMNS
                                                              if c in pairs]],
                                "Every pair on the same folds, p-values corrected across pairs"))
    section.tables.append(Table(f"{experiment}-ranking", ranking,
                                "Mean per-fold score per target with its corrected interval"))
    if mean_ranks is not None:
        section.tables.append(Table(f"{experiment}-mean-ranks", mean_ranks,
                                    "Mean rank over targets (bootstrap interval over targets)"))
    return section


__all__ = ["describe_extractor", "multiway_section", "pairs_figure", "ranking_figure"]
