"""Null calibration and power of every featx comparison test, through the real code path.

Each simulated dataset is a cohort of patients with a hidden state ``h``; the targets
(expression values, tissue classes, mutations) depend on ``h`` and two extractors
see ``h`` through their own features. The experiment functions
(:func:`featx.evaluation.tissue.classify_tissue`,
:func:`featx.evaluation.expression.regress_expression`,
:func:`featx.evaluation.mutation.predict_mutations`, with their defaults but small
sizes) fit both extractors on identical folds, and the tests of
:mod:`featx.evaluation.comparisons` and :mod:`featx.evaluation.paired_tests` are
run on their score tables. Scenarios:

* ``null-copies``: both extractors are the same projection of ``h`` plus independent
  noise of the same size (equally good by construction);
* ``null-networks``: independent random ReLU networks of ``h`` (equally good in
  distribution, different features);
* ``alternative``: extractor A's noise is smaller (A is better): the power.

For each test the script prints the share of datasets with p < alpha and its Wilson
95% interval. A test used for a verdict must stay at or below 7.5% under both nulls.
Per-target tests are read on the first target only, so datasets are independent.

Run::

    python benchmarks/bench_calibration.py                   # 200 datasets per cell
    python benchmarks/bench_calibration.py --datasets 40 --jobs 2
    python benchmarks/bench_calibration.py --lasso           # + inner-CV vs fixed C AUCs

Last run, 2026-12-02, on the shared 2-core development machine (``--datasets 200
--power-datasets 60 --jobs 2 --mutation-C 0.5``; 10 x 5-fold). Share of datasets with
p < 0.05, worst of the two nulls (200 datasets each) with its Wilson 95% interval, then the
power (60 datasets of the alternative)::

    test                                    tissue                expression            mutation
    corrected t, single folds (verdict)     5.0 [2.7, 9.0] / 28   5.0 [2.7, 9.0] / 30   11.5 [7.8, 16.7] / 17
    over targets: corrected t (verdict)     n/a (one target)      5.5 [3.1, 9.6] / 60   9.0 [5.8, 13.8] / 37
    count: corrected t of wins (verdict)    n/a                   4.0 [2.0, 7.7] / 60   n/a (no p metric)
    REMOVED pooled corrected t, k/(k-1)     9.5                   28.0                  26.0
    LIBERAL paired t over folds             59.5                  64.0                  62.5
    LIBERAL Wilcoxon over folds             59.0                  62.5                  62.5
    LIBERAL Wilcoxon over genes (6 genes)   n/a                   5.5                   n/a
    LIBERAL DeLong, repetition 0            n/a                   n/a                   17.5

The mutation cells at 80 patients (16 per test fold) are NOT within 7.5%: there the per-fold
AUC differences of two equally good LASSO models correlate more than Nadeau and Bengio's
n_test / n_train assumes. At 200 patients (40 per test fold; ``--experiments mutation
--mutation-patients 200 --mutation-C 0.5``, 200 datasets per null) they are: corrected t
6.5% [3.8, 10.8] (noisy copies) and 5.5% [3.1, 9.6] (networks); over targets 5.0% and
4.0%; DeLong on one repetition 10.0% and 13.0%; plain t 59.0% and 63.5%. The same run with the default
inner-CV LASSO, 20 datasets per null only (the path costs 19 fits per fold): corrected t
2 of 20 under each null (10%, interval 2.8-30%), over targets 1 and 0 of 20.
LASSO, inner CV against fixed C = 1 on weak sparse signal (``--lasso 10``; 150 patients,
60 features, 3 true, 30% mutated; 2 x 5-fold): mean out-of-fold AUC 0.681 (lambda.min,
13.4 non-zero), 0.692 (lambda.1se, 6.2 non-zero), 0.664 (fixed C = 1, 43.5 non-zero).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from featx.evaluation.comparisons import (  # noqa: E402
    compare_extractors,
    compare_over_targets,
    count_better,
)
from featx.evaluation.expression import regress_expression  # noqa: E402
from featx.evaluation.mutation import predict_mutations  # noqa: E402
from featx.evaluation.paired_tests import (  # noqa: E402
    corrected_resampled_ttest,
    delong_from_predictions,
)
from featx.evaluation.tissue import classify_tissue  # noqa: E402

SCENARIOS = ("null-copies", "null-networks", "alternative")
EXPERIMENTS = ("tissue", "expression", "mutation")
#: Tests that make verdicts (must hold their level) and the liberal ones shown beside them.
VERDICT_TESTS = ("corrected t, single folds", "over targets: corrected t of mean difference",
                 "count: corrected t of wins")
NETWORK_WIDTH, NETWORK_FEATURES = 400, 60


def _features(h: np.ndarray, scenario: str, rng: np.random.Generator, p: int,
              noise: float) -> dict[str, pd.DataFrame]:
    """Two extractors' features of the hidden state ``h``."""
    n, q = h.shape
    ids = [f"TCGA-SM-{i:04d}" for i in range(n)]
    if scenario == "null-networks":
        # Wide random ReLU layers: two draws differ feature by feature, but what they
        # carry about h (a random-features kernel) is the same up to O(1/sqrt(width)).
        def network() -> np.ndarray:
            hidden = np.maximum(h @ rng.normal(size=(q, NETWORK_WIDTH)), 0)
            out = hidden @ rng.normal(size=(NETWORK_WIDTH, NETWORK_FEATURES))
            out /= out.std(axis=0)
            return out + noise / 2 * rng.normal(size=out.shape)
        a, b = network(), network()
    else:
        mixing = rng.normal(size=(q, p))
        a = h @ mixing + noise * rng.normal(size=(n, p))
        b_noise = noise * (2.0 if scenario == "alternative" else 1.0)
        b = h @ mixing + b_noise * rng.normal(size=(n, p))
    return {"A": pd.DataFrame(a, index=ids), "B": pd.DataFrame(b, index=ids)}


