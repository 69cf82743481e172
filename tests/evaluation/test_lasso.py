"""LassoLogisticCV: the path, the unpenalised intercept, the inner CV and its isolation
from the outer test fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from featx.errors import DataError, InvalidParameterError, NotFittedError
from featx.evaluation.lasso import LassoLogisticCV, lasso_logistic, smallest_C
from featx.evaluation.mutation import predict_mutations
from featx.evaluation.scaling import fit_standardise


def _data(seed: int, n: int = 120, p: int = 30, signal: float = 1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = (signal * x[:, 0] + rng.normal(size=n) > 0.8).astype(int)
    return x, y


def test_smallest_C_is_where_the_first_coefficient_enters():
    x, y = _data(0)
    z, _, _ = fit_standardise(x)
    c0 = smallest_C(z, y.astype(float))
    assert np.count_nonzero(lasso_logistic(0.95 * c0).fit(z, y).coef_) == 0
    assert np.count_nonzero(lasso_logistic(1.5 * c0).fit(z, y).coef_) >= 1


def test_intercept_is_unpenalised():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5))
    y = (rng.random(400) < 0.2).astype(int)  # no signal: the intercept is the base rate
    z, _, _ = fit_standardise(x)
    c = 0.5 * smallest_C(z, y.astype(float))  # every coefficient zero
    fitted = lasso_logistic(c).fit(z, y)
    assert np.count_nonzero(fitted.coef_) == 0
    assert fitted.intercept_[0] == pytest.approx(np.log(y.mean() / (1 - y.mean())), abs=0.01)
    penalised = lasso_logistic(c, intercept_scaling=1.0).fit(z, y)  # scikit-learn's default
    assert abs(penalised.intercept_[0]) < abs(fitted.intercept_[0]) - 0.15  # shrunk to 0


def test_inner_cv_chooses_on_the_path_and_1se_is_at_least_as_strong():
    x, y = _data(2)
    best = LassoLogisticCV(n_Cs=12, random_state=0).fit(x, y)
    assert best.cv_auc_.shape == (12, 5) and best.C_ in best.Cs_
    assert best.cv_auc_.mean(axis=1).argmax() == list(best.Cs_).index(best.C_)
    assert 1 <= best.n_nonzero_ <= 30 and best.coef_[0, 0] > 0  # finds the signal
    one_se = clone(best).set_params(rule="1se").fit(x, y)
    assert one_se.C_ <= best.C_ and one_se.n_nonzero_ <= best.n_nonzero_
    probabilities = best.predict_proba(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert set(best.predict(x)) <= {0, 1}
    assert roc_auc_score(y, best.decision_function(x)) > 0.75


def test_lasso_cv_refuses_bad_input():
    x, y = _data(3)
    with pytest.raises(NotFittedError):
        LassoLogisticCV().decision_function(x)
    with pytest.raises(InvalidParameterError, match="rule"):
        LassoLogisticCV(rule="max").fit(x, y)
    with pytest.raises(DataError, match="2 classes with at least 2 members"):
        LassoLogisticCV().fit(x, np.r_[np.ones(1), np.zeros(119)])
    rare = LassoLogisticCV().fit(x, np.r_[np.ones(3), np.zeros(117)])  # 3 inner folds
    assert rare.n_inner_folds_ == 3 and rare.cv_auc_.shape == (20, 3)
    with pytest.raises(InvalidParameterError, match="binary"):
        LassoLogisticCV().fit(x, np.arange(120) % 3)


@pytest.mark.slow
def test_lasso_cv_follows_the_scikit_learn_estimator_contract():
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(LassoLogisticCV(n_Cs=4, cv=3), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert not failed, failed


def test_inner_cv_never_sees_the_outer_test_fold():
    """Corrupting the features of rep 0, fold 0's test rows must not move that fold's
    chosen penalty (it would if the scaler or the inner CV used those rows), while the
    predictions of those rows do change."""
    x, y = _data(4, n=80, p=12)
    ids = [f"TCGA-AA-{i:04d}" for i in range(80)]
    genes = pd.DataFrame({"G": y}, index=ids)

    def run(features):
        return predict_mutations({"A": pd.DataFrame(features, index=ids)}, genes,
                                 n_splits=4, n_repeats=1, n_Cs=10, inner_splits=3)

    clean = run(x)
    _, test = next(clean.folds["G"].split(0))
    corrupted = x.copy()
    corrupted[test] = 50 * np.sign(y[test] - 0.5)[:, None] + 10  # extreme, label-revealing
    dirty = run(corrupted)

    def fold0(result, metric):
        return result.scores.query("fold == 0 and metric == @metric")["value"].item()

    assert fold0(dirty, "lasso_C") == fold0(clean, "lasso_C")
    assert fold0(dirty, "n_nonzero") == fold0(clean, "n_nonzero")
    assert fold0(dirty, "roc_auc") != fold0(clean, "roc_auc")
    # the fold whose training rows hold the corrupted rows does move
    other = clean.scores.query("fold == 1 and metric == 'lasso_C'")["value"].item()
    assert dirty.scores.query("fold == 1 and metric == 'lasso_C'")["value"].item() != other


def test_fixed_penalty_stays_an_option_and_is_recorded():
    x, y = _data(5, n=60, p=8)
    ids = [f"TCGA-AA-{i:04d}" for i in range(60)]
    res = predict_mutations({"A": pd.DataFrame(x, index=ids)}, pd.DataFrame({"G": y}, index=ids),
                            C=0.3, n_splits=3, n_repeats=2)
    used = res.scores.query("metric == 'lasso_C'")["value"]
    assert len(used) == 6 and (used == 0.3).all()


def test_direct_liblinear_path_equals_logistic_regression(monkeypatch):
    from featx.evaluation import lasso

    x, y = _data(6)
    z, _, _ = fit_standardise(x)
    reference = lasso_logistic(0.2).fit(z, y)
    coef, intercept = lasso.l1_path_fit(z, y, 0.2, lasso.UNPENALISED_INTERCEPT_SCALING)
    np.testing.assert_allclose(coef, reference.coef_[0], rtol=0, atol=1e-12)
    assert intercept == pytest.approx(reference.intercept_[0], abs=1e-12)
    scores = z @ coef + intercept
    assert lasso.fast_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    fast = LassoLogisticCV(n_Cs=6).fit(x, y)
    monkeypatch.setattr(lasso, "_train_wrap", None)  # a scikit-learn without it
    public = LassoLogisticCV(n_Cs=6).fit(x, y)
    assert public.C_ == fast.C_
    np.testing.assert_allclose(public.coef_, fast.coef_, rtol=0, atol=1e-12)


def test_fast_auc_equals_roc_auc_score_with_ties():
    from scipy.stats import rankdata

    from featx.evaluation.lasso import fast_auc, midranks

    rng = np.random.default_rng(7)
    y = (rng.random(50) < 0.3).astype(int)
    for scores in (rng.normal(size=50), np.round(rng.normal(size=50), 1), np.zeros(50)):
        np.testing.assert_array_equal(midranks(scores), rankdata(scores))
        assert fast_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
