"""featx reproduce --small on the real LUAD tables, and featx evaluate on what it made."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from featx._io import write_table
from featx.cli._app import app
from featx.reproduce.standins import standin_embeddings


def test_luad_mutation_small_end_to_end_and_resume(shared_data, tmp_path):
    out = tmp_path / "lm"
    args = ["reproduce", "luad-mutation", "--small", "-o", str(out), "--repeats", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "will download nothing" in result.output and "stand-in" in result.output
    targets = pd.read_csv(out / "targets/mutation.tsv", sep="\t", index_col="patient")
    assert targets.shape == (502, 10)
    record = json.loads((out / "targets/mutation.provenance.json").read_text())
    assert record["sources"][0]["sha256"] and record["gene_list"] == "luad_coudray2018"
    comparison = pd.read_csv(out / "results/mutation_comparison.csv")
    assert set(comparison["a"]) == {"STANDIN-IMMUNE"} and len(comparison) == 10
    assert (out / "report/report.html").is_file()
    _check_the_plan_against_this_run(out, shared_data)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and again.output.count("done before") == 3  # targets, evaluate, report


def _check_the_plan_against_this_run(out, shared_data):
    """The evaluation's measured cost per unit (fit x row x feature), recorded by the stage log,
    is in range of the one the plan uses: within 5x either way, wide for a loaded machine."""
    from featx.embed.plan import measured_rates
    from featx.reproduce.plan import plan_for
    from featx.reproduce.stages import StageLog

    stage = {s.name: s for s in plan_for("luad-mutation", small=True, data_dir=shared_data,
                                         n_repeats=2).stages}["evaluate-mutation"]
    measured = StageLog(out).seconds["evaluate-mutation"] / stage.units
    planned = measured_rates()["stages"]["evaluate-mutation"]["per_unit_s"]
    assert planned / 5 < measured < planned * 5, (measured, planned)


def test_featx_evaluate_on_real_expression_targets(shared_data, tmp_path):
    out = tmp_path / "targets.tsv"
    result = CliRunner().invoke(app, ["targets", "expression", str(
        shared_data / "tables/openomics_luad/LUAD__geneExp.txt.gz"), "--genes", "immune",
        "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "515 patients x 482 genes" in result.output
    targets = pd.read_csv(out, sep="\t", index_col="patient")
    slides = pd.read_csv(shared_data / "tables/deeppath_luad/LUAD_slides_from_manifest_DERIVED.tsv",
                         sep="\t", dtype=str)
    patients = sorted(set(targets.index) & set(slides.loc[slides["sample_type_code"] == "01",
                                                           "patient"]))
    assert len(patients) == 499
    for name, table in standin_embeddings(shared_data, patients).items():
        write_table(table.rename_axis("patient_id").reset_index(), tmp_path / f"{name}.parquet")
    result = CliRunner().invoke(app, [
        "evaluate", str(tmp_path / "STANDIN-IMMUNE.parquet"), str(tmp_path / "STANDIN-NOISE.parquet"),
        "-t", str(out), "-e", "expression", "--columns", "CD8A,GZMB,CD3E,PRF1",
        "--folds", "5", "--repeats", "2", "-o", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    assert "already log2(x + 1)" in result.output  # --transform auto: not logged twice
    comparison = pd.read_csv(tmp_path / "results/expression_comparison.csv")
    # CD8 T-cell and cytotoxic genes follow the CIBERSORT fractions; noise predicts nothing.
    assert (comparison["better"] == "STANDIN-IMMUNE").all()
    assert (comparison["mean_a"] > 0.3).all()


@pytest.fixture(scope="module")
def crc_small(shared_data, tmp_path_factory):
    """``featx reproduce crc-tissue --small``: fine-tunes a tiny FTX-2048 the other runs reuse."""
    out = tmp_path_factory.mktemp("crc") / "small"
    result = CliRunner().invoke(app, ["reproduce", "crc-tissue", "--small", "-o", str(out),
                                      "--repeats", "2"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
@pytest.mark.tensorflow
def test_crc_tissue_small_fine_tunes_embeds_and_classifies(crc_small):
    out = crc_small
    assert (out / "ftx" / "ftx2048.keras").is_file()
    labels = pd.read_csv(out / "tiles_store/labels.tsv", sep="\t")
    assert labels["label"].value_counts().tolist() == [20, 20, 20]
    scores = pd.read_parquet(out / "results/tissue_scores.parquet").query(
        "fold == -1 and metric == 'accuracy' and target == 'all'")
    assert set(scores["extractor"]) == {"FTX-2048", "IMGNET-2048"}
    assert (scores["value"] > 0.5).all()  # three lung classes: chance is a third
    assert (out / "report/report.html").is_file()


@pytest.mark.slow
@pytest.mark.tensorflow
def test_crc_tissue_full_path_from_local_copies(crc_small, shared_data, tmp_path):
    # The full path (50 x 5-fold) with that model and a CRC-VAL-HE-7K folder at hand: nothing
    # is downloaded, the data folder's weights are verified and used.
    val = tmp_path / "local" / "CRC-VAL-HE-7K"
    for name in ("lung_aca", "lung_n", "lung_scc"):
        (val / name).mkdir(parents=True)
        for tile in sorted((shared_data / "tiles/lc25000_lung_224px" / name).glob("*.jpeg"))[:6]:
            (val / name / tile.name).write_bytes(tile.read_bytes())
    full = tmp_path / "full"
    result = CliRunner().invoke(app, ["reproduce", "crc-tissue", "-o", str(full), "--local-dir",
                                      str(tmp_path / "local"), "--ftx-model", str(crc_small / "ftx")])
    assert result.exit_code == 0, result.output
    assert "[fetch-weights] 1 files: 1 local" in result.output
    assert "NCT-CRC-HE-100K" not in result.output  # the model was given: no fine-tuning
    scores = pd.read_parquet(full / "results/tissue_scores.parquet")
    assert scores["repetition"].nunique() == 50 and (scores["n_splits"] == 5).all()


@pytest.mark.slow
@pytest.mark.tensorflow
def test_luad_expression_full_path_on_slides_at_hand(crc_small, shared_data, tmp_path):
    """Slides -> Macenko -> FTX-2048 and IMGNET-2048 -> patient means -> real targets -> SVR.

    The slides are generated (there are no TCGA slides here) and named for ten real patients
    of the expression table, so the whole non-small path runs offline.
    """
    from featx.wsi import Region, write_synthetic_slide

    matrix = shared_data / "tables/openomics_luad/LUAD__geneExp.txt.gz"
    patients = sorted({c[:12] for c in pd.read_csv(matrix, sep="\t", nrows=0).columns[2:]
                       if c[13:15] == "01"})[:10]
    rows = []
    for k, patient in enumerate(patients):
        path = tmp_path / "slides" / f"{patient}-01A-01-DX1.svs"
        path.parent.mkdir(exist_ok=True)
        write_synthetic_slide(path, width_px=768, height_px=768, slide_mpp=0.25, downsamples=(1, 4),
                              seed=k, regions=[Region(96, 96, 576, 576, shape="rect",
                                                      label="tumour" if k % 2 else "normal")])
        rows.append({"filename": path.name, "path": str(path), "md5": "", "size": ""})
    manifest = tmp_path / "slides.tsv"
    pd.DataFrame(rows).to_csv(manifest, sep="\t", index=False)
    out = tmp_path / "luad"
    result = CliRunner().invoke(app, [
        "reproduce", "luad-expression", "-o", str(out), "--slides-manifest", str(manifest),
        "--local-dir", str(matrix.parent), "--ftx-model", str(crc_small / "ftx"),
        "--repeats", "2"])
    assert result.exit_code == 0, result.output
    assert "[extract-FTX-2048] 10 done" in result.output
    assert "10 of 515 target patients have a primary-tumour slide" in result.output
    comparison = pd.read_csv(out / "results/expression_comparison.csv")
    assert set(comparison["a"]) == {"FTX-2048"} and len(comparison) > 400


@pytest.mark.slow
@pytest.mark.tensorflow
def test_crc_tissue_small_report_says_ftx_is_barely_trained_on_its_first_screen(crc_small,
                                                                               artifacts_dir):
    """One batch per step is no FTX-2048: the title block, the summary and the card say so."""
    from tests.browser import browser_page, wait_for_data

    with browser_page(width=1200, height=800) as page:
        page.goto((crc_small / "report" / "report.html").resolve().as_uri())
        wait_for_data(page, "figures-rendered", "true")
        page.screenshot(path=str(artifacts_dir / "reproduce-crc-small-report-top.png"))
        seen = page.evaluate("""(() => Array.from(document.querySelectorAll(
            'h1, .flags, .summary tr, .summary li, .verdict .flag'))
            .filter(el => { const b = el.getBoundingClientRect();
                            return b.top >= 0 && b.bottom <= innerHeight; })
            .map(el => el.textContent).join('\\n'))()""").replace("\u00a0", " ")
    assert "FTX-2048 is barely trained (2 batches of fine-tuning" in seen
    assert "FTX-2048 vs IMGNET-2048 (FTX-2048 barely trained)" in seen
    assert "FTX-2048: fine-tuned for 2 batches" in seen
    assert "the paper ran 50 repetitions" in seen
