"""The verdict rule on hand-made per-fold scores with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats
from statsmodels.stats.multitest import multipletests

from featx.errors import InvalidParameterError
from featx.evaluation.comparisons import compare_extractors
from featx.evaluation.paired_tests import corrected_resampled_ttest
from featx.evaluation.verdict_rules import (
    DEFAULT_RULE,
    NOT_ENOUGH_DATA,
    RULES,
    VerdictRule,
    benjamini_hochberg,
    checked_rule,
    corrected_t,
    decide,
    overall_verdict,
)


def test_corrected_t_is_nadeau_bengio_scaled_by_the_inflation():
    rng = np.random.default_rng(0)
    d = rng.normal(0.02, 0.05, size=(3, 50))
    plain = corrected_t(d, np.full(3, 0.25), RULES["nadeau-bengio"])
    for row, p in zip(d, plain.pvalue):
        assert p == pytest.approx(corrected_resampled_ttest(
            row, np.zeros(50), n_train=4, n_test=1).pvalue, rel=1e-12)
    wide = corrected_t(d, np.full(3, 0.25), VerdictRule("x2", inflation=2.0))
    ratio = np.sqrt((1 / 50 + 0.25) / (1 / 50 + 0.5))
    np.testing.assert_allclose(wide.statistic, plain.statistic * ratio, rtol=1e-12)
    fixed = corrected_t(d, np.full(3, 0.25), VerdictRule("df10", df=10))
    np.testing.assert_allclose(fixed.pvalue, 2 * sstats.t.sf(np.abs(plain.statistic), 10))
    assert (fixed.pvalue > plain.pvalue).all()  # heavier tails: larger p


def test_missing_resamples_are_left_out_of_their_row_only():
    d = np.array([[0.1, 0.2, np.nan, 0.3], [0.1, 0.2, 0.15, 0.3]])
    tests = corrected_t(d, np.array([0.25, 0.25]), RULES["nadeau-bengio"])
    assert tests.n.tolist() == [3, 4] and tests.mean[0] == pytest.approx(0.2)


def test_benjamini_hochberg_equals_statsmodels():
    p = np.random.default_rng(1).uniform(size=40) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])


def _scores(shift: np.ndarray, level: float, rng: np.random.Generator, j: int = 50):
    base = level + rng.normal(0, 0.05, size=(len(shift), j))
    return base + shift[:, None] + rng.normal(0, 0.02, size=base.shape), base


def test_decide_names_only_targets_that_differ_and_refuses_near_chance():
    rng = np.random.default_rng(2)
    shift = np.array([0.0, 0.0, 0.08, 0.0])
    a, b = _scores(shift, 0.7, rng)
    a[3], b[3] = 0.5 + rng.normal(0, 0.05, size=(2, 50))  # both at chance AUC
    rule = VerdictRule("t", inflation=2.0, chance=True)
    out = decide(a, b, np.full(4, 0.25), rule, chance=0.5)
    assert out.winner.tolist() == [0, 0, 1, 0]
    assert out.compared.tolist() == [True, True, True, False] and np.isnan(out.q[3])
    no_chance = decide(a, b, np.full(4, 0.25), rule, chance=None)  # unknown level: no check
    assert no_chance.compared.all()


def test_gate_blocks_per_target_winners_until_the_mean_difference_is_clear():
    rng = np.random.default_rng(3)
    # A wins target 0 clearly, B wins the other three a little: the mean difference is ~0.
    shift = np.array([0.12, -0.04, -0.04, -0.04])
    a, b = _scores(shift, 0.7, rng)
    ungated = decide(a, b, np.full(4, 0.25), VerdictRule("u"))
    gated = decide(a, b, np.full(4, 0.25), VerdictRule("g", gate=True))
    assert ungated.winner[0] == 1 and gated.gate_pvalue > 0.05 and not gated.winner.any()


def test_zero_spread_is_never_a_verdict():
    a = np.tile(np.linspace(0.6, 0.8, 10), (1, 1))
    out = decide(a + 0.05, a, np.array([0.25]), RULES[DEFAULT_RULE], chance=None)
    assert out.tests.pvalue[0] == 0.0 and not out.measured[0] and out.winner[0] == 0


def test_rules_by_name_and_checked():
    assert checked_rule(DEFAULT_RULE) is RULES[DEFAULT_RULE]
    assert "Benjamini-Hochberg" in RULES[DEFAULT_RULE].describe()
    with pytest.raises(InvalidParameterError, match="verdict_rule"):
        checked_rule("strict")
    with pytest.raises(InvalidParameterError, match="inflation"):
        checked_rule(VerdictRule("bad", inflation=0.0))


def _table(a: np.ndarray, b: np.ndarray, metric: str = "roc_auc") -> pd.DataFrame:
    rows = []
    for name, values in (("A", a), ("B", b)):
        for t, row in enumerate(values):
            for j, value in enumerate(row):
                rows.append(("mutation", name, f"G{t}", j // 5, j % 5, metric, value, 80, 20, 5))
    return pd.DataFrame(rows, columns=["experiment", "extractor", "target", "repetition", "fold",
                                       "metric", "value", "n_train", "n_test", "n_splits"])


def test_compare_extractors_and_the_headline_over_all_targets():
    rng = np.random.default_rng(4)
    shift = np.array([0.0, 0.0, 0.0, 0.0, 0.1])  # only the LAST target differs
    a, b = _scores(shift, 0.7, rng)
    a[1], b[1] = 0.5 + rng.normal(0, 0.05, size=(2, 50))
    table = compare_extractors(_table(a, b), "A", "B", metric="roc_auc")
    assert table["verdict"].tolist() == ["no difference", NOT_ENOUGH_DATA, "no difference",
                                         "no difference", "A"]
    assert "chance (0.5)" in table.loc[1, "reason"] and table["rule"].eq(DEFAULT_RULE).all()
    overall = overall_verdict(table)
    assert overall.names_a_winner and (overall.better_a, overall.better_b) == (1, 0)
    assert overall.not_enough_data == 1 and overall.headline == "A is better for 1 of 5 targets"
    none = overall_verdict(compare_extractors(_table(b, b + rng.normal(0, 0.01, b.shape)),
                                              "A", "B", metric="roc_auc"))
    assert none.headline.startswith("No evidence of a difference") and not none.names_a_winner
    chance = np.full((2, 50), 0.5) + rng.normal(0, 0.05, size=(2, 50))
    refused = overall_verdict(compare_extractors(_table(chance, chance[::-1]), "A", "B",
                                                 metric="roc_auc"))
    assert refused.headline.startswith("Not enough data to compare A and B")
