"""featx models against the naive way, on identical folds, with identical results.

Naive = what one writes with scikit-learn alone: ``make_pipeline(StandardScaler(),
SVR())`` fitted once per target, fold, repetition and extractor (and the same with
LinearSVC for tissue). featx = :func:`featx.evaluation.experiments.regress_expression` /
:func:`featx.evaluation.experiments.classify_tissue`.

Run::

    python benchmarks/bench_models.py            # a few minutes on 2 cores
    python benchmarks/bench_models.py --jobs 2   # featx worker processes (n_jobs)
    python benchmarks/bench_models.py --full-linearsvc-fit   # + one paper-size LinearSVC fit

Every number printed is labelled MEASURED (timed in this run) or PROJECTED
(a measured per-unit time multiplied out to the paper's protocol: SVR 907 targets x
344 patients x 2,048 features x 5 folds x 50 repetitions x 2 extractors; LinearSVC
7,180 tiles x 2,048 features x 9 classes x 5 folds x 50 repetitions x 2 extractors).

The data are synthetic stand-ins shaped like patient-mean Xception embeddings
(ReLU of a 40-factor low-rank signal plus noise, 2,048 features) and
log-normal expression driven by the same factors; solver times depend on the data,
so real embeddings will give somewhat different times.

Last run on the 2-core development machine (shared with other jobs; ``--jobs 2
--full-linearsvc-fit``), 2026-11-23:

* SVR, MEASURED: naive 69 ms CPU per fit; featx 13.1 s CPU / 9.5 s wall for one
  repetition of all 907 targets x 2 extractors; predictions equal to 1e-14.
  PROJECTED paper protocol: featx 11.0 CPU-min (7.9 min wall with 2 threads),
  naive 8.7 CPU-hours (~48x).
* LinearSVC (naive liblinear; run before featx had its own solver): 1,436 tiles
  3.7 s CPU per fit; one paper-size fit (5,744 x 2,048, 9 classes) 395 s CPU
  (liblinear's primal solver stops at max_iter=1000 without converging),
  ~55 CPU-hours PROJECTED for the paper protocol. featx now solves the same problem
  by exact Newton (featx.evaluation.linear_svm): see benchmarks/bench_linear_svm.py.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR, LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from featx.evaluation.expression import pearson_columns, regress_expression  # noqa: E402
from featx.evaluation.svr import fold_kernels, svr_predict_all  # noqa: E402
from featx.evaluation.tissue import classify_tissue  # noqa: E402


class Clock:
    """Wall and CPU seconds of a block (CPU time stays meaningful on a busy shared machine)."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0

    def __str__(self) -> str:
        return f"{self.wall:8.2f} s wall, {self.cpu:8.2f} s CPU"


PAPER_SVR = {"targets": 907, "patients": 344, "features": 2048, "folds": 5, "repeats": 50,
             "extractors": 2}
PAPER_SVC = {"tiles": 7180, "features": 2048, "classes": 9, "folds": 5, "repeats": 50,
             "extractors": 2}


