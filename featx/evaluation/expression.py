"""Expression regression: StandardScaler + SVR per gene on patient-mean embeddings.

Targets are log-transformed (``log2(x + 1)`` by default); the score is Pearson's r
(and its p-value) between observed values and out-of-fold predictions. The folds
are shared by every target and extractor, and the kernel of a fold by every target
(:mod:`featx.evaluation.svr`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats as sstats
from tqdm.auto import tqdm

from featx._validate import non_negative_float, one_of, positive_float, positive_int
from featx.errors import DataError, InvalidParameterError
from featx.evaluation.alignment import align, check_continuous
from featx.evaluation.folds import make_folds
from featx.evaluation.parallel import ordered_map, shared_arrays
from featx.evaluation.results import ExperimentResult, mean_train_size, score_rows, score_table
from featx.evaluation.svr import fold_kernels, svr_predict_all

#: Target transforms for expression: name -> function (applied before modelling).
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda x: x,
    "log2p1": lambda x: np.log2(x + 1.0),
    "log1p": np.log1p,
}
SVR_KERNELS = ("rbf", "linear")


def regress_expression(
    features: Mapping[str, pd.DataFrame],
    targets: pd.DataFrame,
    *,
    transform: str = "log2p1",
    kernel: str = "rbf",
    C: float = 1.0,
    epsilon: float = 0.1,
    scale_y: bool = False,
    n_splits: int = 5,
    n_repeats: int = 50,
    seed: int = 0,
    id_mode: str = "tcga",
    n_jobs: int = 1,
    progress: bool = False,
) -> ExperimentResult:
    """Expression regression: StandardScaler + SVR per target, repeated K-fold.

    Parameters
    ----------
    features : mapping of str to pandas.DataFrame
        Patient-mean embeddings per extractor, indexed by patient (or barcode).
    targets : pandas.DataFrame
        One column per gene/target, indexed by patient (or barcode).
    transform : {"log2p1", "log1p", "none"}, default "log2p1"
        Applied to the targets before modelling: log2(x + 1), ln(x + 1) or nothing.
    kernel : {"rbf", "linear"}, default "rbf"
        SVR kernel on the standardised features; "rbf" uses scikit-learn's
        ``gamma="scale"``, i.e. 1 / (n_features * variance of the training fold).
    C, epsilon : float
        SVR parameters (scikit-learn defaults 1.0 and 0.1).
    scale_y : bool, default False
        False (scikit-learn's behaviour): the SVR fits the transformed targets as they
        are, so ``epsilon`` is in their units. True (R e1071 ``svm()``'s default
        ``scale=TRUE``): each fold's training targets are standardised (mean, SD with
        n - 1) before fitting and the predictions mapped back, so ``epsilon`` is in SDs.
    n_splits, n_repeats, seed : int
        Cross-validation; folds are shared by all targets and extractors.
    id_mode : {"tcga", "exact"}
        How IDs are matched (see :func:`featx.evaluation.alignment.patient_ids`).
    n_jobs : int, default 1
        Worker processes fitting folds side by side (:mod:`featx.evaluation.parallel`);
        results do not depend on it.
    progress : bool, default False
        Show a progress bar over repetitions.

    Returns
    -------
    ExperimentResult
        metrics ``pearson_r`` (per fold and fold -1) and ``pearson_p`` (fold -1).
    """
    one_of("transform", transform, tuple(TRANSFORMS))
    one_of("kernel", kernel, SVR_KERNELS)
    C, epsilon = positive_float("C", C), non_negative_float("epsilon", epsilon)
    n_jobs = positive_int("n_jobs", n_jobs)
    if not isinstance(scale_y, bool):
        raise InvalidParameterError("scale_y", "True or False", scale_y)
    data = align(features, targets, id_mode=id_mode)
    check_continuous(data.targets)
    raw = data.targets.to_numpy(dtype=np.float64)
    if transform != "none" and (raw <= -1).any():
        raise DataError("targets", f"values <= -1, where {transform} is undefined",
                        "Use transform='none' for targets already on a log scale")
    y = np.ascontiguousarray(TRANSFORMS[transform](raw))
    names = np.asarray(data.targets.columns, dtype=str)
    folds = make_folds(len(y), n_splits=n_splits, n_repeats=n_repeats, seed=seed)
    frames: list[pd.DataFrame] = []
    first_predictions: list[pd.DataFrame] = []
    undefined = 0
    names_x = list(data.features)

    def tasks(arrays):  # every (extractor, fold) fit of every repetition, in result order
        for rep in range(folds.n_repeats):
            for name in names_x:
                for train, test in folds.split(rep):
                    yield (arrays[f"x:{name}"], arrays["y"], train, test, kernel, C, epsilon,
                           scale_y)

    arrays = {"y": y, **{f"x:{name}": x for name, x in data.features.items()}}
    with shared_arrays(arrays, enabled=n_jobs > 1) as shared:
        fits = ordered_map(_fit_expression_fold, tasks(shared), n_jobs=n_jobs)
        for rep in tqdm(range(folds.n_repeats), disable=not progress, desc="expression"):
            splits = list(folds.split(rep))
            for name in names_x:
                predictions = np.empty_like(y)
                for fold, (train, test) in enumerate(splits):
                    predictions[test] = next(fits)
                    r, _ = pearson_columns(y[test], predictions[test])
                    frames.append(score_rows("expression", name, names, rep, fold, "pearson_r",
                                             r, len(train), len(test), n_splits))
                if rep == 0:  # kept for observed-vs-predicted plots; one repetition is enough
                    first_predictions.append(_expression_predictions(name, names, data.ids,
                                                                     y, predictions))
                r, p = pearson_columns(y, predictions)
                undefined += int(np.isnan(r).sum())
                n_train = mean_train_size(splits)
                frames.append(score_rows("expression", name, names, rep, -1, "pearson_r", r,
                                         n_train, len(y), n_splits))
                frames.append(score_rows("expression", name, names, rep, -1, "pearson_p", p,
                                         n_train, len(y), n_splits))
    if undefined:
        warnings.warn(f"{undefined} out-of-fold Pearson correlations are NaN because the SVR "
                      "predicted a constant (all targets inside the epsilon tube); lower "
                      "epsilon or rescale those targets", RuntimeWarning, stacklevel=2)
    return ExperimentResult("expression", score_table(frames), None, {"all": folds}, data.ids,
                            pd.concat(first_predictions, ignore_index=True), data.dropped)


def _expression_predictions(extractor: str, targets: np.ndarray, ids: pd.Index,
                            observed: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Long table of one repetition's out-of-fold predictions (:data:`EXPRESSION_PREDICTION_COLUMNS`)."""
    n, k = observed.shape
    return pd.DataFrame({
        "experiment": "expression", "extractor": extractor, "target": np.tile(targets, n),
        "repetition": 0, "sample": np.repeat(np.asarray(ids, dtype=str), k),
        "observed": observed.ravel(), "predicted": predicted.ravel(),
    })




