"""The calibration benchmark (``benchmarks/bench_calibration.py``) measures the verdict the
reader reads: over ALL targets, through the public API; its CI-sized run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featx.evaluation.verdict_rules import DEFAULT_RULE, RULES

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("bench_calibration",
                                                  BENCHMARKS / "bench_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(bench, shift_of_target: dict[str, float], n_targets: int = 20):
    """A stored expression dataset whose per-fold r differ between A and B only where told."""
    rng = np.random.default_rng(0)
    rows = []
    targets = [f"g{t:02d}" for t in range(n_targets)]
    for target in targets:
        base = 0.4 + rng.normal(0, 0.05, size=50)
        for name in ("A", "B"):
            values = base + rng.normal(0, 0.02, size=50)
            if name == "A":
                values = values + shift_of_target.get(target, 0.0)
            for j, value in enumerate(values):
                rows.append(("expression", name, target, j // 5, j % 5, "pearson_r", value,
                             120, 30, 5))
    scores = pd.DataFrame(rows, columns=["experiment", "extractor", "target", "repetition",
                                         "fold", "metric", "value", "n_train", "n_test",
                                         "n_splits"])
    job = bench.Job("expression-150", "null-signal", 0, 10)
    return {"job": job, "experiment": "expression", "scores": scores, "targets": targets,
            "chance": None, "cpu_s": 0.0}


def test_the_benchmark_reads_the_verdict_over_all_targets_not_one(bench):
    """Only the LAST 5 of 20 targets differ: a benchmark reading the first target (as the old
    one did) would see no verdict. (Five, so that the default rule's gate, the test of the
    mean difference over all targets, rejects too.)"""
    record = _record(bench, {f"g{t}": 0.1 for t in range(15, 20)})
    rules = {"default": RULES[DEFAULT_RULE], "nadeau-bengio": RULES["nadeau-bengio"]}
    rows = {r["rule"]: r for r in bench.outcomes(record, "expression-150x20", rules)
            if r["rule"] != "MOMENTS"}
    for row in rows.values():
        assert row["verdict"] and row["names_a"] and not row["names_b"]
        assert row["targets"] == 20 and row["per target"] == pytest.approx(5 / 20)
    assert bench.public_verdict(record, "expression-150x20", RULES[DEFAULT_RULE])
    quiet = bench.outcomes(_record(bench, {}), "expression-150x20", rules)
    assert not any(r["verdict"] for r in quiet if r["rule"] != "MOMENTS")


def test_the_20_gene_cell_is_the_first_20_genes_of_the_100_gene_fit(bench):
    """SVR fits each gene on its own on the same folds: the 100-gene run's first 20 genes
    score exactly what a 20-gene run scores, so the benchmark reads the 20-gene cells from it."""
    pytest.importorskip("pyarrow")
    from calibration_cohorts import make_cohort

    from featx.evaluation.expression import regress_expression

    try:
        cohort = make_cohort("expression-150", "null-signal", 0)
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    first = list(cohort.targets.columns[:20])
    whole = regress_expression(cohort.features, cohort.targets, transform="none", n_repeats=1)
    part = regress_expression(cohort.features, cohort.targets[first], transform="none",
                              n_repeats=1)
    subset = whole.scores[whole.scores["target"].isin(first)].reset_index(drop=True)
    pd.testing.assert_frame_equal(subset, part.scores)


@pytest.mark.slow
@pytest.mark.realdata
def test_ci_sized_benchmark_runs_every_scenario_through_the_public_api(bench, shared_data,
                                                                       tmp_path):
    """Tissue, expression (20 and 100 genes) and mutation, every scenario, 2 x 5-fold; the
    default rule's verdicts recomputed through compare_extractors agree (else it raises)."""
    rows = bench.small_run(tmp_path)
    table = bench.summarise(rows)
    cells = {"tissue", "expression-150x20", "expression-150x100", "mutation-80"}
    assert set(table["cell"]) == cells
    assert set(table["scenario"]) == {"null-noise", "null-signal", "null-real", "power-small",
                                      "power-large"}
    verdicts = table[table["level"] == "verdict"]
    assert verdicts["rate"].between(0, 1).all() and (verdicts["low"] <= verdicts["rate"]).all()
    summary = bench.rule_summary(table)
    assert set(summary["rule"]) == {"featx default", "nadeau-bengio"}
