"""Verdict rules: a winner only with evidence, the interval level stated, counts across targets."""

from __future__ import annotations

import pandas as pd

from featx.evaluation.comparisons import PER_TARGET_TEST
from featx.report.verdicts import (
    across_verdict,
    comparison_display,
    confidence_of,
    significant,
    single_verdict,
)


def _row(**changes: object) -> pd.Series:
    base = {"a": "FTX", "b": "IMG", "target": "all", "n": 10, "mean_a": 0.9, "mean_b": 0.8,
            "mean_diff": 0.1, "ci_low": 0.05, "ci_high": 0.15, "p_corrected": 0.001,
            "q_corrected": 0.002}
    return pd.Series({**base, **changes})


def test_significance_needs_a_small_q_a_spread_and_three_resamples():
    assert significant(_row())
    assert not significant(_row(q_corrected=0.2))
    assert not significant(_row(ci_low=0.1, ci_high=0.1))  # every resample agreed: unmeasured
    assert not significant(_row(n=2))


def test_single_verdict_names_the_winner_by_the_sign_and_states_the_level():
    worse = single_verdict(_row(mean_diff=-0.1, ci_low=-0.15, ci_high=-0.05), metric="accuracy",
                           confidence=0.9)
    assert worse.headline == "IMG is better than FTX (accuracy)" and worse.significant
    facts = dict(worse.facts)
    assert facts["Difference (FTX - IMG)"] == "-0.100 accuracy, 90% CI [-0.150, -0.050]"
    assert facts["Test"] == worse.test == PER_TARGET_TEST
    none = single_verdict(_row(p_corrected=0.55, q_corrected=0.55), metric="accuracy",
                          confidence=0.95)
    assert none.headline.startswith("No evidence of a difference") and not none.significant
    assert "FTX is better" not in none.sentence


def test_across_targets_counts_only_significant_targets():
    table = pd.DataFrame([_row(target="G1"), _row(target="G2", q_corrected=0.3),
                          _row(target="G3", mean_diff=-0.1, ci_low=-0.2, ci_high=-0.01)])
    verdict = across_verdict(table, metric="r", noun="gene", confidence=confidence_of(table))
    assert verdict.headline == "Neither is better overall: FTX is better for 1 and IMG for 1 of 3 genes"
    more = pd.concat([table, _row(target="G4").to_frame().T], ignore_index=True)
    assert across_verdict(more, metric="r", noun="gene", confidence=0.95).headline == (
        "FTX is better for 2 of 4 genes (IMG for 1)")
    shown = comparison_display(table.assign(ci_low=[0.05, 0.1, -0.2], ci_high=[0.15, 0.1, -0.01]),
                               0.95)
    # Largest difference first; G2's resamples agree exactly: nothing to test against.
    assert shown.set_index("target")["better"].to_dict() == {"G1": "FTX", "G2": "no evidence",
                                                             "G3": "IMG"}
    assert shown.set_index("target")["p"]["G2"] == "no spread"
    assert "95% CI" in shown.columns


def test_rows_read_largest_effect_first_or_the_named_targets_first():
    from featx.report.verdicts import order_by_effect

    table = pd.DataFrame([_row(target=t, mean_diff=d) for t, d in
                          (("ABHD2", 0.01), ("CD8A", -0.4), ("GZMB", 0.2), ("PRF1", 0.05))])
    assert order_by_effect(table)["target"].tolist() == ["CD8A", "GZMB", "PRF1", "ABHD2"]
    named = order_by_effect(table, ["PRF1", "NOT-THERE", "ABHD2"])
    assert named["target"].tolist() == ["PRF1", "ABHD2", "CD8A", "GZMB"]


def test_a_verdict_that_names_no_winner_for_another_reason_is_passed_on_as_it_reads():
    """Whatever the verdict column says besides a, b and "no difference" reaches every reader."""
    from featx.cli.evaluate import verdict_line

    table = pd.DataFrame([_row(target="G1", verdict="FTX"),
                          _row(target="G2", verdict="no difference", q_corrected=0.3),
                          _row(target="G3", verdict="not enough data", q_corrected=0.01)])
    card = across_verdict(table, metric="r", noun="gene", confidence=0.95)
    assert card.headline == "FTX is better for 1 of 3 genes"
    assert card.sentence == ("FTX better: 1; IMG better: 0; no evidence either way: 1; "
                             "not enough data: 1.")
    shown = comparison_display(table, 0.95).set_index("target")["better"].to_dict()
    assert shown == {"G1": "FTX", "G2": "no evidence", "G3": "not enough data"}
    assert verdict_line(table) == ("FTX vs IMG: FTX is better for 1 of 3 targets (FTX better "
                                   "in 1, IMG in 0; no evidence either way in 1; not enough "
                                   "data in 1)")
    single = single_verdict(table.iloc[2], metric="accuracy", confidence=0.95)
    assert single.headline == "No verdict on accuracy between FTX and IMG: not enough data"
    assert not single.significant
    refused = table.assign(verdict="not enough data")
    assert across_verdict(refused, metric="r", noun="gene", confidence=0.95).headline == (
        "No verdict between FTX and IMG for any gene: not enough data")
