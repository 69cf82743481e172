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
    # The counts of the verdict column, the CSV's, under the verdict rule's headline: KRAS
    # carries the signal, TP53 (noise in both) is refused as near chance, never given a winner.
    line = next(x for x in result.output.splitlines() if "SIG vs noise" in x)
    assert "SIG is better for 1 of 2 targets" in line and "calibrated verdict rule" in line
    assert _counts_in_line(line) == (1, 0, int((comparison["verdict"] == "no difference").sum()))
    assert "next: featx report" in result.output
    record = json.loads((out / "mutation_provenance.json").read_text())
    assert set(record["extractors"]) == {"SIG", "noise"}
    assert record["options"]["seed"] == 0 and len(record["targets"]["sha256"]) == 64
    assert record["verdict_rule_config"]["name"] == "calibrated" and record["alpha"] == 0.05


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


def test_every_model_option_and_the_verdict_rule_reach_the_run_and_its_provenance(tmp_path):
    src = _write_inputs(tmp_path)
    mutation = runner.invoke(app, ["evaluate", str(src / "noise.parquet"), f"SIG={src / 'SIG.parquet'}",
                                   "-t", str(src / "mutations.tsv"), "-e", "mutation",
                                   "--repeats", "2", "--lasso-rule", "1se", "--inner-folds", "3",
                                   "--penalties", "6", "--verdict-rule", "nadeau-bengio",
                                   "--alpha", "0.1", "-o", str(tmp_path / "m")])
    assert mutation.exit_code == 0, mutation.output
    record = json.loads((tmp_path / "m" / "mutation_provenance.json").read_text())
    assert record["options"] | {"rule": "1se", "inner_splits": 3, "n_Cs": 6} == record["options"]
    assert record["verdict_rule_config"]["name"] == "nadeau-bengio" and record["alpha"] == 0.1
    comparison = pd.read_csv(tmp_path / "m" / "mutation_comparison.csv")
    assert set(comparison["rule"]) == {"nadeau-bengio"}
    fixed = runner.invoke(app, ["evaluate", str(src / "noise.parquet"), "-t",
                                str(src / "mutations.tsv"), "-e", "mutation", "--repeats", "1",
                                "--lasso-c", "0.3", "-o", str(tmp_path / "f")])
    assert fixed.exit_code == 0, fixed.output
    used = pd.read_parquet(tmp_path / "f" / "mutation_scores.parquet").query("metric == 'lasso_C'")
    assert (used["value"] == 0.3).all()
    expression = runner.invoke(app, ["evaluate", str(src), "-t", str(src / "expression.csv"),
                                     "-e", "expression", "--repeats", "1", "--svr-c", "2",
                                     "--epsilon", "0.3", "--scale-y", "-o", str(tmp_path / "e")])
    assert expression.exit_code == 0, expression.output
    options = json.loads((tmp_path / "e" / "expression_provenance.json").read_text())["options"]
    assert (options["C"], options["epsilon"], options["scale_y"]) == (2.0, 0.3, True)
    wrong = runner.invoke(app, ["evaluate", str(src), "-t", str(src / "expression.csv"), "-e",
                                "expression", "--lasso-rule", "1se", "-o", str(tmp_path / "w")])
    assert isinstance(wrong.exception, InvalidParameterError)
    assert "--lasso-rule" in str(wrong.exception) and "mutation" in str(wrong.exception)
    unknown = runner.invoke(app, ["evaluate", str(src), "-t", str(src / "expression.csv"), "-e",
                                  "expression", "--verdict-rule", "lenient"])
    assert isinstance(unknown.exception, InvalidParameterError)


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


def _luad_case(shared_data, tmp_path, name: str, noise_b: float | None, seed: int):
    """Real TCGA-LUAD expression of 20 immune genes (150 patients) as targets; A and B are
    10 other immune genes' real expression plus noise (B: ``noise_b`` times more, or pure
    noise where None)."""
    from featx.targets.gene_sets import read_gene_list

    matrix = _luad_matrix(shared_data)
    rng = np.random.default_rng(seed)
    immune = [g for g in read_gene_list("immune")[0] if g in matrix.columns]
    genes = rng.choice(immune, 30, replace=False)
    patients = rng.choice(matrix.index, 150, replace=False)
    folder = tmp_path / name
    folder.mkdir()
    matrix.loc[patients, genes[:20]].rename_axis("patient").to_csv(folder / "expr.tsv", sep="\t")
    real = matrix.loc[patients, genes[20:]].to_numpy()
    real = (real - real.mean(axis=0)) / real.std(axis=0)
    a = real + rng.normal(size=real.shape)
    b = (rng.normal(size=real.shape) if noise_b is None
         else real + noise_b * rng.normal(size=real.shape))
    for label, x in (("A", a), ("B", b)):
        pd.DataFrame(x, index=pd.Index(patients, name="patient")).rename(
            columns=str).to_parquet(folder / f"{label}.parquet")
    return folder


_MATRIX: dict[str, pd.DataFrame] = {}


def _luad_matrix(shared_data) -> pd.DataFrame:
    from featx.targets.expression import expression_targets, read_rsem_matrix

    if "luad" not in _MATRIX:
        path = shared_data / "tables" / "openomics_luad" / "LUAD__geneExp.txt.gz"
        _MATRIX["luad"] = expression_targets(read_rsem_matrix(path)).frame
    return _MATRIX["luad"]


def _evaluate_and_report(folder) -> tuple[str, str]:
    out = folder / "results"
    done = runner.invoke(app, ["evaluate", f"A={folder / 'A.parquet'}",
                               f"B={folder / 'B.parquet'}", "-t", str(folder / "expr.tsv"),
                               "-e", "expression", "--transform", "none", "--repeats", "10",
                               "-o", str(out)])
    assert done.exit_code == 0, done.output
    printed = next(x[x.index("A vs B:"):] for x in done.output.splitlines() if "A vs B:" in x)
    shown = runner.invoke(app, ["report", "luad", "--results", str(out), "-o",
                                str(folder / "reports")])
    assert shown.exit_code == 0, shown.output
    markdown = (folder / "reports" / "luad" / "report.md").read_text()
    assert "verdict_rule" in markdown and "calibrated: corrected resampled t" in markdown
    headline = next(line for line in markdown.splitlines() if line.startswith("> **"))
    return printed, headline


@pytest.mark.realdata
@pytest.mark.slow
def test_evaluate_and_report_name_no_winner_on_a_real_luad_null(shared_data, tmp_path):
    """Both extractors are the same real-derived features plus noise of the same size: three
    datasets, and neither the printed verdict nor the report's headline names a winner."""
    for seed in range(3):
        printed, headline = _evaluate_and_report(
            _luad_case(shared_data, tmp_path, f"null{seed}", 1.0, seed))
        assert "is better" not in printed and "is better" not in headline, (printed, headline)
        assert "No evidence of a difference" in printed + headline


@pytest.mark.realdata
@pytest.mark.slow
def test_evaluate_and_report_name_the_extractor_with_more_signal(shared_data, tmp_path):
    """A carries real co-expressed immune genes plus noise, B noise alone."""
    printed, headline = _evaluate_and_report(_luad_case(shared_data, tmp_path, "alt", None, 0))
    assert "A is better for" in printed and "B is better" not in printed, printed
    assert "A is better for" in headline and "B is better" not in headline, headline


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