def embeddings(n: int, p: int, seed: int, *, factors: np.ndarray) -> np.ndarray:
    """ReLU(low-rank signal + noise): correlated, non-negative, like pooled CNN features."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(factors.shape[1], p)) / np.sqrt(factors.shape[1])
    return np.maximum(factors @ mix + 0.5 * rng.normal(size=(n, p)), 0.0)


def expression_data(n_targets: int, seed: int = 0):
    n, p = PAPER_SVR["patients"], PAPER_SVR["features"]
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 40))
    ids = [f"TCGA-XX-{i:04d}" for i in range(n)]
    feats = {name: pd.DataFrame(embeddings(n, p, seed + 1 + k, factors=factors), index=ids)
             for k, name in enumerate(("FTX", "IMGNET"))}
    load = rng.normal(size=(40, n_targets)) * rng.uniform(0, 0.3, n_targets)
    counts = np.exp(3 + factors @ load + rng.normal(size=(n, n_targets)))
    targets = pd.DataFrame(counts, index=ids, columns=[f"gene{t:03d}" for t in range(n_targets)])
    return feats, targets


def bench_svr(args) -> None:
    print("== SVR expression regression (StandardScaler + SVR(rbf), per target) ==")
    n_sub = args.naive_targets
    feats, targets = expression_data(PAPER_SVR["targets"])
    sub = targets.iloc[:, :n_sub]
    y_sub = np.log2(sub.to_numpy() + 1)

    # featx on the subset, 1 repetition: gives the folds the naive loop reuses
    with Clock() as featx_sub:
        res = regress_expression(feats, sub, n_splits=5, n_repeats=1, seed=0, n_jobs=args.jobs)
    folds = res.folds["all"]
    # naive: one scikit-learn fit per target, fold and extractor, on the same folds
    naive_pred = {}
    with Clock() as naive_sub:
        for name, frame in feats.items():
            x = frame.to_numpy()
            naive = np.empty_like(y_sub)
            for train, test in folds.split(0):
                for t in range(n_sub):
                    model = make_pipeline(StandardScaler(), SVR()).fit(x[train], y_sub[train, t])
                    naive[test, t] = model.predict(x[test])
            naive_pred[name] = naive
    max_pred, max_r = 0.0, 0.0
    for name, frame in feats.items():  # featx's kernel path, for a prediction-level check
        x, fast = frame.to_numpy(), np.empty_like(y_sub)
        for train, test in folds.split(0):
            k_train, k_test = fold_kernels(x, train, test)
            fast[test] = svr_predict_all(k_train, k_test, y_sub[train])
        max_pred = max(max_pred, float(np.abs(naive_pred[name] - fast).max()))
        r_naive, _ = pearson_columns(y_sub, naive_pred[name])
        r_featx = res.scores.query(
            "extractor == @name and fold == -1 and metric == 'pearson_r'")["value"].to_numpy()
        max_r = max(max_r, float(np.abs(r_naive - r_featx).max()))
    fits_sub = n_sub * 5 * 2
    per_fit = {"wall": naive_sub.wall / fits_sub, "cpu": naive_sub.cpu / fits_sub}
    print(f"MEASURED  reduced scale: {n_sub} targets x 344 x 2048 x 5 folds x 1 rep x 2 "
          f"extractors ({fits_sub} fits), identical folds")
    print(f"MEASURED    naive  {naive_sub}  ({per_fit['cpu'] * 1e3:.1f} ms CPU per fit)")
    print(f"MEASURED    featx  {featx_sub}  -> {naive_sub.wall / featx_sub.wall:.1f}x faster "
          f"(wall), {naive_sub.cpu / featx_sub.cpu:.1f}x (CPU)")
    print(f"MEASURED    identical results: max |prediction difference| = {max_pred:.1e}, "
          f"max |Pearson r difference| = {max_r:.1e}")

    with Clock() as rep:
        full = regress_expression(feats, targets, n_splits=5, n_repeats=1, seed=0,
                                  n_jobs=args.jobs)
    if full.scores.empty:
        raise RuntimeError("no scores")
    print(f"MEASURED  featx, all 907 targets x 344 x 2048 x 5 folds x 1 rep x 2 extractors: "
          f"{rep} ({rep.wall / 2:.1f} s wall per 5-fold pass over 907 targets)")
    reps = PAPER_SVR["repeats"]
    fits_paper = 907 * 5 * reps * 2
    print(f"PROJECTED featx, paper protocol (x{reps} repetitions): {rep.wall * reps / 60:.1f} min "
          f"at this run's wall speed; {rep.cpu * reps / 60:.1f} CPU-min, i.e. "
          f"{rep.cpu * reps / 60:.1f} min on one free core, about {rep.cpu * reps / 120:.1f} min "
          f"on 2 free cores with --jobs 2 if threads scale (target < 10 min)")
    print(f"PROJECTED naive, paper protocol ({fits_paper:,} fits x {per_fit['cpu'] * 1e3:.1f} ms "
          f"CPU): {fits_paper * per_fit['cpu'] / 3600:.1f} CPU-hours "
          f"({fits_paper * per_fit['wall'] / 3600:.1f} h at this run's wall speed)")


def quick(n_targets: int = 40, n_patients: int = 150, n_features: int = 512,
          repeats: int = 3) -> dict[str, float]:
    """The SVR protocol against the naive loop, CPU time on one thread, for ``benchmarks/check``.

    ``n_targets`` genes x ``n_patients`` x ``n_features``, 5 folds, 1 repetition, one
    extractor; featx and the naive scikit-learn loop take turns on the same folds
    ``repeats`` times; the ratio is of the medians.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    factors = rng.normal(size=(n_patients, 40))
    ids = [f"TCGA-XX-{i:04d}" for i in range(n_patients)]
    feats = {"IMGNET": pd.DataFrame(embeddings(n_patients, n_features, 1, factors=factors),
                                    index=ids)}
    load = rng.normal(size=(40, n_targets)) * rng.uniform(0, 0.3, n_targets)
    counts = np.exp(3 + factors @ load + rng.normal(size=(n_patients, n_targets)))
    targets = pd.DataFrame(counts, index=ids, columns=[f"gene{t:03d}" for t in range(n_targets)])
    y = np.log2(counts + 1)
    x = feats["IMGNET"].to_numpy()
    folds = regress_expression(feats, targets.iloc[:, :1], n_splits=5, n_repeats=1,
                               seed=0).folds["all"]

    def naive() -> None:
        for train, test in folds.split(0):
            for t in range(n_targets):
                make_pipeline(StandardScaler(), SVR()).fit(x[train], y[train, t]).predict(x[test])

    def featx() -> None:
        regress_expression(feats, targets, n_splits=5, n_repeats=1, seed=0)

    times: dict[str, list[float]] = {"naive": [], "featx": []}
    with threadpool_limits(1):
        for _ in range(repeats):
            for name, fn in (("naive", naive), ("featx", featx)):
                start = time.process_time()
                fn()
                times[name].append(time.process_time() - start)
    return {"SVR protocol / naive loop": float(np.median(times["naive"])
                                               / np.median(times["featx"]))}


