"""LASSO logistic regression with an unpenalised intercept and a penalty tuned by inner CV.

:class:`LassoLogisticCV` is glmnet's ``cv.glmnet(family="binomial",
type.measure="auc")`` in scikit-learn form: standardise, L1 logistic regression
(liblinear) over a path of penalties from the one that keeps every coefficient at
zero down a factor ``path_ratio``, inner stratified K-fold on the training rows
only, then the penalty with the best mean inner AUC (``rule="min"``, glmnet's
``lambda.min``, the default) or the strongest one within one standard error of it
(``rule="1se"``, ``lambda.1se``), refitted on all training rows.

Each path fit calls liblinear's ``train_wrap`` with exactly the arguments
``LogisticRegression.fit`` passes it, minus the per-call validation, label encoding and
seeding that cost 20 times the solver on a few hundred rows (800 -> 36 microseconds a
fit at 64 x 10); without scikit-learn's private ``_liblinear`` it uses the public
estimator, the same model (tests check both give identical coefficients).

The intercept is not penalised (as in glmnet): liblinear penalises the weight of a
constant column of value ``intercept_scaling``, so the intercept's penalty is
``|b| / intercept_scaling``; the default 1000 makes it negligible (a fit on labels
with no signal recovers the log-odds of the base rate).
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from featx._validate import one_of, positive_float, positive_int
from featx.errors import DataError, InvalidParameterError, NotFittedError
from featx.evaluation.scaling import fit_standardise, standardise

LAMBDA_RULES = ("min", "1se")
#: liblinear's constant intercept column: penalty on the intercept is |b| / this.
UNPENALISED_INTERCEPT_SCALING = 1000.0


def lasso_logistic(C: float, *, intercept_scaling: float = UNPENALISED_INTERCEPT_SCALING,
                   ) -> LogisticRegression:
    """L1 logistic regression (liblinear) with inverse penalty ``C``.

    ``intercept_scaling`` 1 is scikit-learn's default (intercept penalised like a
    coefficient); the default here leaves it practically unpenalised.
    """
    # scikit-learn 1.8 replaced penalty="l1" by l1_ratio=1.
    l1 = ({"l1_ratio": 1.0} if tuple(int(v) for v in sklearn.__version__.split(".")[:2])
          >= (1, 8) else {"penalty": "l1"})
    return LogisticRegression(**l1, C=C, solver="liblinear", random_state=0,
                              intercept_scaling=intercept_scaling, max_iter=1000)


def l1_path_fit(z: np.ndarray, y: np.ndarray, C: float, intercept_scaling: float,
                ) -> tuple[np.ndarray, float]:
    """Coefficients and intercept of :func:`lasso_logistic` on 0/1 labels ``y``."""
    if _train_wrap is None:
        model = lasso_logistic(C, intercept_scaling=intercept_scaling).fit(z, y)
        return model.coef_[0], float(model.intercept_[0])
    labels = np.ascontiguousarray(y, dtype=np.float64)
    # What LogisticRegression.fit hands liblinear for 0/1 labels: L1-regularised logistic
    # regression (solver 6), tol 1e-4, max_iter 1000, unit class and sample weights, and
    # the seed random_state=0 gives; the rest of its per-call work is validation.
    raw, n_iter = _train_wrap(np.ascontiguousarray(z, dtype=np.float64), labels, False,
                              _L1_LOGISTIC, 1e-4, intercept_scaling, C, _UNIT_CLASS_WEIGHTS,
                              _MAX_ITER, _LIBLINEAR_SEED, 0.1, np.ones(len(labels)))
    if n_iter.max() >= _MAX_ITER:
        warnings.warn("Liblinear failed to converge, increase the number of iterations.",
                      ConvergenceWarning, stacklevel=2)
    return raw[0, :-1], float(intercept_scaling * raw[0, -1])


def fast_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of 0/1 labels by mid-ranks (equals roc_auc_score, without its validation)."""
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    return float((midranks(scores)[positive].sum() - m * (m + 1) / 2) / (m * n))


def midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (scipy's ``rankdata``, minus its overhead)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.append(starts[1:], len(values))
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def smallest_C(z: np.ndarray, y: np.ndarray) -> float:
    """The largest penalty's C: below it every coefficient is zero (glmnet's lambda_max).

    At w = 0 the unpenalised intercept fits the base rate, and the L1 optimality
    condition keeps coefficient j at zero while ``C * |sum_i (y_i - mean(y)) z_ij| <= 1``.
    """
    gradient = np.abs(z.T @ (y - y.mean())).max()
    return 1.0 / gradient if gradient > 0 else 1.0


class LassoLogisticCV(ClassifierMixin, BaseEstimator):
    """Standardised L1 logistic regression whose penalty is chosen by inner cross-validation.

    Parameters
    ----------
    n_Cs : int, default 20
        Penalties on the path, log-spaced from :func:`smallest_C` up to
        ``path_ratio`` times it (glmnet: 100 values, ``lambda.min.ratio`` 0.01 when n < p).
    path_ratio : float, default 100.0
        Ratio of the weakest to the strongest penalty.
    cv : int, default 5
        Inner stratified folds, drawn from the training rows only (fewer when the rarer
        class has fewer members: ``n_inner_folds_``).
    rule : {"min", "1se"}, default "min"
        "min": the penalty with the best mean inner AUC; "1se": the strongest penalty
        whose mean inner AUC is within one standard error (over inner folds) of the best.
    intercept_scaling : float, default 1000.0
        See the module docstring (unpenalised intercept).
    random_state : int, default 0
        Seed of the inner folds. Give both extractors of a comparison the same one.

    Attributes
    ----------
    C_ : float
        The chosen inverse penalty (glmnet's lambda is ``1 / (C_ * n_train)``).
    Cs_ : numpy.ndarray
        The path.
    cv_auc_ : numpy.ndarray
        (n_Cs, n_inner_folds_) inner-fold AUCs.
    n_inner_folds_ : int
        Inner folds used: ``min(cv, members of the rarer class)``.
    coef_, intercept_ : numpy.ndarray
        On the standardised scale, refitted on all training rows at ``C_``.
    n_nonzero_ : int
        Non-zero coefficients of that refit.
    classes_ : numpy.ndarray
    """

    def __init__(self, *, n_Cs: int = 20, path_ratio: float = 100.0, cv: int = 5,
                 rule: str = "min", intercept_scaling: float = UNPENALISED_INTERCEPT_SCALING,
                 random_state: int = 0) -> None:
        self.n_Cs = n_Cs
        self.path_ratio = path_ratio
        self.cv = cv
        self.rule = rule
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state

    def fit(self, X, y) -> LassoLogisticCV:
        """Choose the penalty by inner CV on ``X, y`` and refit on all of them."""
        positive_int("n_Cs", self.n_Cs)
        positive_int("cv", self.cv)
        positive_float("intercept_scaling", self.intercept_scaling)
        one_of("rule", self.rule, LAMBDA_RULES)
        if positive_float("path_ratio", self.path_ratio) < 1:
            raise InvalidParameterError("path_ratio", "a number >= 1", self.path_ratio)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        counts = np.bincount(codes)
        if len(self.classes_) > 2:
            raise InvalidParameterError("y", "0/1 labels (Only binary classification is "
                                        "supported.)", f"{len(counts)} classes")
        if len(self.classes_) != 2 or counts.min() < 2:
            raise DataError("y", f"{len(counts)} class(es) with counts {counts.tolist()}",
                            "LASSO CV needs 2 classes with at least 2 members each")
        # A rare mutation in a small training fold: fewer inner folds, as many as it allows.
        self.n_inner_folds_ = int(min(self.cv, counts.min()))
        z, self._mean, self._scale = fit_standardise(X)
        self.Cs_ = smallest_C(z, codes.astype(float)) * np.logspace(
            0, np.log10(self.path_ratio), self.n_Cs)
        self.cv_auc_ = self._inner_scores(X, codes)
        self.C_ = float(self.Cs_[self._chosen()])
        coef, intercept = l1_path_fit(z, codes, self.C_, self.intercept_scaling)
        self.coef_, self.intercept_ = coef[None, :], np.array([intercept])
        self.n_nonzero_ = int(np.count_nonzero(coef))
        return self

    def _inner_scores(self, X: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """AUC of every penalty on every inner fold (features standardised per inner fold)."""
        folds = StratifiedKFold(self.n_inner_folds_, shuffle=True,
                                random_state=self.random_state)
        auc = np.empty((self.n_Cs, self.n_inner_folds_))
        for f, (train, test) in enumerate(folds.split(X, codes)):
            z_train, z_test = standardise(X, train, test)
            for c, C in enumerate(self.Cs_):
                coef, intercept = l1_path_fit(z_train, codes[train], C, self.intercept_scaling)
                auc[c, f] = fast_auc(codes[test], z_test @ coef + intercept)
        return auc

    def _chosen(self) -> int:
        mean = self.cv_auc_.mean(axis=1)
        best = int(np.argmax(mean))  # first maximum: the strongest penalty among ties
        if self.rule == "min":
            return best
        se = self.cv_auc_[best].std(ddof=1) / np.sqrt(self.n_inner_folds_)
        return int(np.flatnonzero(mean >= mean[best] - se)[0])  # Cs_ ascend: strongest first

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary: one gene's mutation status
        return tags

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of ``classes_[1]``."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("LassoLogisticCV", "call fit(X, y) first")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return ((X - self._mean) / self._scale) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]``."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """The more probable class."""
        scores = self.decision_function(X)  # raises NotFittedError before classes_ is read
        return self.classes_[(scores > 0).astype(int)]



try:  # private but stable for years; both paths are checked against LogisticRegression in tests
    from sklearn.svm._liblinear import set_verbosity_wrap
    from sklearn.svm._liblinear import train_wrap as _train_wrap

    set_verbosity_wrap(0)  # liblinear prints every fit unless told not to (as fit does)
except ImportError:  # a scikit-learn without it: the public estimator, same model
    _train_wrap = None
_L1_LOGISTIC = 6  # liblinear's L1R_LR
_MAX_ITER = 1000
_UNIT_CLASS_WEIGHTS = np.ones(2)
_LIBLINEAR_SEED = int(np.random.RandomState(0).randint(np.iinfo("i").max))
