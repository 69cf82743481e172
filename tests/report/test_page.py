"""The report page: no break inside a number, interval, ID or gene name (1,000-1,600 px and in
print), no machine path, and tables and provenance that travel inside report.html."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pytest

from featx.evaluation.comparisons import compare_extractors
from featx.report import build_report, write_report
from featx.report.page import words
from tests.browser import browser_page, wait_for_data
from tests.report._results import synthetic_scores

GENES = ["HLA-DRB1", "HLA-DQA1", "KIR2DL1", "CD8A", "GZMB", "PRF1", "IFNG", "CXCL9", "CXCL10",
         "CCL5", "LAG3", "PDCD1", "CTLA4", "TIGIT", "HAVCR2", "IDO1", "CD274", "CD3E", "CD2",
         "ITK", "MS4A1", "CD19", "NKG7", "KLRD1"]


def test_words_keep_numbers_intervals_and_names_whole():
    html = words("STANDIN-IMMUNE - STANDIN-NOISE: +0.322, 95% CI [+0.290, +0.354], p = 0.01 "
                 "in /home/me/results/x.csv")
    assert "<span class='w'>STANDIN-IMMUNE</span>" in html
    assert "[+0.290,\u00a0+0.354]" in html and "p\u00a0=\u00a00.01" in html
    assert "/home/me" not in html and "…/x.csv" in html


@pytest.fixture(scope="module")
def long_names_report(tmp_path_factory):
    """24 genes with hyphenated names, two long extractor names, every kind of cell."""
    rng = np.random.default_rng(0)
    values = {gene: (list(0.3 + 0.1 * rng.normal(size=10) + (0.2 if i % 3 == 0 else 0)),
                     list(0.3 + 0.1 * rng.normal(size=10)))
              for i, gene in enumerate(GENES)}
    scores = synthetic_scores(values, "STANDIN-IMMUNE", "STANDIN-NOISE")
    results = tmp_path_factory.mktemp("long") / "results"
    results.mkdir()
    scores.to_parquet(results / "expression_scores.parquet")
    compare_extractors(scores, "STANDIN-IMMUNE", "STANDIN-NOISE", metric="pearson_r").to_csv(
        results / "expression_comparison.csv", index=False)
    (results / "expression_provenance.json").write_text(
        '{"targets": "/home/someone/secret/project/expression.tsv", "folds": {"all": '
        '{"n_repeats": 2, "n_splits": 5, "seed": 0}}}')
    return write_report(build_report(results=results), results.parent / "report")


def test_no_machine_path_anywhere(long_names_report):
    for path in (long_names_report.html, long_names_report.markdown):
        text = path.read_text()
        assert "/home/someone" not in text and "…/expression.tsv" in text, path.name
    record = json.loads((long_names_report.folder / "provenance.json").read_text())
    assert record["results/expression_provenance.json"]["targets"] == "…/expression.tsv"
    embedded = re.findall(r"href='data:[^;]+;base64,([^']+)'", long_names_report.html.read_text())
    assert embedded and not any(b"/home/someone" in base64.b64decode(e) for e in embedded)


def test_tables_and_provenance_travel_inside_the_page(long_names_report, tmp_path):
    alone = tmp_path / "elsewhere" / "report.html"
    alone.parent.mkdir()
    shutil.copy(long_names_report.html, alone)  # e-mailed: the page without its folder
    page = alone.read_text()
    links = re.findall(r"<a ([^>]*)>", page)
    assert links and all("href='data:" in a for a in links)  # no viewers here: all embedded
    table = re.search(r"download='expression-comparison\.csv' href='data:text/csv;base64,"
                      r"([^']+)'", page)
    assert table and base64.b64decode(table.group(1)) == (
        long_names_report.folder / "tables" / "expression-comparison.csv").read_bytes()
    assert "download='provenance.json'" in page


@pytest.mark.parametrize("width", [1000, 1400, 1600])
def test_nothing_breaks_inside_a_token_and_no_table_overflows(long_names_report, artifacts_dir,
                                                             width):
    with browser_page(width=width, height=900) as page:
        page.goto(long_names_report.html.resolve().as_uri())
        wait_for_data(page, "figures-rendered", "true")
        assert page.evaluate("document.documentElement.dataset.tablesOverflowing") == "0"
        assert page.evaluate("document.documentElement.dataset.tokensBroken") == "0"
        # Numbers, intervals and names in cells never wrap: one line per cell.
        wrapped = page.evaluate("""Array.from(document.querySelectorAll('td:not(.long)'))
            .filter(td => { const r = document.createRange(); r.selectNodeContents(td);
              return new Set(Array.from(r.getClientRects(), x => Math.round(x.top))).size > 1; })
            .map(td => td.textContent)""")
        assert wrapped == []
        if width == 1000:
            page.screenshot(path=str(artifacts_dir / "report-long-names-1000px.png"),
                            full_page=False)
            page.emulate_media(media="print")
            page.set_viewport_size({"width": 720, "height": 1000})  # A4, 1.5 cm margins
            page.evaluate("featxLayout()")
            assert page.evaluate("document.documentElement.dataset.tablesOverflowing") == "0"
            assert page.evaluate("document.documentElement.dataset.tokensBroken") == "0"
