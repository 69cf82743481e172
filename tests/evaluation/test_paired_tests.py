"""Paired tests: hand computations, DeLong against a brute-force and a bootstrap,
detection of a real difference, and no inflated false positives under the null."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats
from sklearn.metrics import roc_auc_score

from featx.errors import DataError, InvalidParameterError
from featx.evaluation.comparisons import compare_extractors, compare_over_targets, count_better
from featx.evaluation.expression import regress_expression
from featx.evaluation.paired_tests import (
    ComparisonResult,
    corrected_resampled_ttest,
    delong_test,
    paired_ttest,
    wilcoxon_test,
)


def test_corrected_ttest_matches_hand_computation():
    a = [0.80, 0.70, 0.90, 0.85]
    b = [0.75, 0.72, 0.80, 0.80]
    # d = 0.05, -0.02, 0.10, 0.05: mean 0.045, sum of squared deviations 0.0073.
    # Correction 1/J + n_test/n_train = 1/4 + 20/80 = 0.5.
    se = math.sqrt(0.5 * 0.0073 / 3)
    res = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    assert res.estimate == pytest.approx(0.045)
    assert res.statistic == pytest.approx(0.045 / se)
    assert res.df == 3
    assert res.p_value == pytest.approx(2 * sstats.t.sf(0.045 / se, 3))
    half = sstats.t.ppf(0.975, 3) * se
    assert (res.ci_low, res.ci_high) == pytest.approx((0.045 - half, 0.045 + half))
    assert res.effect_size == pytest.approx(0.045 / math.sqrt(0.0073 / 3))
    # the plain paired t-test is the same with correction 1/J only, and agrees with scipy
    plain = paired_ttest(a, b)
    assert plain.statistic == pytest.approx(sstats.ttest_rel(a, b).statistic)
    assert plain.p_value == pytest.approx(sstats.ttest_rel(a, b).pvalue)
    assert plain.p_value < res.p_value


def test_one_sided_alternatives_split_the_two_sided_p():
    a, b = [0.8, 0.7, 0.9, 0.85], [0.75, 0.72, 0.8, 0.8]
    two = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    greater = corrected_resampled_ttest(a, b, n_train=80, n_test=20, alternative="greater")
    less = corrected_resampled_ttest(a, b, n_train=80, n_test=20, alternative="less")
    assert greater.p_value == pytest.approx(two.p_value / 2)
    assert greater.p_value + less.p_value == pytest.approx(1.0)


def test_wilcoxon_agrees_with_scipy_and_hodges_lehmann():
    rng = np.random.default_rng(3)
    a = rng.normal(0.1, 1, 25)
    b = rng.normal(0, 1, 25)
    res = wilcoxon_test(a, b)
    ref = sstats.wilcoxon(a - b)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    d = a - b
    walsh = [(d[i] + d[j]) / 2 for i in range(25) for j in range(i, 25)]
    assert res.estimate == pytest.approx(np.median(walsh))
    assert res.ci_low < res.estimate < res.ci_high
    assert -1 <= res.effect_size <= 1


def test_ties_everywhere_give_p_one_not_nan():
    assert wilcoxon_test([1, 2, 3], [1, 2, 3]).p_value == 1.0
    res = corrected_resampled_ttest([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], n_train=4, n_test=1)
    assert (res.statistic, res.p_value) == (0.0, 1.0)


def _delong_brute_force(y, s1, s2):
    """DeLong et al. (1988) written out with explicit pairwise comparisons."""
    pos, neg = y == 1, y == 0

    def psi(x, z):
        return (x > z) + 0.5 * (x == z)

    v10, v01, aucs = [], [], []
    for s in (s1, s2):
        kernel = psi(s[pos][:, None], s[neg][None, :]).astype(float)
        aucs.append(kernel.mean())
        v10.append(kernel.mean(axis=1))
        v01.append(kernel.mean(axis=0))
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    cov = s10 / pos.sum() + s01 / neg.sum()
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return aucs[0] - aucs[1], var


def test_delong_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(12), np.zeros(17)].astype(int)
    s1 = np.round(y + rng.normal(0, 1, len(y)), 1)  # rounding makes ties
    s2 = np.round(0.5 * y + rng.normal(0, 1, len(y)), 1)
    diff, var = _delong_brute_force(y, s1, s2)
    res = delong_test(y, s1, s2)
    assert res.estimate == pytest.approx(diff)
    assert res.estimate == pytest.approx(roc_auc_score(y, s1) - roc_auc_score(y, s2))
    assert res.statistic == pytest.approx(diff / math.sqrt(var))
    assert res.p_value == pytest.approx(2 * sstats.norm.sf(abs(diff) / math.sqrt(var)))
    assert res.effect_size == pytest.approx(roc_auc_score(y, s1))


def test_delong_standard_error_matches_bootstrap():
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.4).astype(int)
    s1 = y * 1.0 + rng.normal(0, 1, 400)
    s2 = 0.6 * s1 + y * 0.3 + rng.normal(0, 1, 400)  # correlated with s1
    res = delong_test(y, s1, s2)
    se_delong = (res.ci_high - res.ci_low) / (2 * sstats.norm.ppf(0.975))
    diffs = []
    for _ in range(400):
        i = rng.integers(0, 400, 400)
        if y[i].min() == y[i].max():
            continue
        diffs.append(roc_auc_score(y[i], s1[i]) - roc_auc_score(y[i], s2[i]))
    assert se_delong == pytest.approx(np.std(diffs), rel=0.2)


def test_delong_rejects_bad_labels():
    with pytest.raises(DataError, match="0/1"):
        delong_test(np.ones(5), np.arange(5), np.arange(5))
    with pytest.raises(InvalidParameterError):
        delong_test(np.array([0, 1, 1]), np.arange(3), np.arange(4))


def test_summary_reads_as_a_sentence():
    res = corrected_resampled_ttest([0.8, 0.7, 0.9], [0.7, 0.6, 0.7], n_train=4, n_test=1)
    assert isinstance(res, ComparisonResult)
    text = res.summary()
    assert "Nadeau-Bengio" in text and "p = " in text and "95% CI" in text
    with pytest.raises(AttributeError):
        res.p_value = 0.0  # frozen


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidParameterError, match="same length"):
        paired_ttest([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="NaN"):
        paired_ttest([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(InvalidParameterError, match="alternative"):
        paired_ttest([1, 2, 3], [1, 2, 4], alternative="bigger")


# ----------------------------------------------- on cross-validated score tables


def _expression_data(seed: int, *, signal_b: bool, n: int = 60, p: int = 8, targets: int = 3):
    """Targets driven by a latent signal; extractor A always sees it, B only if signal_b."""
    rng = np.random.default_rng(seed)
    ids = [f"TCGA-XX-{i:04d}" for i in range(n)]
    latent = rng.normal(size=(n, targets))
    y = np.exp(latent + 0.5 * rng.normal(size=(n, targets)))

    def features():
        x = rng.normal(size=(n, p))
        x[:, :targets] += 2 * latent
        return pd.DataFrame(x, index=ids)

    a = features()
    b = features() if signal_b else pd.DataFrame(rng.normal(size=(n, p)), index=ids)
    return {"A": a, "B": b}, pd.DataFrame(y, index=ids, columns=[f"g{t}" for t in range(targets)])


def test_signal_is_detected_per_target_and_over_targets():
    feats, targets = _expression_data(0, signal_b=False, targets=4)
    scores = regress_expression(feats, targets, n_splits=5, n_repeats=3, seed=0).scores
    table = compare_extractors(scores, "A", "B", metric="pearson_r")
    assert (table["better"] == "A").all()
    assert (table["q_corrected"] < 0.05).all()
    assert (table["p_corrected"] >= table["p_ttest"]).all()  # the correction only widens
    pooled = compare_extractors(scores, "A", "B", metric="pearson_r", folds="pooled")
    assert (pooled["n"] == 3).all() and (pooled["mean_diff"] > 0.3).all()
    over = compare_over_targets(scores, "A", "B", metric="pearson_r")
    assert over.estimate > 0.3 and over.n == 4
    counts = count_better(scores, "A", "B")
    assert counts["significant"] == 4 and counts["better_A"] == 4


def test_equal_extractors_give_no_inflated_false_positives():
    p_corrected, p_plain = [], []
    for seed in range(40):
        feats, targets = _expression_data(seed, signal_b=True, targets=1)
        scores = regress_expression(feats, targets, n_splits=5, n_repeats=3, seed=seed).scores
        row = compare_extractors(scores, "A", "B", metric="pearson_r").iloc[0]
        p_corrected.append(row["p_corrected"])
        p_plain.append(row["p_ttest"])
    p_corrected = np.array(p_corrected)
    assert np.mean(p_corrected < 0.05) < 0.2
    # roughly uniform: not piled up at 0 nor all at 1
    assert 0.25 < np.median(p_corrected) < 0.85
    assert np.mean(p_corrected < 0.5) > 0.2
    assert np.mean(p_plain) < np.mean(p_corrected)


def test_compare_refuses_unknown_extractor():
    feats, targets = _expression_data(0, signal_b=False, targets=1)
    scores = regress_expression(feats, targets, n_splits=5, n_repeats=2).scores
    with pytest.raises(DataError, match="'C'"):
        compare_extractors(scores, "A", "C", metric="pearson_r")
    with pytest.raises(InvalidParameterError):
        compare_extractors(scores, "A", "A", metric="pearson_r")
