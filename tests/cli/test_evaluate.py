"""`featx evaluate`: embedding tables (store format and wide) + targets -> score tables."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
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
    # The counts of the verdict column, the CSV's.
    line = next(x for x in result.output.splitlines() if "SIG vs noise" in x)
    named = int((comparison["verdict"] != "no difference").sum())
    assert f"the verdict names a winner for {named} of 2 targets" in line
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


# -- one verdict everywhere: the terminal, the CSV and the report read one column -------------

def _counts_in_line(line: str) -> tuple[int, int, int]:
    """(a better, b better, no evidence) from the terminal's verdict line."""
    found = re.search(r"better in (\d+), \S+ in (\d+); no evidence either way in (\d+)", line)
    assert found, line
    return tuple(int(g) for g in found.groups())  # type: ignore[return-value]


def _report_text(folder) -> str:
    page = (folder / "report.html").read_text()
    return re.sub(r"<[^>]+>", "", page).replace("\u00a0", " ")


def test_terminal_csv_and_report_agree_where_the_guard_matters(tmp_path):
    """A zero-width interval and 2 resamples have q < 0.05 but no verdict, and a NaN target is
    left out: the terminal line, the CSV's verdict column and the report's card and table agree."""
    from featx.cli.evaluate import verdict_line
    from featx.evaluation.comparisons import compare_extractors
    from featx.report import build_report, write_report
    from tests.report._results import synthetic_scores

    rng = np.random.default_rng(5)
    base = rng.integers(10, 30, 10) / 64  # exact in binary: a - b is 0.25 in every resample
    nan = [float("nan")] * 8
    scores = synthetic_scores({
        "REAL": (list(0.6 + 0.05 * rng.normal(size=10)), list(0.2 + 0.05 * rng.normal(size=10))),
        "ZERO": (list(base + 0.25), list(base)),
        "FEW": ([0.80, 0.82, *nan], [0.40, 0.40, *nan]),
        "NAN": ([float("nan")] * 10, [float("nan")] * 10)})
    with pytest.warns(UserWarning, match="NAN"):
        comparison = compare_extractors(scores, "A", "B", metric="pearson_r")
    table = comparison.set_index("target")
    assert list(table.index) == ["FEW", "REAL", "ZERO"]  # the NaN target is left out
    # The guard matters here: q < 0.05 where no spread or too few resamples can back it.
    assert (table.loc[["FEW", "ZERO"], "q_corrected"] < 0.05).all()
    assert table.loc["ZERO", "ci_low"] == table.loc["ZERO", "ci_high"]
    assert table.loc["FEW", "n"] == 2
    csv = table["verdict"].to_dict()
    assert csv == {"FEW": "no difference", "REAL": "A", "ZERO": "no difference"}

    terminal = _counts_in_line(verdict_line(comparison))
    results = tmp_path / "results"
    results.mkdir()
    scores.to_parquet(results / "expression_scores.parquet")
    comparison.to_csv(results / "expression_comparison.csv", index=False)
    report = build_report(results=results)
    card = report.sections[0].verdict
    shown = next(t for t in report.sections[0].tables if t.name == "expression-comparison")
    better = shown.display.set_index("target")["better"].to_dict()
    assert terminal == (1, 0, 2)
    assert card.headline == "A is better for 1 of 3 genes"
    assert better == {"FEW": "no evidence", "REAL": "A", "ZERO": "no evidence"}
    assert shown.display.set_index("target")["p"][["FEW", "ZERO"]].tolist() == [
        "too few resamples", "no spread"]
    text = _report_text(write_report(report, tmp_path / "r").folder)
    assert "A is better for 1 of 3 genes" in text and not re.search(r"\bnan\b", text)


def test_evaluate_and_report_agree_on_a_zero_width_interval_from_real_fits(tmp_path):
    """End to end: a perfect extractor against one that always predicts the majority class
    scores the same difference on every fold; the command line, CSV and report say the same."""
    rng = np.random.default_rng(2)
    labels = np.repeat(["a", "b"], [30, 20])
    files = [f"t{i}.png" for i in range(50)]
    signal = rng.normal(size=(50, 3)) + (labels == "b")[:, None] * 6
    pd.DataFrame(signal, columns=["u", "v", "w"]).assign(file=files).to_parquet(
        tmp_path / "SHARP.parquet", index=False)
    pd.DataFrame(np.zeros((50, 3)), columns=["u", "v", "w"]).assign(file=files).to_parquet(
        tmp_path / "BLANK.parquet", index=False)
    pd.DataFrame({"file": files, "label": labels}).to_csv(tmp_path / "labels.tsv", sep="\t",
                                                          index=False)
    done = runner.invoke(app, ["evaluate", str(tmp_path / "SHARP.parquet"),
                               str(tmp_path / "BLANK.parquet"), "-t", str(tmp_path / "labels.tsv"),
                               "-e", "tissue", "--repeats", "2", "-o", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    row = pd.read_csv(tmp_path / "out" / "tissue_comparison.csv").iloc[0]
    assert row["mean_diff"] == pytest.approx(0.4) and row["ci_low"] == row["ci_high"]
    line = next(x for x in done.output.splitlines() if "SHARP vs BLANK:" in x)
    terminal = _counts_in_line(line)
    csv = (int(row["verdict"] == "SHARP"), int(row["verdict"] == "BLANK"),
           int(row["verdict"] == "no difference"))
    assert terminal == csv == (0, 0, 1)
    reported = runner.invoke(app, ["report", "guard", "--results", str(tmp_path / "out"), "-o",
                                   str(tmp_path / "reports")])
    assert reported.exit_code == 0, reported.output
    text = _report_text(tmp_path / "reports" / "guard")
    assert "No evidence of a difference in accuracy between SHARP and BLANK" in text
    assert "no spread" in text


def test_one_extractor_evaluates_and_reports_its_score(tmp_path):
    """`featx embed` (COLORSTATS) -> `featx evaluate` -> `featx report`: one extractor, LC25000."""
    from PIL import Image

    tiles = tmp_path / "lc25000_lung_224px"
    rng = np.random.default_rng(0)
    for label, colour in (("lung_aca", (180, 60, 140)), ("lung_n", (230, 170, 200))):
        (tiles / label).mkdir(parents=True)
        for i in range(15):
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (32, 32, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(tiles / label / f"{label}{i}.png")
    store = tmp_path / "store"
    embedded = runner.invoke(app, ["embed", str(tiles), "-o", str(store), "--extractor",
                                   "COLORSTATS", "--no-progress"])
    assert embedded.exit_code == 0, embedded.output
    done = runner.invoke(app, ["evaluate", str(store), "-t", str(store / "labels.tsv"), "-e",
                               "tissue", "--repeats", "2", "-o", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert "one extractor (COLORSTATS): nothing to compare" in done.output
    reported = runner.invoke(app, ["report", "mine", "--results", str(tmp_path / "out"), "-o",
                                   str(tmp_path / "reports")])
    assert reported.exit_code == 0, reported.output
    text = _report_text(tmp_path / "reports" / "mine")
    assert "COLORSTATS: tissue classification" in text  # the title says what it holds
    assert re.search(r"COLORSTATS: accuracy \d\.\d{3}, 95% CI \[", text)
    assert "LC25000 holds augmented near-duplicate tiles" in text
    assert "mine" not in text.split("Summary")[0]  # NAME names the folder, not the report
