"""Tissue classification: StandardScaler + LinearSVC on tile embeddings, repeated K-fold.

Accuracy per fold and per repetition (out-of-fold), per-class accuracy and
confusion matrices, for every extractor on the same folds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.svm import LinearSVC
from tqdm.auto import tqdm

from featx._validate import one_of, positive_float, positive_int
from featx.evaluation.alignment import align, warn_if_grouped
from featx.evaluation.folds import make_folds
from featx.evaluation.linear_svm import BatchedLinearSVC
from featx.evaluation.parallel import ordered_map, shared_arrays
from featx.evaluation.results import (
    CONFUSION_COLUMNS,
    ExperimentResult,
    mean_train_size,
    score_rows,
    score_table,
)
from featx.evaluation.scaling import standardise

TISSUE_SOLVERS = ("newton", "liblinear")


def classify_tissue(
    features: Mapping[str, pd.DataFrame],
    labels: pd.Series,
    *,
    groups: pd.Series | None = None,
    n_splits: int = 5,
    n_repeats: int = 50,
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 1000,
    solver: str = "newton",
    n_jobs: int = 1,
    progress: bool = False,
) -> ExperimentResult:
    """Tissue classification: StandardScaler + LinearSVC, repeated stratified K-fold.

    Each fold standardises with ``StandardScaler`` fitted on its training rows and fits
    ``LinearSVC(C=C)``'s problem (squared hinge, L2, one-vs-rest, regularised intercept).
    ``solver="newton"`` solves it to liblinear's own stopping rule with
    :class:`featx.evaluation.linear_svm.BatchedLinearSVC` (exact Newton, all classes at once);
    ``solver="liblinear"`` is the naive ``make_pipeline(StandardScaler(), LinearSVC(C=C,
    max_iter=max_iter, random_state=0))``, which at paper scale stops at ``max_iter``
    unconverged and takes minutes per fit. Both minimise the same strictly convex
    objective, so where liblinear converges the predictions agree.

    Parameters
    ----------
    features : mapping of str to pandas.DataFrame
        Tile embeddings per extractor, indexed by tile ID (matched exactly).
    labels : pandas.Series
        Class of each tile, indexed by tile ID.
    groups : pandas.Series, optional
        Patient of each tile; folds then keep a patient's tiles together
        (StratifiedGroupKFold). Without it, a warning is given when the tile IDs look
        like several tiles per patient (TCGA barcodes, ``<slide>_<x>_<y>`` names; see
        :func:`featx.evaluation.alignment.likely_owners`).
    n_splits, n_repeats, seed : int
        Cross-validation (see :func:`featx.evaluation.folds.make_folds`).
    C : float, default 1.0
        LinearSVC regularisation.
    max_iter : int, default 1000
        Iteration limit: Newton iterations for ``"newton"`` (a few dozen suffice),
        liblinear's for ``"liblinear"``.
    solver : {"newton", "liblinear"}, default "newton"
        How each fold's LinearSVC problem is solved (see above).
    n_jobs : int, default 1
        Worker processes fitting folds side by side (:mod:`featx.evaluation.parallel`; one BLAS
        thread each when there are as many as cores); results do not depend on it.
    progress : bool, default False
        Show a progress bar over repetitions.

    Returns
    -------
    ExperimentResult
        metrics ``accuracy`` (target "all", per fold and fold -1) and
        ``class_accuracy`` (target = class, fold -1), and the confusion table.
    """
    C = positive_float("C", C)
    max_iter = positive_int("max_iter", max_iter)
    n_jobs = positive_int("n_jobs", n_jobs)
    one_of("solver", solver, TISSUE_SOLVERS)
    targets = labels.rename("label").to_frame()
    if groups is not None:
        targets["group"] = groups.reindex(labels.index).to_numpy()
    data = align(features, targets, id_mode="exact")
    if groups is None:
        warn_if_grouped(data.ids)
    y = data.targets["label"].astype(str).to_numpy()
    g = data.targets["group"].to_numpy() if groups is not None else None
    folds = make_folds(len(y), n_splits=n_splits, n_repeats=n_repeats, seed=seed, y=y, groups=g)
    classes, codes = np.unique(y, return_inverse=True)
    names = list(data.features)

    def tasks(arrays):  # every (extractor, fold) fit of every repetition, in result order
        for rep in range(folds.n_repeats):
            for name in names:
                for train, test in folds.split(rep):
                    yield arrays[name], codes, train, test, C, max_iter, solver

    frames, confusion = [], []
    with shared_arrays(data.features, enabled=n_jobs > 1) as shared:
        fits = ordered_map(_fit_tissue_fold, tasks(shared), n_jobs=n_jobs)
        for rep in tqdm(range(folds.n_repeats), disable=not progress, desc="tissue"):
            splits = list(folds.split(rep))
            for name in names:
                predictions = np.empty(len(y), dtype=y.dtype)
                for fold, (train, test) in enumerate(splits):
                    pred = classes[next(fits)]
                    predictions[test] = pred
                    frames.append(score_rows("tissue", name, ["all"], rep, fold, "accuracy",
                                        [np.mean(pred == y[test])], len(train), len(test),
                                        n_splits))
                n_train = mean_train_size(splits)
                frames.append(score_rows("tissue", name, ["all"], rep, -1, "accuracy",
                                    [np.mean(predictions == y)], n_train, len(y), n_splits))
                per_class = [np.mean(predictions[y == c] == c) for c in classes]
                frames.append(score_rows("tissue", name, classes, rep, -1, "class_accuracy",
                                    per_class, n_train, len(y), n_splits))
                counts = pd.crosstab(pd.Categorical(y, classes),
                                     pd.Categorical(predictions, classes), dropna=False)
                long = counts.stack().rename("count").reset_index()
                long.columns = ["true_label", "predicted_label", "count"]
                long.insert(0, "repetition", rep)
                long.insert(0, "extractor", name)
                long.insert(0, "experiment", "tissue")
                confusion.append(long)
    conf = pd.concat(confusion, ignore_index=True)
    conf[["true_label", "predicted_label"]] = conf[["true_label", "predicted_label"]].astype(str)
    return ExperimentResult("tissue", score_table(frames), conf[CONFUSION_COLUMNS],
                            {"all": folds}, data.ids, None, data.dropped)


def _fit_tissue_fold(x: np.ndarray, codes: np.ndarray, train: np.ndarray, test: np.ndarray,
                     C: float, max_iter: int, solver: str) -> np.ndarray:
    """One fold of :func:`classify_tissue`: predicted class codes of the test rows."""
    z_train, z_test = standardise(x, train, test)
    if solver == "newton":
        model = BatchedLinearSVC(C=C, max_iter=max_iter)
    else:
        # liblinear's dual solver shuffles with a seed drawn from NumPy's global RNG
        # unless given one: fix it so results are reproducible.
        model = LinearSVC(C=C, max_iter=max_iter, random_state=0)
    return model.fit(z_train, codes[train]).predict(z_test)
