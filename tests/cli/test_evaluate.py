"""`featx evaluate`: embedding tables (store format and wide) + targets -> score tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from featx.cli._app import app
from featx.errors import DataError, InvalidParameterError

runner = CliRunner()


def _write_inputs(tmp_path, n_patients: int = 40, tiles: int = 3, p: int = 6):
    rng = np.random.default_rng(0)
    patients = [f"TCGA-AA-{i:04d}" for i in range(n_patients)]
    latent = rng.normal(size=n_patients)
    # store-like: several tiles per patient, an `embedding` list column, slide barcodes
    rows = np.repeat(np.arange(n_patients), tiles)
    emb = rng.normal(size=(len(rows), p)).astype(np.float32)
    emb[:, 0] += 2 * latent[rows]
    store = pa.table({
        "slide_id": [f"{patients[i]}-01Z-00-DX1" for i in rows],
        "patient_id": [patients[i] for i in rows],
        "x": np.arange(len(rows)), "y": np.zeros(len(rows), dtype=np.int64),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), p),
    })
    pq.write_table(store, tmp_path / "SIG.parquet")
    wide = pd.DataFrame(rng.normal(size=(n_patients, p)), columns=[f"f{i}" for i in range(p)])
    wide.insert(0, "patient", patients)
    wide.to_parquet(tmp_path / "noise.parquet", index=False)
    targets = pd.DataFrame({"patient": patients,
                            "KRAS": (latent > 0.3).astype(int),
                            "TP53": (latent + rng.normal(size=n_patients) > 0).astype(int)})
    targets.to_csv(tmp_path / "mutations.tsv", sep="\t", index=False)
    expression = pd.DataFrame({"patient": patients, "CD8A": np.exp(latent) * 10})
    expression.to_csv(tmp_path / "expression.csv", index=False)
    return tmp_path


def test_evaluate_mutation_writes_scores_and_comparison(tmp_path):
    src = _write_inputs(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", f"SIG={src / 'SIG.parquet'}",
                                 str(src / "noise.parquet"), "-t", str(src / "mutations.tsv"),
                                 "-e", "mutation", "--folds", "4", "--repeats", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out / "mutation_scores.parquet")
    assert set(scores["extractor"]) == {"SIG", "noise"}
    assert set(scores["target"]) == {"KRAS", "TP53"}
    assert scores["fold"].max() == 3 and scores["repetition"].max() == 1
    comparison = pd.read_csv(out / "mutation_comparison.csv")
    kras = comparison.set_index("target").loc["KRAS"]
    assert kras["better"] == "SIG" and kras["a"] == "SIG" and kras["b"] == "noise"
    assert "SIG vs noise" in result.output and "40 rows used" in result.output
    # A winner is named only for targets with BH q < 0.05; the rest are "no evidence".
    line = next(x for x in result.output.splitlines() if "SIG vs noise" in x)
    assert "(BH q < 0.05)" in line and "no evidence either way in" in line
    assert "next: featx report" in result.output
    record = json.loads((out / "mutation_provenance.json").read_text())
    assert set(record["extractors"]) == {"SIG", "noise"}
    assert record["options"]["seed"] == 0 and len(record["targets"]["sha256"]) == 64


def test_evaluate_expression_on_a_folder_as_csv(tmp_path):
    src = _write_inputs(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", str(src), "-t", str(src / "expression.csv"),
                                 "-e", "expression", "--repeats", "2", "--format", "csv",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out / "expression_scores.csv")
    r = scores.query("metric == 'pearson_r' and fold == -1").groupby("extractor")["value"].mean()
    assert r["SIG"] > 0.5 > r["noise"]


def test_evaluate_tissue_with_exact_ids(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.repeat(["a", "b"], 20)
    feats = pd.DataFrame(rng.normal(size=(40, 3)) + (labels == "b")[:, None] * 3,
                         columns=["u", "v", "w"])
    feats.insert(0, "file", [f"t{i}.jpeg" for i in range(40)])
    feats.to_parquet(tmp_path / "COLOUR.parquet", index=False)
    pd.DataFrame({"file": feats["file"], "label": labels,
                  "patient": np.arange(40) % 10}).to_csv(tmp_path / "labels.tsv", sep="\t",
                                                         index=False)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "COLOUR.parquet"), "-t",
                                 str(tmp_path / "labels.tsv"), "-e", "tissue", "--repeats", "1",
                                 "--group-column", "patient", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    confusion = pd.read_parquet(tmp_path / "out" / "tissue_confusion.parquet")
    assert confusion["count"].sum() == 40


def test_evaluate_errors_name_the_fix(tmp_path):
    src = _write_inputs(tmp_path)
    bad = runner.invoke(app, ["evaluate", str(src / "noise.parquet"), "-t",
                              str(src / "mutations.tsv"), "-e", "survival"])
    assert isinstance(bad.exception, InvalidParameterError) and "mutation" in str(bad.exception)
    other = pd.DataFrame({"patient": [f"TCGA-BB-{i:04d}" for i in range(10)], "KRAS": [0, 1] * 5})
    other.to_csv(tmp_path / "other.tsv", sep="\t", index=False)
    none = runner.invoke(app, ["evaluate", str(src / "noise.parquet"), "-t",
                               str(tmp_path / "other.tsv"), "-e", "mutation"])
    assert isinstance(none.exception, DataError) and "no ID is in every table" in str(none.exception)
    help_text = runner.invoke(app, ["evaluate", "--help"]).output
    assert "Nadeau-Bengio" in help_text and "--repeats" in help_text


def test_semicolon_binary_and_constant_target_tables(tmp_path):
    src = _write_inputs(tmp_path)
    targets = pd.read_csv(src / "mutations.tsv", sep="\t")
    targets.to_csv(tmp_path / "semicolon.csv", sep=";", index=False)
    (tmp_path / "binary.tsv").write_bytes(bytes(range(256)) * 20)
    targets.assign(TP53=1).to_csv(tmp_path / "constant.tsv", sep="\t", index=False)

    def run(name):
        return runner.invoke(app, ["evaluate", str(src / "noise.parquet"), "-t",
                                   str(tmp_path / name), "-e", "mutation", "--repeats", "1",
                                   "-o", str(tmp_path / f"out-{name}")])

    ok = run("semicolon.csv")
    assert ok.exit_code == 0, ok.output
    scores = pd.read_parquet(tmp_path / "out-semicolon.csv" / "mutation_scores.parquet")
    assert {"KRAS", "TP53"} <= set(scores.astype(str).stack())
    binary = run("binary.tsv")
    assert isinstance(binary.exception, DataError) and "UTF-8" in str(binary.exception)
    constant = run("constant.tsv")
    assert isinstance(constant.exception, DataError)
    assert "constant" in str(constant.exception) and "fewer folds" not in str(constant.exception)
