"""BatchedLinearSVC solves LinearSVC's exact problem: same coefficients and predictions as
liblinear run to convergence, on binary, multi-class, imbalanced, wide and tall problems."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import check_estimator

from featx.errors import InvalidParameterError
from featx.evaluation import _dual_factor
from featx.evaluation.linear_svm import BatchedLinearSVC, design, solve_squared_hinge


def _problem(seed: int, n: int, p: int, k: int, *, weights=None, shift: float = 1.0):
    """Classes with shifted means in correlated, non-negative features (like embeddings)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=weights)
    factors = rng.normal(size=(n, 5)) + shift * rng.normal(size=(k, 5))[y]
    x = np.maximum(factors @ rng.normal(size=(5, p)) + rng.normal(size=(n, p)), 0.0)
    return (x - x.mean(0)) / (x.std(0) + 1e-12), np.array(["a", "b", "c", "d", "e"])[y]


def _converged_liblinear(x, y, **params) -> LinearSVC:
    # liblinear's primal solver converges on these sizes; its dual one does when n < p
    dual = x.shape[0] < x.shape[1]
    return LinearSVC(tol=1e-10, max_iter=100_000, dual=dual, random_state=0,
                     **params).fit(x, y)


CASES = {
    "binary": dict(seed=0, n=200, p=15, k=2),
    "multiclass": dict(seed=1, n=300, p=40, k=4),
    "imbalanced": dict(seed=2, n=400, p=30, k=3, weights=[0.8, 0.15, 0.05]),
    "wide (n < p)": dict(seed=3, n=120, p=300, k=3),
    "separable": dict(seed=4, n=150, p=60, k=5, shift=4.0),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("C", [0.01, 1.0, 30.0])
def test_matches_converged_liblinear(case: str, C: float):
    x, y = _problem(**CASES[case])
    ref = _converged_liblinear(x, y, C=C)
    ours = BatchedLinearSVC(C=C, tol=1e-10).fit(x, y)
    assert ours.converged_
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.coef_.shape == ref.coef_.shape and ours.intercept_.shape == ref.intercept_.shape
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-6 * np.abs(
        ref.coef_).max())
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.decision_function(x), ref.decision_function(x),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))


@pytest.mark.parametrize("fit_intercept, scaling", [(False, 1.0), (True, 0.1), (True, 10.0)])
def test_intercept_handled_as_liblinear_does(fit_intercept: bool, scaling: float):
    x, y = _problem(5, 250, 12, 3)
    x = x + 2.0  # an offset only an intercept can absorb
    params = dict(C=0.5, fit_intercept=fit_intercept, intercept_scaling=scaling)
    ref = _converged_liblinear(x, y, **params)
    ours = BatchedLinearSVC(tol=1e-10, **params).fit(x, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-4, atol=1e-7)
    if fit_intercept:  # the intercept is regularised: a smaller feature shrinks it more
        assert not np.allclose(ours.intercept_, 0)


def test_default_tolerance_is_liblinears_stopping_rule():
    x, y = _problem(6, 300, 50, 4)
    a = design(x, fit_intercept=True, intercept_scaling=1.0)
    labels = np.where(np.unique(y)[None, :] == y[:, None], 1.0, -1.0)
    w, info = solve_squared_hinge(a, labels, 1.0, tol=1e-4)
    xi = np.maximum(1 - labels * (a @ w), 0)
    grad = w - 2 * (a.T @ (labels * xi))
    grad0 = 2 * (a.T @ labels)
    n_pos = (labels > 0).sum(0)
    bound = 1e-4 * np.minimum(n_pos, 300 - n_pos) / 300 * np.linalg.norm(grad0, axis=0)
    assert info.converged and np.all(np.linalg.norm(grad, axis=0) <= bound)
    # a converged solution does not move when solved again from there
    w2, info2 = solve_squared_hinge(a, labels, 1.0, tol=1e-4, w0=w)
    assert info2.n_iter == 0 and np.array_equal(w, w2)


def test_warm_start_reaches_the_same_solution():
    x, y = _problem(7, 300, 40, 3)
    cold = BatchedLinearSVC(C=2.0, tol=1e-10).fit(x, y)
    warm = BatchedLinearSVC(C=2.0, tol=1e-10, warm_start=True).fit(x[:250], y[:250])
    warm.fit(x, y)
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-6, atol=1e-9)


def test_tall_problem_uses_feature_space_and_still_matches():
    x, y = _problem(8, 2000, 8, 3)  # every active set is larger than the 9 features
    ref = _converged_liblinear(x, y, C=1.0)
    ours = BatchedLinearSVC(tol=1e-10).fit(x, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))


def test_iteration_limit_reports_not_converged():
    x, y = _problem(9, 300, 50, 4)
    model = BatchedLinearSVC(max_iter=1, tol=1e-10).fit(x, y)
    assert model.n_iter_ == 1 and not model.converged_


def test_estimator_contract():
    model = BatchedLinearSVC(C=3.0, tol=1e-6)
    assert clone(model).get_params() == model.get_params()
    assert model.set_params(C=0.5).C == 0.5
    check_estimator(BatchedLinearSVC())


