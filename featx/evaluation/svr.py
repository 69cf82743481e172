"""SVR on a kernel shared by every target of a fold: one kernel, many genes, the same models.

For each fold the kernel of the standardised features is computed once and shared
by all targets (libsvm on a precomputed kernel gives the same model as libsvm
computing the kernel itself); the predictions of all targets of a fold are then
one matrix product. :func:`fit_svr` calls libsvm as ``SVR.fit`` does, minus the
per-call validation that costs as much as the solver on a few hundred rows; where
scikit-learn's private ``_libsvm`` is missing it uses the public ``SVR``.
"""

from __future__ import annotations

import numpy as np
from sklearn.svm import SVR

from featx.evaluation.scaling import standardise


def fold_kernels(x: np.ndarray, train: np.ndarray, test: np.ndarray, *,
                 kernel: str = "rbf") -> tuple[np.ndarray, np.ndarray]:
    """Kernel matrices of one fold on features standardised with the training rows.

    Returns ``(K_train, K_test)`` of shapes (n_train, n_train) and (n_test, n_train):
    what ``SVR(kernel=kernel)`` on ``StandardScaler().fit(x[train])``-scaled data
    computes internally, with ``gamma="scale"`` for "rbf".
    """
    z_train, z_test = standardise(x, train, test)
    gram_train, gram_test = z_train @ z_train.T, z_test @ z_train.T
    if kernel == "linear":
        return gram_train, gram_test
    variance = z_train.var()
    gamma = 1.0 / (z_train.shape[1] * variance) if variance != 0 else 1.0
    sq_train = np.einsum("ij,ij->i", z_train, z_train)
    sq_test = np.einsum("ij,ij->i", z_test, z_test)
    k_train = np.exp(-gamma * np.maximum(sq_train[:, None] + sq_train - 2 * gram_train, 0))
    k_test = np.exp(-gamma * np.maximum(sq_test[:, None] + sq_train - 2 * gram_test, 0))
    return np.ascontiguousarray(k_train), k_test


def svr_predict_all(k_train: np.ndarray, k_test: np.ndarray, y_train: np.ndarray, *,
                    C: float = 1.0, epsilon: float = 0.1) -> np.ndarray:
    """Fit one epsilon-SVR per column of ``y_train`` on a shared kernel; predict the test rows.

    Parameters
    ----------
    k_train : numpy.ndarray
        (n_train, n_train) kernel of the training rows.
    k_test : numpy.ndarray
        (n_test, n_train) kernel between test and training rows.
    y_train : numpy.ndarray
        (n_train, n_targets) targets.

    Returns
    -------
    numpy.ndarray
        (n_test, n_targets) predictions, identical to ``SVR(kernel="precomputed")``.
    """
    n_train, n_targets = y_train.shape
    dual = np.zeros((n_train, n_targets))
    intercept = np.empty(n_targets)
    for t in range(n_targets):
        support, coef, intercept[t] = fit_svr(k_train, np.ascontiguousarray(y_train[:, t]),
                                              C, epsilon)
        dual[support, t] = coef
    return k_test @ dual + intercept  # every target's decision function at once


def fit_svr(kernel: np.ndarray, y: np.ndarray, C: float,
             epsilon: float) -> tuple[np.ndarray, np.ndarray, float]:
    """libsvm epsilon-SVR on a precomputed kernel: (support, dual coefficients, intercept)."""
    if _libsvm_fit is not None:
        # The same libsvm call SVR.fit makes, minus its per-call input validation,
        # which costs as much as the solver itself on a few hundred rows.
        support, _, _, dual, intercept, *_ = _libsvm_fit(
            kernel, y, svm_type=3, kernel="precomputed", C=C, epsilon=epsilon, tol=1e-3,
            cache_size=200, sample_weight=_EMPTY, class_weight=_EMPTY, max_iter=-1)
        return support, dual[0], float(intercept[0])
    model = SVR(kernel="precomputed", C=C, epsilon=epsilon).fit(kernel, y)
    return model.support_, model.dual_coef_[0], float(model.intercept_[0])


try:  # private but stable for years; both paths are checked against SVR in tests/evaluation
    from sklearn.svm._libsvm import fit as _libsvm_fit
    from sklearn.svm._libsvm import set_verbosity_wrap

    set_verbosity_wrap(0)  # libsvm prints every fit unless told not to (SVR.fit does the same)
except ImportError:  # a scikit-learn without it: the public estimator, same model
    _libsvm_fit = None
_EMPTY = np.empty(0)
