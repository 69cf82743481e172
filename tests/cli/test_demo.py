"""The demo, run from the installed wheel, runs the whole pipeline; its report renders in a browser."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest

from featx.data_folder import data_dir
from tests.browser import render


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, installed_featx):
    """``featx demo --quick`` as a user who installed the wheel runs it: offline, from another folder."""
    out = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "FEATX_DATA_DIR": str(data_dir() or "")}
    result = subprocess.run([str(installed_featx / "bin" / "featx"), "demo", "--quick", "-o", str(out)],
                            cwd=out, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "report:" in result.stdout + result.stderr
    return out


@pytest.mark.tensorflow
@pytest.mark.slow
def test_demo_writes_every_stage(demo_dir):
    summary = json.loads((demo_dir / "demo.json").read_text())
    # With the data folder the demo also builds the real LUAD target tables ("targets").
    assert set(summary["seconds"]) == {"slides", "imagenet", "finetune", "ftx", "compare",
                                       "slidescores", "report"} | (
        {"targets"} if data_dir() is not None else set())
    if data_dir() is not None:
        assert pd.read_csv(demo_dir / "targets" / "expression.tsv", sep="\t").shape == (515, 483)
        comparison = pd.read_csv(demo_dir / "results" / "mutation_comparison.csv")
        assert len(comparison) == 10 and set(comparison["a"]) == {"STANDIN-IMMUNE"}
    for extractor in ("IMGNET-2048", "FTX-2048"):
        status = pd.read_csv(demo_dir / "store" / f"extractor={extractor}" / "_status.csv")
        assert (status["status"] == "done").all() and status["n_tiles"].min() > 0
    scores = pd.read_csv(demo_dir / "slidescores" / "slide_scores.csv")
    # Generated tumour is easy: the top-k score must rank every tumour slide first.
    tumour, normal = scores[scores["label"] == 1], scores[scores["label"] == 0]
    assert tumour["topk_score"].min() > normal["topk_score"].max()
    accuracy = pd.read_parquet(demo_dir / "results" / "tissue_scores.parquet").query(
        "fold == -1 and metric == 'accuracy' and target == 'all'")
    assert set(accuracy["extractor"]) == {"FTX-2048", "IMGNET-2048"}
    assert (accuracy["value"] > 0.5).all()  # three classes: chance is a third


@pytest.mark.tensorflow
@pytest.mark.slow
def test_demo_report_renders_every_figure_in_chromium(demo_dir, artifacts_dir):
    page = demo_dir / "report" / "report.html"
    text = page.read_text()
    for heading in ("Tissue classification", "Slide scores", "Tiles nearest", "Provenance"):
        assert heading in text
    assert "weights_sha256" in text and "fold_ids_sha256" in text and "stain_matrix_target" in text
    rendered, total = render(page, artifacts_dir / "demo-report.png", height_px=9000)
    assert total >= 8 and rendered == total
