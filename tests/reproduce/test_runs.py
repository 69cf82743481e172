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
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and again.output.count("done before") == 3  # targets, evaluate, report


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


@pytest.mark.slow
@pytest.mark.tensorflow
def test_crc_tissue_small_fine_tunes_embeds_and_classifies(shared_data, tmp_path):
    out = tmp_path / "crc"
    result = CliRunner().invoke(app, ["reproduce", "crc-tissue", "--small", "-o", str(out),
                                      "--repeats", "2"])
    assert result.exit_code == 0, result.output
    assert (out / "ftx" / "ftx2048.keras").is_file()
    labels = pd.read_csv(out / "tiles_store/labels.tsv", sep="\t")
    assert labels["label"].value_counts().tolist() == [20, 20, 20]
    scores = pd.read_parquet(out / "results/tissue_scores.parquet").query(
        "fold == -1 and metric == 'accuracy' and target == 'all'")
    assert set(scores["extractor"]) == {"FTX-2048", "IMGNET-2048"}
    assert (scores["value"] > 0.5).all()  # three lung classes: chance is a third
    assert (out / "report/report.html").is_file()
    # The full path (50 x 5-fold) with that model and a CRC-VAL-HE-7K folder at hand: nothing
    # is downloaded, the data folder's weights are verified and used.
    val = tmp_path / "local" / "CRC-VAL-HE-7K"
    for name in ("lung_aca", "lung_n", "lung_scc"):
        (val / name).mkdir(parents=True)
        for tile in sorted((shared_data / "tiles/lc25000_lung_224px" / name).glob("*.jpeg"))[:6]:
            (val / name / tile.name).write_bytes(tile.read_bytes())
    full = tmp_path / "full"
    result = CliRunner().invoke(app, ["reproduce", "crc-tissue", "-o", str(full), "--local-dir",
                                      str(tmp_path / "local"), "--ftx-model", str(out / "ftx")])
    assert result.exit_code == 0, result.output
    assert "[fetch-weights] 1 files: 1 local" in result.output
    assert "NCT-CRC-HE-100K" not in result.output  # the model was given: no fine-tuning
    scores = pd.read_parquet(full / "results/tissue_scores.parquet")
    assert scores["repetition"].nunique() == 50 and (scores["n_splits"] == 5).all()
