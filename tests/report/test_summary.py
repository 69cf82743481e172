"""The top of a report: every answer, what ran on what, the caveats; flags in the title and cards."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from featx.evaluation.comparisons import compare_over_targets
from featx.report import build_report, write_report
from tests.browser import visible_text
from tests.report._results import signal_and_noise, stored_results


@pytest.fixture(scope="module")
def standin_results(tmp_path_factory):
    """SIG vs NOISE, recorded as stand-ins the way `featx reproduce --small` records them."""
    folder = stored_results(tmp_path_factory.mktemp("standins") / "results", signal_and_noise())
    for experiment in ("expression", "mutation"):
        path = folder / f"{experiment}_provenance.json"
        record = json.loads(path.read_text())
        record["extractors"] = {"SIG": {"stand-in": "immune-cell fractions"},
                                "NOISE": {"stand-in": "seeded Gaussian noise"}}
        path.write_text(json.dumps(record))
    return folder


def _cards(page: str) -> list[str]:
    return [visible_text(c) for c in re.findall(r"<div class='verdict[^']*'>(.*?)</div>", page,
                                         flags=re.S)]


def test_summary_holds_every_answer_and_flags_the_standins(standin_results, tmp_path):
    report = build_report(results=standin_results, caveats=["Embeddings are stand-ins."])
    assert report.title == ("SIG vs NOISE: tissue classification, expression regression, "
                            "mutation prediction")
    answers = report.summary.answers.set_index("experiment")
    assert list(answers.index) == ["Tissue classification", "Expression regression",
                                   "Mutation prediction"]
    cards = {s.heading.split(" (")[0]: s.verdict for s in report.sections if s.verdict}
    for experiment, row in answers.iterrows():  # the summary repeats the cards, word for word
        assert row["answer"] == cards[experiment].headline
        assert row["test"] == cards[experiment].test
    # Stand-ins are flagged in the title block and in every card that involves them.
    assert report.flags == ["SIG is a stand-in, not image features",
                            "NOISE is a stand-in, not image features"]
    assert "stand-in" in answers.loc["Expression regression", "extractors"]
    assert cards["Expression regression"].flags == report.flags
    assert report.summary.caveats[0] == "Embeddings are stand-ins."
    assert any("3 repetitions" in c for c in report.summary.caveats)
    assert any(line.startswith("Expression regression: 40 patients, 3 genes; 3 x 4-fold")
               for line in report.summary.data)
    page = write_report(report, tmp_path / "r").html.read_text()
    top = visible_text(page[:page.index("<h2>Tissue classification")])
    assert "SIG is a stand-in" in top and "Read with care" in top and "What was run" in top
    assert all("is a stand-in" in card for card in _cards(page)[1:])


def test_cards_name_the_test_the_result_carries_never_a_literal(standin_results, tmp_path):
    """No card prints "Wilcoxon" beside a corrected-t figure: every label is the result's."""
    page = write_report(build_report(results=standin_results), tmp_path / "r").html.read_text()
    scores = pd.read_parquet(standin_results / "expression_scores.parquet")
    over = compare_over_targets(scores, "SIG", "NOISE", metric="pearson_r")
    cards = _cards(page)
    assert len(cards) == 3 and not any("Wilcoxon" in card for card in cards)
    assert over.test in cards[1] and "corrected" in over.test
    # The Wilcoxon over genes is shown, labelled, in the literature section only.
    literature = visible_text(page[page.index("For comparison with the literature"):])
    assert "Wilcoxon signed-rank test" in literature and "paper&#x27;s count" in literature
    assert "Wilcoxon" not in visible_text(page[:page.index("For comparison with the literature")])
    # A comparison table that names another test: the cards, captions and summary say that.
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for path in standin_results.iterdir():
        (renamed / path.name).write_bytes(path.read_bytes())
    table = pd.read_csv(renamed / "tissue_comparison.csv").assign(test="MY-OWN-TEST")
    table.to_csv(renamed / "tissue_comparison.csv", index=False)
    report = build_report(results=renamed)
    label = "MY-OWN-TEST, calibrated verdict rule"  # the table's test and its verdict rule
    assert dict(report.sections[0].verdict.facts)["Test"] == label
    assert report.summary.answers["test"].iloc[0] == label
    assert "MY-OWN-TEST" in report.sections[0].tables[0].caption


def test_one_extractor_answers_with_its_score(tmp_path):
    feats = {"SIG": signal_and_noise()["SIG"]}
    results = stored_results(tmp_path / "results", feats, names=("SIG",))
    report = build_report(results=results)
    assert report.title == ("SIG: tissue classification, expression regression, "
                            "mutation prediction")
    tissue, expression, mutation = report.sections[:3]
    assert re.fullmatch(r"SIG: accuracy 0\.\d{3}, 95% CI \[0\.\d{3}, [01]\.\d{3}\]",
                        tissue.verdict.headline)
    assert expression.verdict.headline.startswith("SIG: median Pearson r ")
    assert "nothing is compared" in expression.verdict.sentence
    table = next(t for t in expression.tables if t.name == "expression-scores")
    assert list(table.display.columns) == ["target", "mean", "95% CI", "resamples"]
    captions = [f.caption for s in report.sections for f in s.figures]
    captions += [t.caption for s in report.sections for t in s.tables]
    assert not any("side by side" in c or "joined across" in c or " vs " in c for c in captions)
    assert list(report.summary.answers["extractors"]) == ["SIG"] * 3
    assert not any(s.heading.startswith("For comparison") for s in report.sections)
