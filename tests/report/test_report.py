"""The report writer: self-contained HTML, Markdown, CSV, provenance; figures render in Chromium."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from featx import __version__  # noqa: E402
from featx.report.document import Figure, Report, Section, Table, write_report  # noqa: E402
from tests.browser import render  # noqa: E402
from tests.report._results import stored_results  # noqa: E402


def small_report() -> Report:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    table = pd.DataFrame({"extractor": ["FTX-2048", "IMGNET-2048"], "accuracy": [0.984, 0.964]})
    return Report("Comparison", {"seed": 7}, [
        Section("Accuracy", ["Two extractors."], [Figure.from_matplotlib("line", fig, "A line.")],
                [Table("accuracy", table, "Accuracy by extractor")]),
        Section("Broken figure", [], [Figure("broken", b"not a png", "must not render")]),
    ])


def test_writes_html_markdown_tables_and_provenance(tmp_path):
    files = write_report(small_report(), tmp_path / "r")
    page = files.html.read_text()
    assert "data:image/png;base64," in page and "IMGNET-2048" in page
    assert "src='figures" not in page  # self-contained
    assert "![A line.](figures/line.png)" in files.markdown.read_text()
    assert pd.read_csv(tmp_path / "r" / "tables" / "accuracy.csv")["accuracy"].tolist() == [0.984, 0.964]
    provenance = json.loads((tmp_path / "r" / "provenance.json").read_text())
    assert provenance == {"featx_version": __version__, "seed": 7}


def test_chromium_renders_good_figures_and_flags_broken_ones(tmp_path, artifacts_dir):
    files = write_report(small_report(), tmp_path / "r")
    rendered, total = render(files.html, artifacts_dir / "report-writer.png")
    assert (rendered, total) == (1, 2)
    assert (artifacts_dir / "report-writer.png").stat().st_size > 5000


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    """`featx report` over the three experiments, SIG (signal) against NOISE."""
    import numpy as np
    from typer.testing import CliRunner

    from featx.cli._app import app

    tmp = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    ids = [f"TCGA-AA-{i:04d}" for i in range(40)]
    signal = rng.normal(size=(40, 3))
    feats = {"SIG": pd.DataFrame(np.c_[signal, rng.normal(size=(40, 5))], index=ids),
             "NOISE": pd.DataFrame(rng.normal(size=(40, 8)), index=ids)}
    results = stored_results(tmp / "results", feats)
    done = CliRunner().invoke(app, ["report", "cmp", "--results", str(results), "-o",
                                    str(tmp / "reports")])
    assert done.exit_code == 0, done.output
    return tmp / "reports" / "cmp"


def test_cli_report_fromstored_results(report_page, tmp_path):
    """`featx report` builds a comparison from evaluate's tables alone."""
    from typer.testing import CliRunner

    from featx.cli._app import app

    page = (report_page / "report.html").read_text()
    for text in ("Tissue classification", "Expression regression", "Mutation prediction",
                 "observed", "DeLong", "fold_ids_sha256"):
        assert text in page
    figures = sorted(p.name for p in (report_page / "figures").iterdir())
    assert figures == ["expression-differences.png", "expression-forest.png",
                       "expression-observed-predicted.png", "mutation-auc.png",
                       "mutation-forest.png", "tissue-accuracy.png", "tissue-class-accuracy.png",
                       "tissue-confusion.png"]
    missing = CliRunner().invoke(app, ["report", "x", "--results", str(tmp_path / "none")])
    assert missing.exit_code != 0
    bundled = CliRunner().invoke(app, ["report", "cmp", "--results",
                                       str(report_page.parents[1] / "results"), "--bundle",
                                       "--genes", "PRF1", "-o", str(tmp_path)])
    assert bundled.exit_code == 0, bundled.output
    assert (tmp_path / "cmp.zip").is_file() and "bundle:" in bundled.output


def _sections(page: str) -> dict[str, str]:
    import re

    return {m.group(1): m.group(2) for m in re.finditer(
        r"<section><h2>(.*?)</h2>(.*?)</section>", page, flags=re.S)}