def _cohort(scenario: str, seed: int, n: int, q: int = 3, p: int = 10,
            noise: float = 2.0) -> tuple[np.ndarray, dict[str, pd.DataFrame], list[str]]:
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, q))
    feats = _features(h, scenario, rng, p, noise)
    return h, feats, list(feats["A"].index)


def _rejections(p: dict[str, float], alpha: float) -> dict[str, bool]:
    return {name: bool(np.isfinite(v) and v < alpha) for name, v in p.items()}


def _pooled_corrected(scores: pd.DataFrame, metric: str, target: str) -> float:
    """The removed pooled mode: corrected t on per-repetition scores, factor k / (k - 1)."""
    rows = scores.query("fold == -1 and metric == @metric and target == @target")
    wide = rows.pivot_table(index="repetition", columns="extractor", values="value")
    k = rows["n_splits"].iloc[0]
    return corrected_resampled_ttest(wide["A"].to_numpy(), wide["B"].to_numpy(), n_train=k - 1,
                                     n_test=k).pvalue


def _pair_tests(scores: pd.DataFrame, metric: str) -> dict[str, float]:
    each = compare_extractors(scores, "A", "B", metric=metric).iloc[0]
    return {"corrected t, single folds": each["p_corrected"],
            "REMOVED corrected t, pooled per repetition (k/(k-1))":
                _pooled_corrected(scores, metric, each["target"]),
            "LIBERAL paired t over folds": each["p_ttest_liberal"],
            "LIBERAL Wilcoxon over folds": each["p_wilcoxon_liberal"]}


def run_tissue(scenario: str, seed: int, n_repeats: int) -> dict[str, float]:
    """Three classes from ``h``; accuracy of LinearSVC on tiles (one per patient)."""
    h, feats, ids = _cohort(scenario, seed, n=90)
    rng = np.random.default_rng(seed + 10_000)
    labels = pd.Series(np.array(["ADI", "LYM", "TUM"])[np.argmax(
        h + 0.7 * rng.normal(size=h.shape), axis=1)], index=ids)
    result = classify_tissue(feats, labels, n_splits=5, n_repeats=n_repeats, seed=seed)
    return _pair_tests(result.scores, "accuracy")


