"""The three downstream experiments by name, run on identical folds and saved with their tests.

* ``"tissue"``: :func:`~featx.evaluation.tissue.classify_tissue` (LinearSVC, accuracy);
* ``"expression"``: :func:`~featx.evaluation.expression.regress_expression` (SVR, Pearson r);
* ``"mutation"``: :func:`~featx.evaluation.mutation.predict_mutations` (LASSO, ROC AUC).

Each takes ``{extractor_name: DataFrame}`` (rows indexed by sample or patient ID,
numeric feature columns) and the targets, joins them
(:mod:`featx.evaluation.alignment`), draws folds once (:mod:`featx.evaluation.folds`)
and fits every extractor on exactly the same folds, so that
:mod:`featx.evaluation.comparisons` can pair the scores. :func:`run_evaluation` is
what ``featx evaluate`` (and the demo) run: the experiment, its tables, the
comparison of the first extractor with each other one and, with three or more
extractors, the N-way comparison (:mod:`featx.evaluation.multiway`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from featx._io import file_sha256, read_table, write_table
from featx._validate import one_of
from featx.errors import DataError
from featx.evaluation.comparisons import compare_extractors
from featx.evaluation.expression import regress_expression
from featx.evaluation.multiway import MultiwayComparison, compare_many
from featx.evaluation.mutation import predict_mutations
from featx.evaluation.results import EXPERIMENT_METRICS, EXPERIMENTS, ExperimentResult
from featx.evaluation.tissue import classify_tissue
from featx.evaluation.verdict_rules import DEFAULT_RULE, VerdictRule, checked_rule

#: Tables of the N-way comparison, ``<experiment>_<name>.csv``.
MULTIWAY_TABLES = ("pairs", "ranking", "mean_ranks")


def evaluate(experiment: str, features: Mapping[str, pd.DataFrame], targets: pd.DataFrame,
             **options: Any) -> ExperimentResult:
    """Run one experiment by name ("tissue", "expression" or "mutation").

    ``options`` go to the experiment's function; for tissue, ``targets`` holds one
    column of class labels.
    """
    one_of("experiment", experiment, EXPERIMENTS)
    if experiment == "tissue":
        if targets.shape[1] != 1:
            raise DataError("targets", f"{targets.shape[1]} columns for tissue classification",
                            "Pass one column of class labels")
        return classify_tissue(features, targets.iloc[:, 0], **options)
    run = regress_expression if experiment == "expression" else predict_mutations
    return run(features, targets, **options)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`run_evaluation` computed and wrote.

    Attributes
    ----------
    result : ExperimentResult
        Scores, folds and predictions.
    comparison : pandas.DataFrame or None
        Per-target tests and verdicts of the first extractor against each other one
        (:func:`~featx.evaluation.comparisons.compare_extractors`; the headline of each pair
        is :func:`~featx.evaluation.verdict_rules.overall_verdict` of its rows); None with
        one extractor.
    written : list of Path
        The files written.
    multiway : MultiwayComparison or None
        With three or more extractors (or a ``reference``): every pair (or each against
        the reference) corrected across pairs, and the ranking.
    """

    result: ExperimentResult
    comparison: pd.DataFrame | None
    written: list[Path] = field(default_factory=list)
    multiway: MultiwayComparison | None = None


