"""Fit the simulated cohorts of ``bench_calibration.py`` once, keep their score tables on disk.

Each job is one dataset (cell, scenario, seed) run through the experiment function a user
calls (:func:`featx.evaluation.experiments.evaluate`: ``regress_expression`` SVR,
``predict_mutations`` with its default inner-CV LASSO, ``classify_tissue`` with
``groups``), with the default 5 folds. Its score table (the compared metric per fold and
per repetition, and ``pearson_p``) is written to ``<root>/<repeats>/<cell>/<scenario>/<seed>.pkl``
atomically, so an interrupted run resumes where it stopped, and every verdict rule is
then computed from the same stored tables without refitting.
"""

from __future__ import annotations

import os
import pickle
import time
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from calibration_cohorts import FITTED_CELLS, NULLS, POWERS, SCENARIOS, make_cohort

from featx._io import atomic_path
from featx.evaluation.experiments import evaluate
from featx.evaluation.results import EXPERIMENT_METRICS

KEPT_METRICS = (*EXPERIMENT_METRICS.values(), "pearson_p")
#: Repetitions per cell where not the run's default: 500 patients x 100 genes costs 14 s of
#: CPU per repetition of both extractors (SVR, 400 training rows, 100 targets x 5 folds).
REPEATS = {"expression-500": 5}
#: Cells that get a new dataset every k rounds (the costliest; the others finish first).
PACE = {"expression-500": 2}


@dataclass(frozen=True)
class Job:
    """One dataset to fit."""

    cell: str
    scenario: str
    seed: int
    repeats: int

    def path(self, root: Path) -> Path:
        return root / f"reps{self.repeats}" / self.cell / self.scenario / f"{self.seed:04d}.pkl"


def plan(*, cells: Iterable[str] = FITTED_CELLS, datasets: int = 200, power_datasets: int = 50,
         repeats: int = 10, repeats_of: dict[str, int] | None = None,
         pace: dict[str, int] | None = None) -> list[Job]:
    """Every job, ordered so that a partial run covers every cell and scenario.

    Round-robin over cells and seeds; the power datasets are spread evenly among the nulls;
    a cell with ``pace`` k (default :data:`PACE`) gets a new seed every k rounds until the
    others are done. ``repeats_of`` overrides ``repeats`` per cell (default :data:`REPEATS`).
    """
    cells = list(cells)
    special = REPEATS if repeats_of is None else repeats_of
    pace = PACE if pace is None else pace
    every = max(1, datasets // power_datasets) if power_datasets else 1
    jobs = []
    for c in cells:
        for s in NULLS + POWERS:
            count, stride = (datasets, 1) if s in NULLS else (power_datasets, every)
            for seed in range(count):
                # the round in which this job comes: power seeds spread over the null rounds
                position = (seed * stride + stride - 1) * pace.get(c, 1)
                jobs.append((position, SCENARIOS.index(s), cells.index(c),
                             Job(c, s, seed, special.get(c, repeats))))
    return [job for *_, job in sorted(jobs, key=lambda item: item[:3])]


def fit(job: Job) -> dict[str, object]:
    """Run the job's experiment; return its compact score table and what the rules need."""
    cohort = make_cohort(job.cell, job.scenario, job.seed)
    options: dict[str, object] = {"n_repeats": job.repeats, "seed": job.seed}
    if cohort.experiment == "tissue":
        options["groups"] = cohort.groups
    if cohort.experiment == "expression":
        options["transform"] = "none"  # the targets are log2(RSEM + 1) already
    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN r of a constant SVR prediction, and the like
        result = evaluate(cohort.experiment, cohort.features, cohort.targets, **options)
    scores = result.scores[result.scores["metric"].isin(KEPT_METRICS)].reset_index(drop=True)
    for column in ("experiment", "extractor", "target", "metric"):
        scores[column] = scores[column].astype("category")
    return {"job": asdict(job), "experiment": cohort.experiment, "scores": scores,
            "targets": [str(t) for t in cohort.targets.columns], "chance": cohort.chance,
            "cpu_s": time.process_time() - start}


def _fit_and_save(job: Job, root: Path) -> tuple[Job, float]:
    record = fit(job)
    with atomic_path(job.path(root)) as tmp:
        tmp.write_bytes(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
    return job, float(record["cpu_s"])


def _one_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one BLAS thread per worker process


def run(jobs: list[Job], root: Path, *, processes: int = 2, log: bool = True) -> int:
    """Fit every job not yet on disk; return how many were fitted."""
    todo = [job for job in jobs if not job.path(root).is_file()]
    if log:
        print(f"{len(jobs) - len(todo)} of {len(jobs)} datasets already on disk; fitting "
              f"{len(todo)} with {processes} processes", flush=True)
    start, done = time.perf_counter(), 0
    if processes == 1:
        results: Iterator = (_fit_and_save(job, root) for job in todo)
    else:
        pool = ProcessPoolExecutor(processes, initializer=_one_thread)
        futures = [pool.submit(_fit_and_save, job, root) for job in todo]
        results = (f.result() for f in as_completed(futures))
    for job, cpu in results:
        done += 1
        if log:
            print(f"[{time.perf_counter() - start:7.0f} s] {done}/{len(todo)} {job.cell} "
                  f"{job.scenario} seed {job.seed}: {cpu:.1f} s CPU", flush=True)
    if processes != 1:
        pool.shutdown()
    return done


def load(root: Path, repeats: int) -> Iterator[dict[str, object]]:
    """Every stored dataset of one repetition count."""
    for path in sorted((root / f"reps{repeats}").glob("*/*/*.pkl")):
        record = pickle.loads(path.read_bytes())
        record["job"] = Job(**record["job"])
        yield record


def cpu_seconds(root: Path) -> pd.DataFrame:
    """CPU seconds per dataset, by repetitions and cell (for the docstring's cost line)."""
    rows = [{"repeats": r["job"].repeats, "cell": r["job"].cell, "cpu_s": r["cpu_s"]}
            for reps in sorted(int(p.name[4:]) for p in root.glob("reps*"))
            for r in load(root, reps)]
    return pd.DataFrame(rows).groupby(["repeats", "cell"])["cpu_s"].agg(["size", "mean", "sum"])


if __name__ == "__main__":  # pragma: no cover - the long run; bench_calibration.py calls run()
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--power-datasets", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--cells", nargs="*", default=list(FITTED_CELLS), choices=FITTED_CELLS)
    parser.add_argument("--scenarios", nargs="*", default=None)
    parser.add_argument("--processes", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    args = parser.parse_args()
    jobs = plan(cells=args.cells, datasets=args.datasets, power_datasets=args.power_datasets,
                repeats=args.repeats)
    if args.scenarios:
        jobs = [j for j in jobs if j.scenario in args.scenarios]
    run(jobs, args.root, processes=args.processes)