def tissue_data(n: int, seed: int = 0):
    p, k = PAPER_SVC["features"], PAPER_SVC["classes"]
    rng = np.random.default_rng(seed)
    labels = np.array([f"class{c}" for c in np.arange(n) % k])
    centres = rng.normal(size=(k, 40)) * 0.7
    factors = rng.normal(size=(n, 40)) + centres[np.arange(n) % k]
    ids = [f"tile{i:05d}" for i in range(n)]
    feats = {name: pd.DataFrame(embeddings(n, p, seed + 1 + j, factors=factors), index=ids)
             for j, name in enumerate(("FTX", "IMGNET"))}
    return feats, pd.Series(labels, index=ids)


def bench_linear_svc(args) -> None:
    print("\n== LinearSVC tissue classification (StandardScaler + LinearSVC, 9 classes) ==")
    n = args.tiles
    feats, labels = tissue_data(n)
    feats = {"FTX": feats["FTX"]}
    with Clock() as featx:
        res = classify_tissue(feats, labels, n_splits=5, n_repeats=1, seed=0, n_jobs=args.jobs)
    x, y = feats["FTX"].to_numpy(), labels.to_numpy()
    pred = np.empty(n, dtype=y.dtype)
    with Clock() as naive:
        for train, test in res.folds["all"].split(0):
            pred[test] = make_pipeline(StandardScaler(), LinearSVC(random_state=0)).fit(
                x[train], y[train]).predict(x[test])
    acc_naive = float(np.mean(pred == y))
    acc_featx = res.scores.query("fold == -1 and metric == 'accuracy'")["value"].item()
    per_fit = naive.cpu / 5
    print(f"MEASURED  reduced scale: {n} tiles x 2048 x 9 classes x 5 folds x 1 rep x 1 extractor")
    print(f"MEASURED    naive  {naive}  ({per_fit:.2f} s CPU per fit)")
    # with n_jobs > 1 the fits run in worker processes, whose CPU time is not ours
    cpu = f", {naive.cpu / featx.cpu:.2f}x CPU" if args.jobs == 1 else ""
    print(f"MEASURED    featx  {featx}  (n_jobs={args.jobs}; exact Newton, "
          f"featx.evaluation.linear_svm) -> {naive.wall / featx.wall:.2f}x wall{cpu}")
    print(f"MEASURED    same problem, both solved to liblinear's tolerance: accuracy naive "
          f"{acc_naive:.4f}, featx {acc_featx:.4f}")
    fits = 5 * PAPER_SVC["repeats"] * PAPER_SVC["extractors"]
    scale = PAPER_SVC["tiles"] / n
    print(f"PROJECTED naive paper protocol ({fits} fits; per-fit time x {scale:.1f} for the tile "
          f"count, a LOWER bound: at 7,180 tiles n_train > n_features and liblinear switches to "
          f"the primal solver): {fits * per_fit * scale / 3600:.1f} CPU-hours. Paper-size "
          f"featx timings: benchmarks/bench_linear_svm.py")
    if args.full_linearsvc_fit:
        big, big_labels = tissue_data(PAPER_SVC["tiles"])
        xb, yb = big["FTX"].to_numpy(), big_labels.to_numpy()
        train = np.arange(PAPER_SVC["tiles"]) % 5 != 0
        with Clock() as big_fit:
            make_pipeline(StandardScaler(), LinearSVC(random_state=0)).fit(xb[train], yb[train])
        print(f"MEASURED  one paper-size fit (5,744 x 2,048, 9 classes): {big_fit}")
        print(f"PROJECTED paper protocol: {fits * big_fit.cpu / 3600:.1f} CPU-hours")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="featx workers (n_jobs)")
    parser.add_argument("--naive-targets", type=int, default=20,
                        help="targets fitted the naive way (reduced scale)")
    parser.add_argument("--tiles", type=int, default=1436,
                        help="tiles at reduced scale for LinearSVC (paper: 7,180)")
    parser.add_argument("--full-linearsvc-fit", action="store_true",
                        help="also time one paper-size LinearSVC fit (minutes)")
    parser.add_argument("--skip-svc", action="store_true", help="SVR only")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)  # the naive way warns the same
    print(f"featx benchmark: models (CPU; n_jobs={args.jobs})\n")
    bench_svr(args)
    if not args.skip_svc:
        bench_linear_svc(args)


if __name__ == "__main__":
    main()