def run_expression(scenario: str, seed: int, n_repeats: int) -> dict[str, float]:
    """Six correlated targets, each a mix of ``h`` plus noise; SVR, Pearson r."""
    h, feats, ids = _cohort(scenario, seed, n=60)
    rng = np.random.default_rng(seed + 20_000)
    y = h @ rng.normal(size=(h.shape[1], 6)) + 1.5 * rng.normal(size=(len(ids), 6))
    targets = pd.DataFrame(y, index=ids, columns=[f"g{t}" for t in range(6)])
    scores = regress_expression(feats, targets, transform="none", n_splits=5,
                                n_repeats=n_repeats, seed=seed).scores
    out = _pair_tests(scores, "pearson_r")
    out["over targets: corrected t of mean difference"] = compare_over_targets(
        scores, "A", "B", metric="pearson_r").pvalue
    out["LIBERAL over targets: Wilcoxon over genes"] = compare_over_targets(
        scores, "A", "B", metric="pearson_r", method="wilcoxon_liberal").pvalue
    out["count: corrected t of wins"] = count_better(scores, "A", "B")["pvalue"]
    return out


#: Penalty of the mutation runs: None = inner CV (the default of predict_mutations).
MUTATION_C: list[float | None] = [None]
#: Patients of a mutation cohort (16 per test fold at 80; 40 at 200).
MUTATION_PATIENTS = [80]


def run_mutation(scenario: str, seed: int, n_repeats: int) -> dict[str, float]:
    """Three genes thresholded from ``h`` (35% mutated); LASSO, ROC AUC, MUTATION_PATIENTS."""
    h, feats, ids = _cohort(scenario, seed, n=MUTATION_PATIENTS[0])
    rng = np.random.default_rng(seed + 30_000)
    liability = h @ rng.normal(size=(h.shape[1], 3)) + 1.5 * rng.normal(size=(len(ids), 3))
    genes = pd.DataFrame((liability > np.quantile(liability, 0.65, axis=0)).astype(int),
                         index=ids, columns=["G0", "G1", "G2"])
    result = predict_mutations(feats, genes, n_splits=5, n_repeats=n_repeats, seed=seed,
                               C=MUTATION_C[0], n_Cs=6, inner_splits=3)
    out = _pair_tests(result.scores, "roc_auc")
    out["over targets: corrected t of mean difference"] = compare_over_targets(
        result.scores, "A", "B", metric="roc_auc").pvalue
    out["LIBERAL DeLong, repetition 0 (conditional on the fitted models)"] = (
        delong_from_predictions(result.predictions, "A", "B", target="G0").pvalue)
    return out


RUNNERS: dict[str, Callable[[str, int, int], dict[str, float]]] = {
    "tissue": run_tissue, "expression": run_expression, "mutation": run_mutation}


def _one(job: tuple[str, str, int, int, float | None, int],
         ) -> tuple[str, str, dict[str, float]]:
    experiment, scenario, seed, n_repeats, mutation_c, patients = job
    MUTATION_C[0], MUTATION_PATIENTS[0] = mutation_c, patients  # workers' own globals
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN r of a constant SVR prediction, and the like
        return experiment, scenario, RUNNERS[experiment](scenario, seed, n_repeats)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def simulate(experiments: tuple[str, ...], datasets: int, n_repeats: int, *, alpha: float = 0.05,
             jobs: int = 1, power_datasets: int | None = None,
             scenarios: tuple[str, ...] = SCENARIOS) -> pd.DataFrame:
    """Rejection rates: one row per (experiment, test, scenario) with k, n and the interval."""
    sizes = {s: datasets if s.startswith("null") else (power_datasets or datasets)
             for s in scenarios}
    jobs_list = [(e, s, seed, n_repeats, MUTATION_C[0], MUTATION_PATIENTS[0])
                 for e in experiments for s in scenarios for seed in range(sizes[s])]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_one, jobs_list, chunksize=4))
    else:
        results = [_one(job) for job in jobs_list]
    rows = []
    for experiment, scenario, pvalues in results:
        for test, rejected in _rejections(pvalues, alpha).items():
            rows.append({"experiment": experiment, "scenario": scenario, "test": test,
                         "rejected": rejected})
    table = (pd.DataFrame(rows).groupby(["experiment", "test", "scenario"], sort=False)
             ["rejected"].agg(["sum", "size"]).reset_index())
    table["rate"] = table["sum"] / table["size"]
    table[["low", "high"]] = [wilson(int(k), int(n)) for k, n in zip(table["sum"], table["size"])]
    return table