def run_evaluation(experiment: str, features: Mapping[str, pd.DataFrame], targets: pd.DataFrame,
                   out: str | Path, *, fmt: str = "parquet",
                   provenance: Mapping[str, Any] | None = None, reference: str | None = None,
                   correction: str = "holm", verdict_rule: str | VerdictRule = DEFAULT_RULE,
                   alpha: float = 0.05, **options: Any) -> Evaluation:
    """Run an experiment, save its tables, and compare the first extractor with each other one.

    Parameters
    ----------
    experiment : {"tissue", "expression", "mutation"}
    features : mapping of str to pandas.DataFrame
        One ID-indexed feature table per extractor; the first is the reference.
    targets : pandas.DataFrame
        ID-indexed targets (tissue: one column of labels).
    out : str or Path
        Folder for ``<experiment>_scores`` (``_confusion``, ``_predictions``),
        ``<experiment>_provenance.json`` and, with two or more extractors,
        ``<experiment>_comparison.csv``.
    fmt : {"parquet", "csv"}
        Format of the score tables.
    provenance : mapping, optional
        Added to the provenance file (extractors, targets, options).
    reference : str, optional
        N-way: compare each extractor with this one; default every pair (with three or
        more extractors). Writes ``<experiment>_pairs.csv``, ``_ranking.csv`` and
        ``_mean_ranks.csv``.
    correction : {"holm", "bh"}
        N-way: correction across pairs.
    verdict_rule : str or VerdictRule, default "calibrated"
        The verdict rule (:mod:`featx.evaluation.verdict_rules`); recorded in the
        provenance as ``verdict_rule``.
    alpha : float, default 0.05
        Level of the verdicts.
    **options
        Passed to the experiment (``n_splits``, ``n_repeats``, ``seed``, ``n_jobs``, ...).
    """
    rule = checked_rule(verdict_rule)
    result = evaluate(experiment, features, targets, **options)
    record = {**(provenance or {}), "verdict_rule": rule.describe(),
              "verdict_rule_config": rule.config, "alpha": alpha}
    written = result.save(out, fmt=fmt, provenance=record)
    names = list(features)
    comparison = None
    chance = chance_level(experiment, targets)
    if len(names) > 1:
        metric = EXPERIMENT_METRICS[experiment]
        comparison = pd.concat([compare_extractors(result.scores, names[0], other, metric=metric,
                                                   verdict_rule=rule, chance=chance,
                                                   alpha=alpha)
                                for other in names[1:]], ignore_index=True)
        written.append(write_table(comparison, Path(out) / f"{experiment}_comparison.csv"))
    multiway = None
    if len(names) > 2 or (reference is not None and len(names) > 1):
        multiway = compare_many(result.scores, metric=EXPERIMENT_METRICS[experiment],
                                extractors=names, reference=reference, correction=correction,
                                seed=int(options.get("seed", 0)), verdict_rule=rule,
                                chance=chance,
                                alpha=alpha)
        for stem, table in (("pairs", multiway.pairs), ("ranking", multiway.ranking),
                            ("mean_ranks", multiway.mean_ranks)):
            written.append(write_table(table, Path(out) / f"{experiment}_{stem}.csv"))
    else:  # an earlier N-way run's tables would describe other extractors
        for stem in MULTIWAY_TABLES:
            (Path(out) / f"{experiment}_{stem}.csv").unlink(missing_ok=True)
    return Evaluation(result, comparison, written, multiway)


def chance_level(experiment: str, targets: pd.DataFrame) -> float | None:
    """What an extractor that predicts nothing scores: tissue, the largest class's share of
    the labels; None elsewhere (the metric's own, 0.5 AUC or 0 r, applies)."""
    if experiment != "tissue":
        return None
    return float(targets.iloc[:, 0].value_counts(normalize=True).max())


def read_targets(path: str | Path, *, id_column: str | None = None) -> pd.DataFrame:
    """Read a target table (TSV, CSV or Parquet) indexed by its ID column (default: the first)."""
    path = Path(path)
    table = read_table(path, what="target table")
    if path.suffix == ".parquet" and id_column is None and table.index.name is not None:
        table = table.reset_index()
    id_column = id_column or str(table.columns[0])
    if id_column not in table.columns:
        raise DataError(f"target table {path}", f"no ID column {id_column!r} (columns: "
                        f"{list(table.columns)[:10]})", "Name the ID column with --target-id-column")
    table = table.set_index(id_column)
    table.index = table.index.astype(str)
    return table


def select_targets(table: pd.DataFrame, experiment: str, *, columns: Sequence[str] | None = None,
                   group_column: str | None = None, source: str = "targets",
                   ) -> tuple[pd.DataFrame, pd.Series | None]:
    """The target columns an experiment uses, and the tissue experiment's patient groups.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`read_targets`.
    experiment : str
        Tissue uses the ``label`` column by default; the others every column.
    columns : sequence of str, optional
        The columns to use instead.
    group_column : str, optional
        Tissue only: the column naming each tile's patient.
    source : str
        The table's name in error messages.
    """
    one_of("experiment", experiment, EXPERIMENTS)
    groups = None
    if group_column is not None:
        if experiment != "tissue" or group_column not in table.columns:
            raise DataError("--group-column", f"{group_column!r} needs --experiment tissue and "
                            f"a column of {source} (columns: {list(table.columns)[:10]})",
                            "Name a column of the target table that holds each tile's patient")
        groups = table[group_column]
    wanted = list(columns) if columns else (["label"] if experiment == "tissue"
                                            else list(table.columns))
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise DataError("--columns", f"{missing} not in {source} (columns: "
                        f"{list(table.columns)[:10]})", "Pass columns the table has")
    if experiment == "tissue":
        unlabelled = table.index[table[wanted].isna().any(axis=1)]
        if len(unlabelled):
            raise DataError(f"{source} column {wanted}", f"{len(unlabelled)} rows have no label "
                            f"(e.g. {[str(i) for i in unlabelled[:3]]})",
                            "Drop those rows or give them a label")
    return table[wanted], groups


def targets_provenance(path: str | Path, columns: Sequence[str]) -> dict[str, Any]:
    """Where the targets came from: the file, its sha256 and the columns used."""
    return {"path": str(path), "sha256": file_sha256(path), "columns": list(columns)}
