"""Mutation prediction: StandardScaler + L1-penalised (LASSO) logistic regression per gene.

The score is the ROC AUC of out-of-fold decision values, per fold and per
repetition; each gene's folds are stratified on its labels and are the same for
every extractor. The out-of-fold scores are kept for DeLong's test.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from featx._validate import positive_float, positive_int
from featx.evaluation.alignment import align, check_binary
from featx.evaluation.folds import make_folds
from featx.evaluation.parallel import ordered_map, shared_arrays
from featx.evaluation.results import (
    PREDICTION_COLUMNS,
    ExperimentResult,
    mean_train_size,
    score_rows,
    score_table,
)
from featx.evaluation.scaling import standardise


def predict_mutations(
    features: Mapping[str, pd.DataFrame],
    mutations: pd.DataFrame,
    *,
    C: float = 1.0,
    n_splits: int = 5,
    n_repeats: int = 50,
    seed: int = 0,
    id_mode: str = "tcga",
    n_jobs: int = 1,
    progress: bool = False,
) -> ExperimentResult:
    """Mutation prediction: StandardScaler + L1 logistic regression (liblinear) per gene.

    Parameters
    ----------
    features : mapping of str to pandas.DataFrame
        Patient-mean embeddings per extractor, indexed by patient (or barcode).
    mutations : pandas.DataFrame
        0/1 per gene (column), indexed by patient.
    C : float, default 1.0
        Inverse L1 penalty.
    n_splits, n_repeats, seed : int
        Cross-validation, stratified per gene; the folds of a gene are the same for
        every extractor.
    id_mode : {"tcga", "exact"}
        How IDs are matched.
    n_jobs : int, default 1
        Worker processes fitting folds side by side (:mod:`featx.evaluation.parallel`);
        results do not depend on it.
    progress : bool, default False
        Show a progress bar over genes.

    Returns
    -------
    ExperimentResult
        metric ``roc_auc`` per fold and for fold -1 (all out-of-fold scores of a
        repetition).
    """
    C = positive_float("C", C)
    n_jobs = positive_int("n_jobs", n_jobs)
    data = align(features, mutations, id_mode=id_mode)
    check_binary(data.targets, n_splits=n_splits)
    genes = [str(g) for g in data.targets.columns]
    labels = data.targets.astype(int).to_numpy()
    all_folds = {gene: make_folds(len(labels), n_splits=n_splits, n_repeats=n_repeats,
                                  seed=seed, y=labels[:, g]) for g, gene in enumerate(genes)}
    names = list(data.features)

    def tasks(arrays):  # every (extractor, fold) fit of every gene and repetition, in order
        for g, gene in enumerate(genes):
            for rep in range(n_repeats):
                for name in names:
                    for train, test in all_folds[gene].split(rep):
                        yield arrays[f"x:{name}"], arrays["y"], g, train, test, C

    frames, kept = [], []
    samples = np.asarray(data.ids, dtype=str)
    arrays = {"y": labels, **{f"x:{name}": x for name, x in data.features.items()}}
    with shared_arrays(arrays, enabled=n_jobs > 1) as shared:
        fits = ordered_map(_fit_mutation_fold, tasks(shared), n_jobs=n_jobs)
        for g, gene in enumerate(tqdm(genes, disable=not progress, desc="mutation")):
            y = labels[:, g]
            for rep in range(n_repeats):
                splits = list(all_folds[gene].split(rep))
                for name in names:
                    scores = np.empty(len(y))
                    for fold, (train, test) in enumerate(splits):
                        scores[test] = next(fits)
                        frames.append(score_rows("mutation", name, [gene], rep, fold, "roc_auc",
                                                 [roc_auc_score(y[test], scores[test])],
                                                 len(train), len(test), n_splits))
                    frames.append(score_rows("mutation", name, [gene], rep, -1, "roc_auc",
                                             [roc_auc_score(y, scores)], mean_train_size(splits),
                                             len(y), n_splits))
                    kept.append(pd.DataFrame({
                        "experiment": "mutation", "extractor": name, "target": gene,
                        "repetition": rep, "sample": samples, "label": y, "score": scores}))
    predictions = pd.concat(kept, ignore_index=True)[PREDICTION_COLUMNS]
    return ExperimentResult("mutation", score_table(frames), None, all_folds, data.ids,
                            predictions, data.dropped)


def _fit_mutation_fold(x: np.ndarray, labels: np.ndarray, gene: int, train: np.ndarray,
                       test: np.ndarray, C: float) -> np.ndarray:
    """One fold of :func:`predict_mutations`: decision values of the test rows for one gene."""
    z_train, z_test = standardise(x, train, test)
    y = np.asarray(labels[:, gene])
    return _lasso_logistic(C).fit(z_train, y[train]).decision_function(z_test)


def _lasso_logistic(C: float) -> LogisticRegression:
    # scikit-learn 1.8 replaced penalty="l1" by l1_ratio=1.
    if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) >= (1, 8):
        return LogisticRegression(l1_ratio=1.0, C=C, solver="liblinear", random_state=0)
    return LogisticRegression(penalty="l1", C=C, solver="liblinear", random_state=0)
