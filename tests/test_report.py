"""The report writer: self-contained HTML, Markdown, CSV, provenance; figures render in Chromium."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from featx import __version__  # noqa: E402
from featx.report import Figure, Report, Section, Table, write_report  # noqa: E402
from tests.browser import render  # noqa: E402


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
