"""Verdict rules: a winner only with evidence, the interval level stated, counts across targets."""

from __future__ import annotations

import pandas as pd

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
    assert ("90% CI (corrected resampled t)", "[-0.150, -0.050]") in worse.facts
    none = single_verdict(_row(p_corrected=0.55, q_corrected=0.55), metric="accuracy",
                          confidence=0.95)
    assert none.headline.startswith("No evidence of a difference") and not none.significant
    assert "FTX is better" not in none.sentence


def test_across_targets_counts_only_significant_targets():
    table = pd.DataFrame([_row(target="G1"), _row(target="G2", q_corrected=0.3),
                          _row(target="G3", mean_diff=-0.1, ci_low=-0.2, ci_high=-0.01)])
    verdict = across_verdict(table, metric="r", noun="gene", confidence=confidence_of(table))
    assert verdict.headline.startswith("Neither is better overall: FTX wins 1 and IMG wins 1")
    more = pd.concat([table, _row(target="G4").to_frame().T], ignore_index=True)
    assert across_verdict(more, metric="r", noun="gene", confidence=0.95).headline == (
        "FTX is better for 2 of the 3 genes with a significant difference (4 genes tested)")
    shown = comparison_display(table.assign(ci_low=[0.05, 0.1, -0.2], ci_high=[0.15, 0.1, -0.01]),
                               0.95)
    assert shown["better"].tolist() == ["FTX", "no evidence", "IMG"]
    assert shown["p (corrected t)"].tolist()[1] == "n/a (no spread)"
    assert "95% CI" in shown.columns