def _fit_expression_fold(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                         kernel: str, C: float, epsilon: float, scale_y: bool) -> np.ndarray:
    """One fold of :func:`regress_expression`: every target's test predictions."""
    k_train, k_test = fold_kernels(x, train, test, kernel=kernel)
    y_train = y[train]
    if not scale_y:
        return svr_predict_all(k_train, k_test, y_train, C=C, epsilon=epsilon)
    centre, sd = y_train.mean(axis=0), y_train.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)  # a fold-constant target: e1071 would fail; keep units
    z = svr_predict_all(k_train, k_test, (y_train - centre) / sd, C=C, epsilon=epsilon)
    return z * sd + centre


def pearson_columns(observed: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and two-sided p-value of each column pair (NaN where a column is constant)."""
    o = observed - observed.mean(axis=0)
    p = predicted - predicted.mean(axis=0)
    denom = np.sqrt((o * o).sum(axis=0) * (p * p).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip((o * p).sum(axis=0) / denom, -1.0, 1.0)
    r[denom == 0] = np.nan
    # Same distribution scipy.stats.pearsonr uses: r is Beta(n/2 - 1, n/2 - 1) on [-1, 1].
    half = len(observed) / 2 - 1
    pval = 2 * sstats.beta.sf(np.abs(r), half, half, loc=-1, scale=2)
    return r, pval