@pytest.mark.parametrize("params, name", [
    (dict(C=0.0), "C"), (dict(C=-1.0), "C"), (dict(tol=0.0), "tol"),
    (dict(max_iter=0), "max_iter"), (dict(intercept_scaling=0.0), "intercept_scaling"),
    (dict(fit_intercept="yes"), "fit_intercept"),
])
def test_bad_parameters_name_the_argument(params, name):
    x, y = _problem(10, 40, 5, 2)
    with pytest.raises(InvalidParameterError, match=name):
        BatchedLinearSVC(**params).fit(x, y)


def test_one_class_is_refused_with_a_clear_message():
    with pytest.raises(InvalidParameterError, match="at least 2 classes"):
        BatchedLinearSVC().fit(np.ones((5, 2)), ["a"] * 5)


# ------------------------------------------------------ the sample-space factor's updates


def _factor(seed: int = 11, n: int = 240, p: int = 80, ridge: float = 0.5):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 6)) @ rng.normal(size=(6, p)) + rng.normal(size=(n, p))
    return a, _dual_factor.DualFactor(_dual_factor.Kernel(a), ridge)


def _direct(a: np.ndarray, idx: np.ndarray, ridge: float, rhs: np.ndarray) -> np.ndarray:
    return np.linalg.solve(a[idx] @ a[idx].T + ridge * np.eye(len(idx)), rhs)


def test_factor_updates_solve_each_active_sets_system(monkeypatch):
    # gathering made dear: every step after the first is served by an update
    monkeypatch.setattr(_dual_factor, "GATHER_FLOPS", 1e12)
    a, factor = _factor()
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(240, 40, replace=False))
    history = []
    for step in range(8):  # rows join (bordering), leave (constrained), and come back
        factor.update(idx)
        fresh = _dual_factor.DualFactor(factor.kernel, 0.5)
        fresh.update(idx)
        rhs = rng.normal(size=len(idx))
        expected = _direct(a, idx, 0.5, rhs)
        error = np.abs(factor.solve(rhs) - expected).max() / np.abs(expected).max()
        fresh_error = np.abs(fresh.solve(rhs) - expected).max() / np.abs(expected).max()
        # as accurate as factorising that system afresh in float32 (both ~1e-5..3e-4 here)
        assert error <= 4 * fresh_error + 1e-6 and error < 1e-3, (step, error, fresh_error)
        history.append(idx)
        outside = np.setdiff1d(np.arange(240), idx)
        joining = rng.choice(outside, 12, replace=False)
        leaving = rng.choice(idx, 6 if step % 3 else 0, replace=False)
        returning = history[0][:3] if step == 4 else np.empty(0, dtype=int)
        idx = np.union1d(np.setdiff1d(np.union1d(idx, joining), leaving), returning)
    assert factor.n_factorised == 1 and factor.n_updated == 7
    assert len(factor.leaving) > 0  # rows that left stayed in the factor


def test_factor_refactorises_when_that_is_cheaper():
    a, factor = _factor()
    factor.update(np.arange(0, 60))
    factor.update(np.arange(0, 62))  # two rows join a 60-row factor: bordering
    factor.update(np.arange(100, 160))  # an unrelated set: start afresh
    assert (factor.n_factorised, factor.n_updated) == (2, 1)
    rhs = np.ones(60)
    np.testing.assert_allclose(factor.solve(rhs), _direct(a, np.arange(100, 160), 0.5, rhs),
                               rtol=1e-3)


def test_factor_falls_back_to_float64_when_float32_is_not_positive_definite():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(30, 200)) * 100.0
    a = np.vstack([base, base + 1e-3 * rng.normal(size=base.shape)])  # near-duplicate rows
    factor = _dual_factor.DualFactor(_dual_factor.Kernel(a), 1e-9)
    idx = np.arange(60)
    factor.update(idx)
    assert factor.dtype == np.float64
    rhs = rng.normal(size=60)
    g = a @ a.T + 1e-9 * np.eye(60)
    u = factor.solve(rhs)  # backward stable in float64
    assert np.linalg.norm(g @ u - rhs) <= 1e-12 * np.linalg.norm(g) * np.linalg.norm(u)


def test_solver_through_factor_updates_matches_liblinear(monkeypatch):
    monkeypatch.setattr(_dual_factor, "GATHER_FLOPS", 1e12)
    x, y = _problem(12, 400, 120, 4)
    ref = _converged_liblinear(x, y, C=1.0)
    a = design(x, fit_intercept=True, intercept_scaling=1.0)
    labels = np.where(ref.classes_[None, :] == y[:, None], 1.0, -1.0)
    w, info = solve_squared_hinge(a, labels, 1.0, tol=1e-10)
    assert info.converged and info.n_updated > info.n_factorised
    np.testing.assert_allclose(w[:-1].T, ref.coef_, rtol=1e-4, atol=1e-6 * np.abs(
        ref.coef_).max())


def test_unfactorisable_problem_names_C_and_the_fix():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(15, 40))
    x, y = np.vstack([x, x]), np.tile(np.array(["a", "b", "c"])[np.arange(15) % 3], 2)
    with pytest.raises(InvalidParameterError, match="C must be small enough.*use a smaller C"):
        BatchedLinearSVC(C=1e30).fit(x, y)
    assert BatchedLinearSVC(C=1.0).fit(x, y).converged_  # the same data, a sane C