def test_every_experiment_opens_with_its_verdict(report_page):
    sections = _sections((report_page / "report.html").read_text())
    for heading in ("Tissue classification (linear SVC)", "Expression regression (SVR)",
                    "Mutation prediction (LASSO logistic regression)"):
        assert sections[heading].lstrip().startswith("<div class='verdict"), heading
        assert "95% CI" in sections[heading] and "BH q" in sections[heading]
    tissue = sections["Tissue classification (linear SVC)"]
    # The signal extractor is far better: the card names it, and the table agrees.
    assert "SIG is better than NOISE (accuracy)" in tissue
    assert "verdict significant" in tissue
    assert "better for" in sections["Expression regression (SVR)"]


def test_report_tables_are_readable(report_page):
    import re

    page = (report_page / "report.html").read_text()
    assert not re.search(r"\bnan\b", page, flags=re.I)
    assert "<table" in page and "download='tissue-comparison.csv'" in page
    # Key columns only on the page; every column in the CSV.
    headers = [len(re.findall("<th>", head)) for head in re.findall("<thead>(.*?)</thead>", page)]
    assert headers and max(headers) <= 9
    full = pd.read_csv(report_page / "tables" / "tissue-comparison.csv")
    assert {"effect_size", "verdict", "p_wilcoxon_liberal", "q_ttest_liberal"} <= set(full.columns)
    assert "<details><summary>Full provenance" in page and "@media print" in page


def test_no_winner_without_evidence(tmp_path):
    """Two all-but-identical noise extractors: no card and no cell names a winner (the cards say
    "no evidence" or, where the two score no better than chance, "not enough data")."""
    import numpy as np

    from featx.report import build_report, write_report

    rng = np.random.default_rng(3)
    ids = [f"TCGA-AB-{i:04d}" for i in range(40)]
    base = rng.normal(size=(40, 6))
    feats = {"N1": pd.DataFrame(base, index=ids),
             "N2": pd.DataFrame(base + 1e-3 * rng.normal(size=base.shape), index=ids)}
    results = stored_results(tmp_path / "results", feats, names=("N1", "N2"), n_repeats=2)
    report = build_report("noise", results=results)
    assert all(s.verdict is None or not s.verdict.significant for s in report.sections)
    assert report.sections[0].verdict.headline.startswith(("No evidence of a difference",
                                                           "Not enough data to compare"))
    for section in report.sections:
        for table in section.tables:
            if table.display is not None and "better" in table.display:
                assert set(table.display["better"]) <= {"no evidence", "not enough data"}
    assert any("Only 2 repetitions" in b for b in report.summary.caveats)
    page = write_report(report, tmp_path / "r").html.read_text()
    assert "Read with care" in page


def test_provenance_facts_table_and_random_weights_caveat():
    from featx.report.builder import provenance_facts
    from featx.report.caveats import data_caveats

    record = {"results/tissue_provenance.json": {
        "extractors": {"IMGNET-2048": {"weights": "random", "weights_sha256": "ab" * 32}},
        "folds": {"all": {"n_splits": 5, "n_repeats": 10, "seed": 0}},
        "stain": {"stain_matrix_target": [[0.1, 0.2, 0.3]]}}}
    facts = provenance_facts(record)
    assert "extractors / IMGNET-2048 / weights_sha256" in facts["fact"].tolist()
    assert facts.loc[facts["fact"].str.endswith("weights_sha256"), "value"].iloc[0] == "ab" * 8 + "…"
    assert "folds / per target / n_repeats" in facts["fact"].tolist()
    assert not facts["fact"].str.contains("stain_matrix_target").any()  # the JSON has it
    caveats = data_caveats(record, None)
    assert len(caveats) == 1 and "random weights" in caveats[0]


def test_tiny_classes_and_near_duplicate_tiles_are_caveats(tmp_path):
    from featx.report.caveats import data_caveats

    confusion = pd.DataFrame({"experiment": "tissue", "extractor": "A", "repetition": 0,
                              "true_label": ["big", "big", "rare"],
                              "predicted_label": ["big", "rare", "rare"], "count": [40, 5, 3]})
    confusion.to_parquet(tmp_path / "tissue_confusion.parquet")
    record = {"results/tissue_provenance.json": {"tiles": "/data/tiles/lc25000_lung_224px"}}
    caveats = data_caveats(record, tmp_path)
    assert any("near-duplicate" in c for c in caveats)
    tiny = [c for c in caveats if "fewer than 10 samples" in c]
    assert tiny and "rare (3)" in tiny[0] and "big" not in tiny[0]
