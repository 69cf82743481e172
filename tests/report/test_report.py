"""The report writer: self-contained HTML, Markdown, CSV, provenance; figures render in Chromium."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from featx import __version__  # noqa: E402
from featx.report.document import Figure, Report, Section, Table, write_report  # noqa: E402
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


def test_cli_report_from_stored_results(tmp_path):
    """`featx report` builds a comparison from evaluate's tables alone."""
    import numpy as np
    from typer.testing import CliRunner

    from featx.cli._app import app
    from featx.evaluation.comparisons import compare_extractors
    from featx.evaluation.experiments import classify_tissue, predict_mutations, regress_expression

    rng = np.random.default_rng(0)
    ids = [f"TCGA-AA-{i:04d}" for i in range(40)]
    signal = rng.normal(size=(40, 3))
    feats = {"SIG": pd.DataFrame(np.c_[signal, rng.normal(size=(40, 5))], index=ids),
             "NOISE": pd.DataFrame(rng.normal(size=(40, 8)), index=ids)}
    results = tmp_path / "results"
    labels = pd.Series(np.where(signal[:, 0] > 0, "tumour", "stroma"), index=ids, name="label")
    expression = pd.DataFrame(np.exp(signal + 0.3 * rng.normal(size=(40, 3))), index=ids,
                              columns=["CD8A", "GZMB", "PRF1"])
    mutations = pd.DataFrame((signal[:, :2] > 0.3).astype(int), index=ids, columns=["TP53", "KRAS"])
    for name, result in (
        ("tissue", classify_tissue(feats, labels, n_splits=4, n_repeats=3)),
        ("expression", regress_expression(feats, expression, n_splits=4, n_repeats=3)),
        ("mutation", predict_mutations(feats, mutations, n_splits=4, n_repeats=3)),
    ):
        result.save(results)
        metric = {"tissue": "accuracy", "expression": "pearson_r", "mutation": "roc_auc"}[name]
        compare_extractors(result.scores, "SIG", "NOISE", metric=metric).to_csv(
            results / f"{name}_comparison.csv", index=False)
    done = CliRunner().invoke(app, ["report", "cmp", "--results", str(results), "-o",
                                    str(tmp_path / "reports")])
    assert done.exit_code == 0, done.output
    page = (tmp_path / "reports" / "cmp" / "report.html").read_text()
    for text in ("Tissue classification", "Expression regression", "Mutation prediction",
                 "observed", "DeLong", "fold_ids_sha256"):
        assert text in page
    figures = sorted(p.name for p in (tmp_path / "reports" / "cmp" / "figures").iterdir())
    assert figures == ["expression-differences.png", "expression-observed-predicted.png",
                       "mutation-auc.png", "tissue-accuracy.png", "tissue-class-accuracy.png",
                       "tissue-confusion.png"]
    missing = CliRunner().invoke(app, ["report", "x", "--results", str(tmp_path / "none")])
    assert missing.exit_code != 0
