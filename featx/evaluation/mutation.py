"""Mutation prediction: StandardScaler + L1-penalised (LASSO) logistic regression per gene.

The score is the ROC AUC of out-of-fold decision values, per fold and per
repetition; each gene's folds are stratified on its labels and are the same for
every extractor. The out-of-fold scores are kept for DeLong's test.

By default the penalty of each outer training fold is chosen by an inner
cross-validation on that fold's training rows only
(:class:`featx.evaluation.lasso.LassoLogisticCV`, glmnet's ``lambda.min``); the
intercept is unpenalised in both modes. The chosen penalty and the number of
non-zero coefficients of every fold are rows of the score table (metrics
``lasso_C`` and ``n_nonzero``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from featx._validate import one_of, positive_float, positive_int
from featx.evaluation.alignment import align, check_binary
from featx.evaluation.folds import make_folds
from featx.evaluation.lasso import (
    LAMBDA_RULES,
    UNPENALISED_INTERCEPT_SCALING,
    LassoLogisticCV,
    fast_auc,
    l1_path_fit,
)
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
    C: float | None = None,
    rule: str = "min",
    inner_splits: int = 5,
    n_Cs: int = 20,
    n_splits: int = 5,
    n_repeats: int = 50,
    seed: int = 0,
    id_mode: str = "tcga",
    n_jobs: int = 1,
    progress: bool = False,
) -> ExperimentResult:
    """Mutation prediction: StandardScaler + L1 logistic regression (liblinear) per gene.

    The intercept is unpenalised (as in glmnet). With ``C=None`` (the default) the
    penalty of each outer fold is chosen by ``inner_splits``-fold stratified CV over a
    path of ``n_Cs`` penalties inside that fold's training rows; the inner folds are
    seeded from ``(seed, gene, repetition, fold)``, so both extractors see the same.

    Parameters
    ----------
    features : mapping of str to pandas.DataFrame
        Patient-mean embeddings per extractor, indexed by patient (or barcode).
    mutations : pandas.DataFrame
        0/1 per gene (column), indexed by patient.
    C : float, optional
        A fixed inverse L1 penalty for every fold (liblinear's C; glmnet's lambda is
        1 / (C * n_train)). None (default): chosen by inner CV.
    rule : {"min", "1se"}, default "min"
        Inner-CV choice: best mean inner AUC (glmnet ``lambda.min``) or the strongest
        penalty within one standard error of it (``lambda.1se``).
    inner_splits, n_Cs : int
        Inner folds and penalties on the path (see :class:`~featx.evaluation.lasso.LassoLogisticCV`).
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
        repetition); ``lasso_C`` (the penalty used) and ``n_nonzero`` per fold.
    """
    C = None if C is None else positive_float("C", C)
    one_of("rule", rule, LAMBDA_RULES)
    inner = (positive_int("inner_splits", inner_splits), positive_int("n_Cs", n_Cs), rule)
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
                    for fold, (train, test) in enumerate(all_folds[gene].split(rep)):
                        state = _inner_seed(seed, g, rep, fold)
                        yield arrays[f"x:{name}"], arrays["y"], g, train, test, C, inner, state

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
                        scores[test], chosen, nonzero = next(fits)
                        for metric, value in (("roc_auc", fast_auc(y[test], scores[test])),
                                              ("lasso_C", chosen), ("n_nonzero", nonzero)):
                            frames.append(score_rows("mutation", name, [gene], rep, fold,
                                                     metric, [value], len(train), len(test),
                                                     n_splits))
                    frames.append(score_rows("mutation", name, [gene], rep, -1, "roc_auc",
                                             [fast_auc(y, scores)], mean_train_size(splits),
                                             len(y), n_splits))
                    kept.append(pd.DataFrame({
                        "experiment": "mutation", "extractor": name, "target": gene,
                        "repetition": rep, "sample": samples, "label": y, "score": scores}))
    predictions = pd.concat(kept, ignore_index=True)[PREDICTION_COLUMNS]
    return ExperimentResult("mutation", score_table(frames), None, all_folds, data.ids,
                            predictions, data.dropped)


def _inner_seed(seed: int, gene: int, rep: int, fold: int) -> int:
    """Seed of one outer fold's inner folds: the same for every extractor."""
    return int(np.random.SeedSequence([seed, gene, rep, fold]).generate_state(1)[0])


def _fit_mutation_fold(x: np.ndarray, labels: np.ndarray, gene: int, train: np.ndarray,
                       test: np.ndarray, C: float | None, inner: tuple[int, int, str],
                       state: int) -> tuple[np.ndarray, float, int]:
    """One fold of :func:`predict_mutations` for one gene: the test rows' decision values,
    the inverse penalty used and the number of non-zero coefficients.

    Only the training rows reach the scaler and the inner CV.
    """
    y = np.asarray(labels[:, gene])
    if C is None:
        inner_splits, n_Cs, rule = inner
        model = LassoLogisticCV(n_Cs=n_Cs, cv=inner_splits, rule=rule, random_state=state)
        model.fit(np.take(x, train, axis=0), y[train])
        return model.decision_function(np.take(x, test, axis=0)), model.C_, model.n_nonzero_
    z_train, z_test = standardise(x, train, test)
    coef, intercept = l1_path_fit(z_train, y[train], C, UNPENALISED_INTERCEPT_SCALING)
    return z_test @ coef + intercept, C, int(np.count_nonzero(coef))