def lasso_inner_cv_vs_fixed(datasets: int, *, n: int = 150, p: int = 60,
                            n_repeats: int = 2) -> pd.DataFrame:
    """Out-of-fold AUC of the inner-CV penalty against fixed C = 1 on weak sparse signal."""
    rows = []
    for seed in range(datasets):
        rng = np.random.default_rng(seed + 40_000)
        x = rng.normal(size=(n, p))
        liability = x[:, :3] @ np.array([0.5, 0.4, 0.3]) + rng.normal(size=n)
        ids = [f"TCGA-LS-{i:04d}" for i in range(n)]
        genes = pd.DataFrame({"G": (liability > np.quantile(liability, 0.7)).astype(int)},
                             index=ids)
        feats = {"X": pd.DataFrame(x, index=ids)}
        for label, options in (("inner CV (lambda.min)", {}), ("inner CV (lambda.1se)",
                               {"rule": "1se"}), ("fixed C = 1", {"C": 1.0})):
            scores = predict_mutations(feats, genes, n_repeats=n_repeats, seed=seed,
                                       **options).scores
            auc = scores.query("fold == -1 and metric == 'roc_auc'")["value"].mean()
            nonzero = scores.query("metric == 'n_nonzero'")["value"].mean()
            rows.append({"penalty": label, "seed": seed, "auc": auc, "n_nonzero": nonzero})
    return (pd.DataFrame(rows).groupby("penalty", sort=False)
            .agg(mean_auc=("auc", "mean"), sd_auc=("auc", "std"),
                 mean_nonzero=("n_nonzero", "mean"), datasets=("seed", "size")).reset_index())


def _print(table: pd.DataFrame, alpha: float) -> None:
    wide = table.pivot_table(index=["experiment", "test"], columns="scenario",
                             values=["rate", "low", "high", "size"], aggfunc="first",
                             sort=False)
    print(f"\nShare of datasets with p < {alpha} (Wilson 95% interval); n datasets per cell")
    print(f"{'experiment':<11} {'test':<66} " + " ".join(f"{s:>22}" for s in SCENARIOS)
          + "   n   verdict ok")
    for (experiment, test), row in wide.iterrows():
        cells = " ".join(f"{row[('rate', s)]:6.1%} [{row[('low', s)]:5.1%},{row[('high', s)]:5.1%}]"
                         for s in SCENARIOS)
        worst = max(row[("rate", "null-copies")], row[("rate", "null-networks")])
        ok = ("yes" if worst <= 0.075 else "NO") if test in VERDICT_TESTS else "(not used)"
        print(f"{experiment:<11} {test:<66} {cells} {int(row[('size', SCENARIOS[0])]):4d}   {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=200, help="per experiment and scenario")
    parser.add_argument("--repeats", type=int, default=10, help="CV repetitions (5 folds each)")
    parser.add_argument("--experiments", nargs="*", default=list(EXPERIMENTS), choices=EXPERIMENTS)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--power-datasets", type=int, default=None,
                        help="datasets of the alternative (default: --datasets)")
    parser.add_argument("--mutation-C", type=float, default=None,
                        help="fixed LASSO C for the mutation runs (default: inner CV, 19x slower)")
    parser.add_argument("--mutation-patients", type=int, default=80,
                        help="patients per simulated mutation cohort")
    parser.add_argument("--lasso", type=int, default=0, metavar="N",
                        help="also compare inner-CV and fixed-C LASSO on N weak-signal datasets")
    args = parser.parse_args()
    start = time.perf_counter()
    MUTATION_C[0], MUTATION_PATIENTS[0] = args.mutation_C, args.mutation_patients
    penalty = "inner CV" if args.mutation_C is None else f"fixed C = {args.mutation_C:g}"
    print(f"{args.repeats} x 5-fold CV; mutation LASSO penalty: {penalty}, "
          f"{args.mutation_patients} patients", flush=True)
    for experiment in args.experiments:  # one table at a time, printed as soon as it is done
        table = simulate((experiment,), args.datasets, args.repeats, alpha=args.alpha,
                         jobs=args.jobs, power_datasets=args.power_datasets)
        _print(table, args.alpha)
        print(f"({time.perf_counter() - start:.0f} s so far)", flush=True)
    if args.lasso:
        print(f"\nLASSO on weak sparse signal (n=150, p=60, 3 true features, 30% mutated), "
              f"{args.repeats // 5 or 1} x 5-fold:")
        print(lasso_inner_cv_vs_fixed(args.lasso, n_repeats=max(1, args.repeats // 5))
              .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\n{time.perf_counter() - start:.0f} s wall")


if __name__ == "__main__":
    main()
