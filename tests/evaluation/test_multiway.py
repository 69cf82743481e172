"""featx.evaluation.multiway: N-way comparisons on the same folds, corrected across pairs, and ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from featx.errors import DataError, InvalidParameterError
from featx.evaluation.comparisons import compare_extractors
from featx.evaluation.multiway import compare_many, extractor_pairs
from featx.evaluation.verdict_rules import VerdictRule

#: True mean accuracy of each extractor; C and D are equal.
LEVELS = {"A": 0.80, "B": 0.74, "C": 0.70, "D": 0.70}


def score_table(levels=LEVELS, targets=("t1", "t2", "t3"), n_splits=5, n_repeats=4, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for target in targets:
        for rep in range(n_repeats):
            for fold in range(n_splits):
                shared = rng.normal(scale=0.03)  # a hard fold is hard for every extractor
                for name, level in levels.items():
                    rows.append({"experiment": "tissue", "extractor": name, "target": target,
                                 "repetition": rep, "fold": fold, "metric": "accuracy",
                                 "value": level + shared + rng.normal(scale=0.01),
                                 "n_train": 80, "n_test": 20, "n_splits": n_splits})
    return pd.DataFrame(rows)


def test_all_pairs_on_the_same_folds_with_holm_across_pairs():
    scores = score_table()
    result = compare_many(scores, metric="accuracy")
    pairs = result.pairs
    assert list(dict.fromkeys(zip(pairs["a"], pairs["b"]))) == [
        ("A", "B"), ("A", "C"), ("A", "D"), ("B", "C"), ("B", "D"), ("C", "D")]
    # each pair is exactly the existing pairwise comparison
    alone = compare_extractors(scores, "B", "D", metric="accuracy")
    mine = pairs[(pairs["a"] == "B") & (pairs["b"] == "D")].reset_index(drop=True)
    pd.testing.assert_series_equal(mine["p_corrected"], alone["p_corrected"])
    for _target, group in pairs.groupby("target"):
        expected = multipletests(group["p_corrected"], method="holm")[1]
        np.testing.assert_allclose(group["p_adjusted"], expected)
        assert (group["p_adjusted"] >= group["p_corrected"] - 1e-15).all()
    assert set(pairs["n_pairs"]) == {6}
    assert pairs["correction"].iloc[0].startswith("Holm (family-wise error) over 6 pairs")
    significant = pairs.groupby(["a", "b"])["significant"].all()
    assert significant[("A", "B")] and significant[("A", "C")] and not significant[("C", "D")]
    # Never more than the pair's own verdict (its gate, chance check and BH) names.
    named = pairs["verdict"].eq(pairs["a"]) | pairs["verdict"].eq(pairs["b"])
    assert not (pairs["significant"] & ~named).any()
    gated = compare_many(scores, metric="accuracy",
                         verdict_rule=VerdictRule("strict", inflation=100.0, gate=True))
    assert not gated.pairs["significant"].any()


def test_each_against_a_reference_with_bh():
    result = compare_many(score_table(), metric="accuracy", reference="C", correction="bh")
    assert sorted(set(zip(result.pairs["a"], result.pairs["b"]))) == [
        ("C", "A"), ("C", "B"), ("C", "D")]
    assert "Benjamini-Hochberg" in result.pairs["correction"].iloc[0]
    for _target, group in result.pairs.groupby("target"):
        np.testing.assert_allclose(group["p_adjusted"],
                                   multipletests(group["p_corrected"], method="fdr_bh")[1])


def test_ranking_with_corrected_intervals_and_mean_ranks():
    result = compare_many(score_table(), metric="accuracy")
    t1 = result.ranking[result.ranking["target"] == "t1"].set_index("extractor")
    assert t1.loc["A", "rank"] == 1 and t1.loc["B", "rank"] == 2
    assert set(t1.loc[["C", "D"], "rank"]) <= {3, 3.5, 4}
    assert (t1["ci_low"] < t1["mean"]).all() and (t1["mean"] < t1["ci_high"]).all()
    # the corrected interval is wider than the naive one (1/J + n_test/n_train > 1/J)
    scores = score_table()
    values = scores.query("target == 't1' and extractor == 'A'")["value"].to_numpy()
    naive = 2.09 * values.std(ddof=1) / np.sqrt(len(values))
    assert (t1.loc["A", "ci_high"] - t1.loc["A", "mean"]) > 1.5 * naive
    ranks = result.mean_ranks.set_index("extractor")
    assert list(result.mean_ranks["extractor"][:2]) == ["A", "B"]
    assert ranks.loc["A", "mean_rank"] == 1 and ranks.loc["A", "n_targets"] == 3
    assert (ranks["ci_low"] <= ranks["mean_rank"]).all()
    assert (ranks["mean_rank"] <= ranks["ci_high"]).all()


def test_equal_extractors_are_rarely_called_different():
    # Under the null, Holm across 6 pairs keeps false positives rare over many cohorts.
    hits = 0
    for seed in range(20):
        result = compare_many(score_table({"A": 0.7, "B": 0.7, "C": 0.7, "D": 0.7},
                                          targets=("t",), seed=seed), metric="accuracy")
        hits += bool(result.pairs["significant"].any())
    assert hits <= 3


def test_bad_requests():
    with pytest.raises(DataError, match="at least two"):
        extractor_pairs(["A"])
    with pytest.raises(InvalidParameterError, match="reference"):
        compare_many(score_table(), metric="accuracy", reference="Z")
    with pytest.raises(InvalidParameterError, match="correction"):
        compare_many(score_table(), metric="accuracy", correction="bonferroni")


def test_run_evaluation_writes_the_n_way_tables(tmp_path):
    from featx.evaluation.experiments import run_evaluation

    rng = np.random.default_rng(2)
    labels = pd.Series(np.repeat(["a", "b"], 20), index=[f"t{i}" for i in range(40)],
                       name="label")
    signal = (labels == "b").to_numpy(float)[:, None]
    features = {name: pd.DataFrame(rng.normal(size=(40, 3)) + strength * signal,
                                   index=labels.index)
                for name, strength in (("STRONG", 3.0), ("WEAK", 1.0), ("NONE", 0.0))}
    done = run_evaluation("tissue", features, labels.to_frame(), tmp_path, n_splits=4,
                          n_repeats=2, seed=0, reference="NONE", correction="bh")
    assert done.multiway is not None
    assert set(zip(done.multiway.pairs["a"], done.multiway.pairs["b"])) == {
        ("NONE", "STRONG"), ("NONE", "WEAK")}
    for stem in ("pairs", "ranking", "mean_ranks"):
        assert (tmp_path / f"tissue_{stem}.csv").is_file()
    assert pd.read_csv(tmp_path / "tissue_mean_ranks.csv")["extractor"].tolist() == [
        "STRONG", "WEAK", "NONE"]
    two = run_evaluation("tissue", {k: features[k] for k in ("STRONG", "WEAK")},
                         labels.to_frame(), tmp_path, n_splits=4, n_repeats=2)
    assert two.multiway is None and not (tmp_path / "tissue_pairs.csv").exists()  # not stale
