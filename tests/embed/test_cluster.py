"""A cohort on a Dask cluster started the way the README says: scheduler and workers as processes.

What a SLURM or Kubernetes deployment runs (``dask scheduler`` on one node, one
``dask worker`` per GPU elsewhere, the store on a shared filesystem), here on
127.0.0.1. One worker is killed midway, like a node lost to the scheduler of the
cluster; the survivors finish, and the store equals a local run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from featx.embed.batch import run_batch
from featx.embed.settings import ClusterSettings, ExtractionSettings
from featx.embed.store import provenance
from tests.embed._batch_helpers import embed, make_spec, write_slide

ROOT = Path(__file__).resolve().parents[2]
NAME = "COLORSTATS"


def _store(root: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(root.rglob("*.parquet")):
        prov = provenance(path)
        prov.get("pipeline", {}).pop("seconds", None)
        prov.pop("work", None)  # who did it, when and how long: not content
        out[path.name] = (pq.read_table(path).replace_schema_metadata(None).to_pylist(), prov)
    return out


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # A session of its own, so killing its group takes the nanny and its worker together.
    return subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=ROOT,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_cluster_of_separate_processes_survives_a_killed_worker(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    folder = tmp_path / "slides"
    folder.mkdir()
    paths = [write_slide(folder / f"TCGA-AA-{2000 + i}-01Z-00-DX1.tiff", seed=i) for i in range(8)]
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"path": [str(p) for p in paths]}).to_csv(manifest, index=False)
    reference = tmp_path / "local"
    settings = ExtractionSettings(NAME, spec=make_spec(), embed=embed)
    run_batch(manifest, reference, settings, cluster=ClusterSettings(workers=0))

    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "FEATX_TEST_SLOW_S": "0.8"}
    sched_file = tmp_path / "scheduler.json"
    procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--no-dashboard", "--scheduler-file", str(sched_file)], env,
                    tmp_path / "scheduler.log")]
    try:
        _wait_for(sched_file.is_file, 60, "the scheduler file")
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(_start(["distributed.cli.dask_worker", address, "--nthreads", "1",
                                 "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard",
                                 "--name", f"gpu{i}"], env, tmp_path / f"worker{i}.log"))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        store = tmp_path / "cluster"
        result: dict[str, pd.DataFrame] = {}
        run = threading.Thread(target=lambda: result.setdefault("status", run_batch(
            manifest, store, replace(settings, lock_wait_s=120),
            cluster=ClusterSettings(scheduler=address))))
        run.start()
        done = store / f"extractor={NAME}"
        _wait_for(lambda: len(list(done.glob("*.parquet"))) >= 2, 120, "two slides done")
        os.killpg(procs[1].pid, signal.SIGKILL)  # worker 0 and its nanny, mid-cohort
        procs[1].wait()
        at_kill = len(list(done.glob("*.parquet")))
        run.join(timeout=300)
        assert not run.is_alive(), "the run did not finish after a worker was killed"
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    status = result["status"]
    assert (status["status"] == "done").all(), status[["slide_id", "status", "error"]].to_string()
    assert at_kill < 8, "the worker should have been killed before the cohort was done"
    assert _store(store) == _store(reference)
    assert not list((done / ".locks").glob("*.lock")), "a lock was left behind"
