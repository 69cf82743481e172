"""Calibration of the comparison tests through the real experiments: the CI-sized version of
``benchmarks/bench_calibration.py`` (seeded, so it either always passes or always fails)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_calibration.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_calibration", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_verdict_tests_hold_their_level_and_liberal_ones_do_not(bench):
    """30 null datasets of the expression experiment (10 x 5-fold SVR, 6 correlated genes).

    At a true rate of 5%, 7 or more rejections of 30 happen with probability 0.002; the
    liberal tests (true rate about 60%) reject at least 10 times.
    """
    table = bench.simulate(("expression",), 30, 10, scenarios=("null-copies",))
    k = table.set_index("test")["sum"]
    for test in bench.VERDICT_TESTS:
        assert k[test] <= 6, (test, k[test])
    assert k["LIBERAL paired t over folds"] >= 10
    assert k["LIBERAL Wilcoxon over folds"] >= 10
    assert k["REMOVED corrected t, pooled per repetition (k/(k-1))"] > k[
        "corrected t, single folds"]


@pytest.mark.slow
def test_verdict_tests_have_power(bench):
    """A carries the signal with half B's noise: the over-targets test finds it."""
    table = bench.simulate(("expression",), 10, 10, scenarios=("alternative",))
    k = table.set_index("test")["sum"]
    assert k["over targets: corrected t of mean difference"] >= 7
