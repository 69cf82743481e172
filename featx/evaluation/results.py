"""What an experiment produces: tidy score tables, and the one map of experiment to metric.

Result tables (tidy; what :mod:`featx.report.document` reads)
-----------------------------------------------------
``scores`` (one row per value):

==============  ======  ==========================================================
column          type    meaning
==============  ======  ==========================================================
experiment      str     "tissue", "expression" or "mutation"
extractor       str     key of the features dict (e.g. "FTX-2048")
target          str     class name, gene or target; "all" for overall accuracy
repetition      int     0 .. n_repeats - 1
fold            int     0 .. n_splits - 1 for one test fold; -1 for the whole
                        repetition's out-of-fold predictions (the paper's score)
metric          str     accuracy, class_accuracy, pearson_r, pearson_p, roc_auc
value           float   the score (NaN only where undefined, with a warning:
                        Pearson r of constant predictions)
n_train         int     training rows of that fold (for fold -1: mean over folds)
n_test          int     test rows of that fold (for fold -1: all rows)
n_splits        int     folds per repetition
==============  ======  ==========================================================

``confusion`` (tissue only): experiment, extractor, repetition, true_label,
predicted_label, count: out-of-fold predictions of each repetition.

``predictions`` (mutation only): experiment, extractor, target, repetition, sample,
label (0/1), score (out-of-fold decision value), for DeLong's test
(:func:`featx.evaluation.paired_tests.delong_from_predictions`).

``predictions`` (expression): experiment, extractor, target, repetition (always 0),
sample, observed, predicted: the first repetition's out-of-fold predictions on the
transformed scale, for observed-vs-predicted plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from featx import __version__
from featx._io import write_json, write_table
from featx._validate import one_of
from featx.evaluation.folds import RepeatedFolds

EXPERIMENTS = ("tissue", "expression", "mutation")
#: The metric each experiment is compared on.
EXPERIMENT_METRICS = {"tissue": "accuracy", "expression": "pearson_r", "mutation": "roc_auc"}
SCORE_COLUMNS = ["experiment", "extractor", "target", "repetition", "fold", "metric",
                 "value", "n_train", "n_test", "n_splits"]
CONFUSION_COLUMNS = ["experiment", "extractor", "repetition", "true_label",
                     "predicted_label", "count"]
PREDICTION_COLUMNS = ["experiment", "extractor", "target", "repetition", "sample", "label",
                      "score"]
#: Columns of expression predictions (repetition 0 only).
EXPRESSION_PREDICTION_COLUMNS = ["experiment", "extractor", "target", "repetition", "sample",
                                 "observed", "predicted"]


@dataclass(frozen=True, eq=False)
class ExperimentResult:
    """Scores (and confusion counts) of one experiment for all extractors.

    Attributes
    ----------
    experiment : str
    scores : pandas.DataFrame
        Tidy scores; columns :data:`SCORE_COLUMNS` (see the module docstring).
    confusion : pandas.DataFrame or None
        Tissue classification only; columns :data:`CONFUSION_COLUMNS`.
    folds : dict of str to RepeatedFolds
        The folds used, per target ("all" when shared by every target).
    ids : pandas.Index
        Rows used, in fold order.
    predictions : pandas.DataFrame or None
        Mutation: columns :data:`PREDICTION_COLUMNS`; expression: the first repetition,
        columns :data:`EXPRESSION_PREDICTION_COLUMNS`.
    dropped : dict of str to int
        Rows of each input table (extractor names, ``"targets"``) left out because their
        IDs were not in every table (:attr:`featx.evaluation.alignment.Aligned.dropped`).
    """

    experiment: str
    scores: pd.DataFrame
    confusion: pd.DataFrame | None = None
    folds: dict[str, RepeatedFolds] = field(default_factory=dict)
    ids: pd.Index | None = None
    predictions: pd.DataFrame | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    def save(self, directory: str | Path, *, fmt: str = "parquet",
             provenance: Mapping[str, object] | None = None) -> list[Path]:
        """Write ``<experiment>_scores`` (``_confusion``, ``_predictions``) and
        ``<experiment>_provenance.json``; return the paths.

        The provenance file records the folds (splits, repeats, seed, splitter) and
        whatever the caller adds (extractors and their weights hashes, stain fit,
        targets), and ``dropped_rows``, the rows of each input left out for want of a
        matching ID, so that a report built from these tables can say how to reproduce them.
        """
        one_of("fmt", fmt, ("parquet", "csv"))
        directory = Path(directory)
        written = [write_table(table, directory / f"{self.experiment}_{kind}.{fmt}")
                   for kind, table in (("scores", self.scores), ("confusion", self.confusion),
                                       ("predictions", self.predictions)) if table is not None]
        record = {"featx_version": __version__, "experiment": self.experiment,
                  "folds": {target: folds.config for target, folds in self.folds.items()},
                  "n_rows": None if self.ids is None else len(self.ids),
                  "dropped_rows": dict(self.dropped), **(provenance or {})}
        written.append(write_json(directory / f"{self.experiment}_provenance.json", record))
        return written


def score_rows(experiment: str, extractor: str, targets: Sequence[str] | np.ndarray, rep: int,
               fold: int, metric: str, values: Sequence[float] | np.ndarray, n_train: int,
               n_test: int, n_splits: int) -> pd.DataFrame:
    """Rows of a score table: one per target, for one (extractor, repetition, fold, metric)."""
    values = np.asarray(values, dtype=np.float64)
    return pd.DataFrame({
        "experiment": experiment, "extractor": extractor,
        "target": np.asarray(targets, dtype=str), "repetition": rep, "fold": fold,
        "metric": metric, "value": values, "n_train": n_train, "n_test": n_test,
        "n_splits": n_splits,
    })


def score_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate :func:`score_rows` frames into a score table with integer columns."""
    table = pd.concat(frames, ignore_index=True)
    for column in ("repetition", "fold", "n_train", "n_test", "n_splits"):
        table[column] = table[column].astype(np.int64)
    return table[SCORE_COLUMNS]


def mean_train_size(splits: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """Mean training-set size of a repetition's folds (the n_train of its fold -1 rows)."""
    return int(round(np.mean([len(train) for train, _ in splits])))
