"""The tutorial notebooks: committed clean, parameterised, and executed on small data.

Each notebook is run with papermill at CI size, writing into ``tmp_path``; the test then
reads the ``results.json`` the notebook stores and checks its key numbers against what
the data make knowable (accuracies above chance, a slide AUC on slides with known tumour,
the purity a stand-in slide was built from). The kernel is this interpreter: a kernel spec
pointing at ``sys.executable`` is put first on ``JUPYTER_PATH``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_extract_embeddings", "02_tissue_classification",
            "03_expression_and_mutation", "04_slide_scores"]

# CI-sized parameters: each notebook runs in well under 90 s on 2 CPU cores.
SMALL: dict[str, dict[str, Any]] = {
    "01_extract_embeddings": {"max_tiles": 40, "input_px": 71},
    "02_tissue_classification": {"input_px": 71, "epochs_step1": 1, "epochs_step2": 1,
                                 "finetune_batch": 8, "steps_per_epoch": 1,
                                 "eval_per_class": 20, "n_splits": 3, "n_repeats": 3},
    "03_expression_and_mutation": {"extractor": "colorstats", "input_px": 64, "n_patients": 40,
                                   "n_splits": 3, "n_repeats": 3},
    "04_slide_scores": {"input_px": 71, "n_slides": 12, "cv_folds": 3, "unet_epochs": 2},
}


def test_notebooks_are_all_here() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_with_parameters(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown", "a notebook opens by saying what it teaches"
    assert "parameters" in code[0].metadata.get("tags", []), \
        f"{path.name}: its first code cell must be tagged 'parameters' (papermill)"
    names = {line.split("=")[0].strip() for line in code[0].source.splitlines()
             if "=" in line and not line.startswith("#")}
    assert "out_dir" in names and "seed" in names
    assert f"reports/notebooks/{path.stem}" in code[0].source
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: clear the outputs of code cells {dirty} before committing"
    assert len([c for c in nb.cells if c.cell_type == "markdown"]) >= 5  # a tutorial, not a script


@pytest.fixture
def python_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A 'python3' kernel spec that runs this interpreter, with the checkout importable."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "featx tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return "python3"


def run(name: str, kernel: str, out: Path, **parameters: Any) -> dict[str, Any]:
    """Execute a notebook with CI-sized parameters; return the results.json it wrote."""
    import papermill

    params = {**SMALL[name], **parameters, "out_dir": str(out)}
    papermill.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"),
                               str(out.parent / f"{name}.executed.ipynb"), parameters=params,
                               kernel_name=kernel, cwd=str(out.parent), progress_bar=False,
                               execution_timeout=300)
    executed = nbformat.read(out.parent / f"{name}.executed.ipynb", as_version=4)
    assert any(c.metadata.get("tags") == ["injected-parameters"] for c in executed.cells)
    return json.loads((out / "results.json").read_text())


def check_01(r: dict[str, Any]) -> None:
    assert 20 <= r["n_tiles"] <= 40
    assert r["store_rows_duckdb"] == r["n_tiles"] and r["all_finite"]
    assert r["n_features"] == (2048 if r["extractor"] == "IMGNET-2048" else r["n_features"])
    assert r["stain_status"].get("ok", 0) >= 0.8 * r["n_tiles"]
    assert r["n_clusters"] >= 2 and r["cluster_method"]  # tiles clustered, mapped on the slide


def check_02(r: dict[str, Any], bar: float) -> None:
    for name in (r["a"], r["b"]):
        assert r["accuracy"][name] > r["chance"] + bar, (name, r["accuracy"], r["chance"])
    assert 0 <= r["p_corrected"] <= 1 and 0 <= r["p_wilcoxon"] <= 1
    assert set(r["per_class"][r["a"]]) == set(r["classes"])


def check_03(r: dict[str, Any]) -> None:
    # Stand-in slides are built with tumour area = the patient's purity: a known answer.
    assert r["pearson_r"][r["a"]]["purity_CPE"] > 0.5
    assert all(0 <= v <= 1 for ext in r["roc_auc"].values() for v in ext.values())
    assert r["count_better"]["targets"] == len(r["pearson_r"][r["a"]])
    assert 0 <= r["delong"]["pvalue"] <= 1
    # The report from the notebook's own results: its card counts the verdict column.
    assert Path(r["report"]).is_file()
    answer = next(a for a in r["report_answers"] if a["experiment"] == "Mutation prediction")
    named = {v: n for v, n in r["mutation_verdicts"].items() if v in (r["a"], r["b"])}
    if not named:  # no evidence, or no verdict where both score no better than chance
        assert answer["answer"].startswith(("No evidence of a difference", "No verdict between"))
    elif len(named) == 2 and len(set(named.values())) == 1:
        assert answer["answer"].startswith("Neither is better overall")
    else:
        lead = max(named, key=named.get)
        assert answer["answer"].startswith(f"{lead} is better for {named[lead]} of ")


# -- with the public data: real tiles and tables, ImageNet weights -----------------------------

@pytest.fixture
def with_data(shared_data: Path, python_kernel: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FEATX_DATA_DIR", str(shared_data))
    return python_kernel


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.tensorflow
def test_01_embeds_cmu1_into_the_store(with_data: str, tmp_path: Path) -> None:
    r = run("01_extract_embeddings", with_data, tmp_path / "out")
    assert r["slide_id"] == "CMU-1-Small-Region" and r["extractor"] == "IMGNET-2048"
    assert r["stain_target"] == "tiatoolbox_target_image.png"
    check_01(r)
    assert (tmp_path / "out" / "tiling.png").is_file()


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.tensorflow
def test_02_ftx_against_imgnet_on_lc25000(with_data: str, tmp_path: Path) -> None:
    r = run("02_tissue_classification", with_data, tmp_path / "out")
    assert (r["a"], r["b"]) == ("FTX-2048", "IMGNET-2048")
    assert r["eval_set"].endswith("lc25000_lung_224px") and r["n_tiles"] == 60
    check_02(r, bar=0.15)
    assert [h["step"] for h in r["finetune_history"]] == [1, 2]


@pytest.mark.slow
@pytest.mark.realdata
def test_03_joins_real_tcga_tables(with_data: str, tmp_path: Path) -> None:
    r = run("03_expression_and_mutation", with_data, tmp_path / "out")
    assert r["targets_source"] == "real TCGA-LUAD tables" and r["n_patients"] == 40
    assert r["mode"].startswith("generated stand-in")
    # Real immune-gene expression from the RNA-seq matrix, built by featx.targets.
    assert len(r["expression_genes"]) == 20 and set(r["expression_genes"]) <= set(
        r["pearson_r"][r["a"]])
    check_03(r)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.tensorflow
def test_04_slide_scores_find_the_tumour_slides(with_data: str, tmp_path: Path) -> None:
    r = run("04_slide_scores", with_data, tmp_path / "out")
    assert r["extractor"] == "IMGNET-2048"
    assert r["tile_roc_auc"] > 0.9
    for name, metrics in r["slide_evaluation"].items():
        assert metrics["roc_auc"] >= 0.9, name
    assert r["unet_tile_roc_auc"] is None or 0 <= r["unet_tile_roc_auc"] <= 1
    assert (tmp_path / "out" / "roc.png").is_file()


# -- a fresh, offline machine: no data folder, no weights -> generated data, ColorStats ---------

@pytest.fixture
def without_data(python_kernel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("FEATX_DATA_DIR", str(empty))  # nothing there, not even weights
    return python_kernel


@pytest.mark.slow
def test_01_runs_on_a_generated_slide(without_data: str, tmp_path: Path) -> None:
    r = run("01_extract_embeddings", without_data, tmp_path / "out", data_dir="",
            extractor="colorstats")
    assert r["slide_id"] == "generated" and r["stain_target"] == "generated tissue"
    check_01(r)


@pytest.mark.slow
def test_02_runs_on_generated_tiles(without_data: str, tmp_path: Path) -> None:
    r = run("02_tissue_classification", without_data, tmp_path / "out", data_dir="",
            extractor="colorstats")
    assert r["classes"] == ["normal", "tumour"] and "generated_tiles" in r["eval_set"]
    check_02(r, bar=0.3)  # tumour and normal differ in stain and nuclei: easy


@pytest.mark.slow
def test_03_runs_on_generated_targets(without_data: str, tmp_path: Path) -> None:
    r = run("03_expression_and_mutation", without_data, tmp_path / "out", data_dir="")
    assert r["targets_source"].startswith("generated targets")
    check_03(r)
