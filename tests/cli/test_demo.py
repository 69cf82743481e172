"""The demo, run from the installed wheel, runs the whole pipeline; its report renders in a browser."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest

from featx.data_folder import data_dir
from tests.browser import browser_page, dump_dom, html_data, render, wait_for_data


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, installed_featx):
    """``featx demo --quick`` as a user who installed the wheel runs it: offline, from another folder."""
    out = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "FEATX_DATA_DIR": str(data_dir() or "")}
    result = subprocess.run([str(installed_featx / "bin" / "featx"), "demo", "--quick", "-o", str(out)],
                            cwd=out, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "report:" in result.stdout + result.stderr
    (out / "terminal.txt").write_text(result.stdout + result.stderr)  # what a pipe received
    return out


@pytest.mark.tensorflow
@pytest.mark.slow
def test_demo_writes_every_stage(demo_dir):
    summary = json.loads((demo_dir / "demo.json").read_text())
    imgnet = next(p.name.split("=")[1] for p in (demo_dir / "store").glob("extractor=*")
                  if "FTX" not in p.name)  # RANDOM-XCEPTION-2048 without weights
    stages = {"slides", "finetune", "evaluate-tissue", "slidescores", "report"} | {
        f"{step}-{name}" for step in ("extract", "embed") for name in ("FTX-2048", imgnet)}
    # With the data folder the demo also builds the real LUAD target tables and evaluates them.
    stages |= {f"{step}-{kind}" for step in ("targets", "evaluate")
               for kind in ("expression", "mutation")} if data_dir() is not None else set()
    assert set(summary["seconds"]) == stages
    recorded = json.loads((demo_dir / "_stages.json").read_text())
    assert set(recorded) == stages and all(r["seconds"] >= 0 for r in recorded.values())
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


@pytest.mark.tensorflow
@pytest.mark.slow
def test_demo_report_answers_first_and_reads_cleanly_in_chromium(demo_dir, artifacts_dir):
    """Verdict first under each experiment, no overflowing table, no "nan", scales on heatmaps."""
    import re

    page = demo_dir / "report" / "report.html"
    text = page.read_text()
    sections = re.findall(r"<section><h2>(.*?)</h2>(.*?)</section>", text, flags=re.S)
    experiments = [(h, body) for h, body in sections if h.startswith("Tissue classification")]
    assert experiments
    for heading, body in experiments:
        assert body.lstrip().startswith("<div class='verdict"), heading
        assert "95% CI" in body
    dom = dump_dom(page.resolve().as_uri(), screenshot=artifacts_dir / "demo-report-top.png")
    assert html_data(dom, "tables-overflowing") == "0"
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style|pre)[^>]*>.*?</\1>", " ", dom,
                                             flags=re.S))
    assert not re.search(r"\bnan\b", visible, flags=re.I)
    figures = re.findall(r"<figure([^>]*)><img alt='([^']*)'", text)
    heatmaps = [(attrs, name) for attrs, name in figures
                if name.startswith("heatmap-") or "confusion" in name]
    assert heatmaps and all("data-colour-bar='true'" in attrs for attrs, _ in heatmaps)


@pytest.mark.tensorflow
@pytest.mark.slow
def test_demo_report_links_a_slide_viewer_that_toggles_its_overlay(demo_dir, artifacts_dir):
    import re

    text = (demo_dir / "report" / "report.html").read_text()
    links = re.findall(r"<a href='(viewer-[^']+\.html)'", text)
    assert links
    with browser_page() as page:
        page.goto((demo_dir / "report" / links[0]).resolve().as_uri())
        assert wait_for_data(page, "viewer-ready", "v === 'true'") == "true"
        assert int(wait_for_data(page, "tiles-loaded", "Number(v) > 0")) > 0
        page.screenshot(path=str(artifacts_dir / "demo-viewer.png"))
        page.keyboard.press("Space")
        assert wait_for_data(page, "overlay-visible", "v === 'false'") == "false"


@pytest.mark.tensorflow
@pytest.mark.slow
def test_demo_rerun_resumes_every_stage(demo_dir, installed_featx):
    """A second `featx demo --quick` in the same folder skips every stage, as `reproduce` does."""
    env = {**os.environ, "FEATX_DATA_DIR": str(data_dir() or "")}
    result = subprocess.run([str(installed_featx / "bin" / "featx"), "demo", "--quick", "-o",
                             str(demo_dir)], cwd=demo_dir, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    stages = json.loads((demo_dir / "_stages.json").read_text())
    assert all(f"[{name}] done before: " in result.stdout for name in stages)
    assert "running" not in result.stdout and "report:" in result.stdout


@pytest.mark.tensorflow
@pytest.mark.slow
def test_demo_terminal_is_clean_in_a_pipe(demo_dir):
    """No TensorFlow warnings, no Python warning with its source line, no escape codes."""
    text = (demo_dir / "terminal.txt").read_text()
    assert "WARNING:tensorflow" not in text and "retracing" not in text
    assert "UserWarning" not in text and ".py:" not in text
    assert "\x1b" not in text


@pytest.mark.tensorflow
@pytest.mark.slow
def test_demo_report_top_shows_the_summary_and_the_flags(demo_dir, artifacts_dir):
    """The first screen (1200 x 800) holds the summary's answers and what the extractors were."""
    with browser_page(width=1200, height=800) as page:
        page.goto((demo_dir / "report" / "report.html").resolve().as_uri())
        wait_for_data(page, "figures-rendered", "true")
        page.screenshot(path=str(artifacts_dir / "demo-report-summary.png"))
        seen = page.evaluate("""(() => { const out = [];
            for (const el of document.querySelectorAll('h1, .flags, .summary tr, .summary li')) {
              const box = el.getBoundingClientRect();
              if (box.top >= 0 && box.bottom <= innerHeight) out.push(el.textContent); }
            return out.join('\\n'); })()""").replace("\u00a0", " ")
    assert "FTX-2048 is barely trained" in seen and "Tissue classification" in seen
    if data_dir() is not None:
        assert "STANDIN-IMMUNE is a stand-in" in seen and "Expression regression" in seen
