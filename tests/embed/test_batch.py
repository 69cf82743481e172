"""Resumable batch extraction: skip-if-done by provenance, crash safety, failures, Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from featx._io import file_fingerprint
from featx.embed.batch import read_status, run_batch, status_path
from featx.embed.locks import SlideLock
from featx.embed.settings import ClusterSettings, ExtractionSettings
from featx.embed.store import provenance, read_slide, read_store, slide_path
from featx.errors import LockTimeoutError
from featx.extractors import ColorStatsExtractor
from featx.extractors.registry import ExtractorFactory, extractor_builds, get_extractor
from tests.embed._batch_helpers import embed, make_spec, write_slide

ROOT = Path(__file__).resolve().parents[2]
NAME = "COLORSTATS"


def _cohort(folder: Path, n: int = 4, *, blank: bool = False, corrupt: bool = False,
            missing: bool = False) -> Path:
    """Write n tissue slides (plus optional special ones); return a path manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_slide(folder / f"TCGA-AA-{1000 + i}-01Z-00-DX1.tiff", seed=i)
             for i in range(n)]
    if blank:
        paths.append(write_slide(folder / "blank_glass.tiff", tissue=False))
    if corrupt:
        bad = write_slide(folder / "truncated.tiff", seed=9)
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 3])
        paths.append(bad)
    if missing:
        paths.append(folder / "never_scanned.tiff")
    manifest = folder / "manifest.csv"
    pd.DataFrame({"path": [p.name for p in paths]}).to_csv(manifest, index=False)
    return manifest


def _settings(**kw) -> ExtractionSettings:
    return ExtractionSettings(NAME, spec=make_spec(), embed=embed, **kw)


def _run(manifest: Path, root: Path, *, workers: int = 0, **settings) -> pd.DataFrame:
    return run_batch(manifest, root, _settings(**settings), slide_dir=manifest.parent,
                     cluster=ClusterSettings(workers=workers))


def test_fingerprint_changes_with_content(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(3 << 20))
    first = file_fingerprint(path)
    assert set(first) == {"size", "partial_sha256"}
    data = bytearray(path.read_bytes())
    data[(3 << 20) // 2] ^= 1  # one bit in the middle MiB
    path.write_bytes(bytes(data))
    assert file_fingerprint(path) != first
    full = file_fingerprint(path, full=True)
    import hashlib

    assert full["sha256"] == hashlib.sha256(bytes(data)).hexdigest()


def test_extractor_is_built_once_per_process():
    factory = ExtractorFactory.of("COLORSTATS", bins=5)
    first = get_extractor(factory)
    assert get_extractor(ExtractorFactory.of("COLORSTATS", bins=5)) is first
    assert isinstance(first, ColorStatsExtractor) and first.bins == 5
    assert extractor_builds().count(factory.key) == 1


def test_run_writes_store_and_status_and_skips_done(tmp_path):
    manifest = _cohort(tmp_path / "slides", 3, blank=True, corrupt=True, missing=True)
    root = tmp_path / "store"
    status = _run(manifest, root).set_index("slide_id")
    assert status.loc["TCGA-AA-1000-01Z-00-DX1", "status"] == "done"
    assert status.loc["blank_glass", "status"] == "no_tissue"
    assert status.loc["blank_glass", "n_tiles"] == 0
    assert status.loc["truncated", "status"] == "failed"
    assert status.loc["truncated", "error"]  # the reader's error message is kept
    assert status.loc["never_scanned", "status"] == "missing"
    assert list(status.index) == pd.read_csv(manifest)["path"].str.replace(".tiff", "").tolist()
    assert status_path(root, extractor=NAME).is_file()

    df = read_slide(root, "TCGA-AA-1000-01Z-00-DX1", extractor=NAME)
    assert len(df) == status.loc["TCGA-AA-1000-01Z-00-DX1", "n_tiles"] > 5
    assert (df["patient_id"] == "TCGA-AA-1000").all()
    prov = provenance(slide_path(root, extractor=NAME, slide_id="TCGA-AA-1000-01Z-00-DX1"))
    assert prov["extractor"]["name"] == NAME and prov["tile_spec"]["tile_px"] == 64
    assert prov["slide"]["size"] == (tmp_path / "slides" / "TCGA-AA-1000-01Z-00-DX1.tiff"
                                     ).stat().st_size
    # Each tile's features are the extractor's output on that tile.
    assert np.isfinite(np.stack(df["embedding"])).all()

    # Rerun: nothing is recomputed (files untouched), failed stays failed.
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*.parquet")}
    again = _run(manifest, root).set_index("slide_id")
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.parquet")} == mtimes
    assert again.loc["truncated", "status"] == "failed"
    pd.testing.assert_frame_equal(again[["status", "n_tiles"]], status[["status", "n_tiles"]])

    # Fix the slide: only --retry-failed processes it again.
    write_slide(tmp_path / "slides" / "truncated.tiff", seed=9)
    assert _run(manifest, root).set_index("slide_id").loc["truncated", "status"] == "failed"
    fixed = _run(manifest, root, retry_failed=True).set_index("slide_id")
    assert fixed.loc["truncated", "status"] == "done"


def test_changed_slide_or_config_is_redone(tmp_path):
    manifest = _cohort(tmp_path / "slides", 2)
    root = tmp_path / "store"
    _run(manifest, root)
    target = slide_path(root, extractor=NAME, slide_id="TCGA-AA-1001-01Z-00-DX1")
    other = slide_path(root, extractor=NAME, slide_id="TCGA-AA-1000-01Z-00-DX1")
    before = target.stat().st_mtime_ns, other.stat().st_mtime_ns
    # Same file name, different scan: its fingerprint no longer matches.
    write_slide(tmp_path / "slides" / "TCGA-AA-1001-01Z-00-DX1.tiff", seed=7)
    time.sleep(0.01)
    _run(manifest, root)
    assert target.stat().st_mtime_ns != before[0] and other.stat().st_mtime_ns == before[1]
    # float16 storage is another configuration: everything is redone.
    _run(manifest, root, dtype="float16")
    assert provenance(other)["embedding_dtype"] == "float16"


def test_gdc_manifest_with_gdc_client_layout(tmp_path):
    folder = tmp_path / "gdc"
    rows = []
    for i, uid in enumerate(["0000b231-7c05-4e2e-8c9e-6d0675bfbb34",
                             "00418e43-0d38-4877-b800-561a894e8cc8"]):
        name = f"TCGA-55-85{i}4-01A-01-TS1.{uid[:8]}.tiff"
        (folder / uid).mkdir(parents=True)
        path = write_slide(folder / uid / name, seed=i)
        import hashlib

        rows.append({"id": uid, "filename": name,
                     "md5": hashlib.md5(path.read_bytes()).hexdigest(),
                     "size": path.stat().st_size, "state": "live"})
    manifest = tmp_path / "gdc_manifest.txt"
    pd.DataFrame(rows).to_csv(manifest, sep="\t", index=False)
    status = run_batch(manifest, tmp_path / "store", _settings(), slide_dir=folder,
                       cluster=ClusterSettings(workers=0))
    assert status["status"].tolist() == ["done", "done"]
    assert status["patient_id"].tolist() == ["TCGA-55-8504", "TCGA-55-8514"]
    prov = provenance(slide_path(tmp_path / "store", extractor=NAME,
                                 slide_id=Path(rows[0]["filename"]).stem))
    assert prov["slide_md5_manifest"] == rows[0]["md5"]


def test_no_tissue_slide_is_fast(tmp_path):
    manifest = _cohort(tmp_path / "slides", 0, blank=True)
    t0 = time.perf_counter()
    status = _run(manifest, tmp_path / "store")
    assert status["status"].tolist() == ["no_tissue"]
    assert time.perf_counter() - t0 < 20
    # Recorded in the store too, as an empty file with provenance: a rerun skips it.
    assert provenance(slide_path(tmp_path / "store", extractor=NAME,
                                 slide_id="blank_glass"))["n_tiles"] == 0


# --------------------------------------------------------------------------- locks

def test_lock_is_exclusive_between_threads(tmp_path):
    path = tmp_path / "s.lock"
    inside, overlaps = [], []

    def work():
        with SlideLock(path, stale_after_s=60, wait_s=30):
            inside.append(1)
            if len(inside) > 1:
                overlaps.append(1)
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlaps and not path.exists()


def test_stale_lock_of_dead_process_is_broken(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    path = tmp_path / "s.lock"
    import socket

    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout),
                                "token": "x", "since": "then"}))
    with SlideLock(path, stale_after_s=3600, wait_s=1) as lock:
        assert json.loads(path.read_text())["token"] == lock.token


def test_live_lock_blocks_until_timeout(tmp_path):
    path = tmp_path / "s.lock"
    with SlideLock(path, stale_after_s=60, wait_s=5):
        with pytest.raises(LockTimeoutError, match="held by a live worker"):
            SlideLock(path, stale_after_s=60, wait_s=0.5).acquire()


def test_old_unrefreshed_lock_from_other_host_is_broken(tmp_path):
    path = tmp_path / "s.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "x", "since": "then"}))
    old = time.time() - 120
    os.utime(path, (old, old))
    with SlideLock(path, stale_after_s=60, wait_s=1) as lock:
        assert json.loads(path.read_text())["token"] == lock.token


# --------------------------------------------------------------------------- crash safety

_SCRIPT = """
import sys
sys.path[:0] = [{root!r}]
from tests.embed._batch_helpers import embed, make_spec
from featx.embed.batch import run_batch
from featx.embed.settings import ClusterSettings, ExtractionSettings
run_batch({manifest!r}, {store!r}, ExtractionSettings("COLORSTATS", spec=make_spec(), embed=embed),
          slide_dir={slides!r}, cluster=ClusterSettings(workers=0))
"""


def _store_content(root: Path) -> dict[str, tuple]:
    """Each store file's rows and provenance, less the pipeline's timings."""
    out = {}
    for path in sorted(root.rglob("*.parquet")):
        prov = provenance(path)
        prov.get("pipeline", {}).pop("seconds", None)
        prov.pop("work", None)  # who did it, when and how long: not content
        table = pq.read_table(path).replace_schema_metadata(None)
        out[path.relative_to(root).as_posix()] = (table.to_pylist(), prov)
    return out


def test_sigkill_then_rerun_equals_uninterrupted_run(tmp_path):
    manifest = _cohort(tmp_path / "slides", 6, blank=True)
    reference = tmp_path / "reference"
    _run(manifest, reference)

    store = tmp_path / "killed"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(
        root=str(ROOT), manifest=str(manifest), store=str(store),
        slides=str(manifest.parent))))
    env = {**os.environ, "FEATX_TEST_SLOW_S": "0.4"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    folder = store / f"extractor={NAME}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(folder.glob("*.parquet"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = list(folder.glob("*.parquet"))
    assert 2 <= len(partial) < 7, "the run should have been killed partway"
    # Every file that exists is complete and readable.
    for path in partial:
        provenance(path)

    _run(manifest, store)
    assert not list(folder.glob(".*.tmp")), "leftover temporary files"
    assert not list((folder / ".locks").glob("*.lock"))
    assert _store_content(store) == _store_content(reference)
    ours, theirs = read_status(store, extractor=NAME), read_status(reference, extractor=NAME)
    pd.testing.assert_frame_equal(ours[["slide_id", "status", "n_tiles"]],
                                  theirs[["slide_id", "status", "n_tiles"]])


_CONCURRENT = """
import json, sys, time
sys.path[:0] = [{root!r}]
from tests.embed._batch_helpers import embed, make_spec
from featx.embed.batch import run_batch
from featx.embed.settings import ClusterSettings, ExtractionSettings
start = time.time()
status = run_batch({manifest!r}, {store!r},
                   ExtractionSettings("COLORSTATS", spec=make_spec(), embed=embed),
                   slide_dir={slides!r}, cluster=ClusterSettings(workers=0))
status.assign(t0=start, t1=time.time()).to_json({out!r}, orient="records")
"""


def _concurrent_runs(tmp_path: Path, manifest: Path, store: Path, n: int,
                     tag: str) -> tuple[list[pd.DataFrame], float]:
    """Run n processes on one store at once; their status tables and the wall time."""
    procs, outs = [], []
    env = {**os.environ, "FEATX_TEST_SLOW_S": "0.5"}
    for i in range(n):
        outs.append(tmp_path / f"status-{tag}{i}.json")
        script = tmp_path / f"run-{tag}{i}.py"
        script.write_text(textwrap.dedent(_CONCURRENT.format(
            root=str(ROOT), manifest=str(manifest), store=str(store),
            slides=str(manifest.parent), out=str(outs[-1]))))
        procs.append(subprocess.Popen([sys.executable, str(script)], env=env))
    for proc in procs:
        assert proc.wait(timeout=180) == 0
    runs = [pd.read_json(out, orient="records") for out in outs]
    wall = max(r["t1"].iloc[0] for r in runs) - min(r["t0"].iloc[0] for r in runs)
    return runs, wall


def test_a_run_returns_its_own_records_when_another_run_rewrites_the_table(tmp_path,
                                                                          monkeypatch):
    """Another run on the store may rewrite _status.csv with its partial table at any time,
    also between this run's last write and its return (found by CI's floors run: the table
    returned lacked 3 of 8 slides). Here the other run rewrites it at every read."""
    import featx.embed.batch as batch

    manifest = _cohort(tmp_path / "slides", 3)
    store = tmp_path / "store"

    def read_beside_another_run(root, *, extractor):
        path = status_path(root, extractor=extractor)
        if path.parent.is_dir():
            path.write_text(",".join(batch.STATUS_COLUMNS) + "\n")
        return read_status(root, extractor=extractor)

    monkeypatch.setattr(batch, "read_status", read_beside_another_run)
    status = _run(manifest, store)
    assert len(status) == 3 and (status["status"] == "done").all()
    monkeypatch.undo()
    _run(manifest, store)  # a rerun rebuilds the table from the store files
    pd.testing.assert_frame_equal(status[["slide_id", "status", "n_tiles"]],
                                  read_status(store, extractor=NAME)[["slide_id", "status",
                                                                      "n_tiles"]])


def test_two_runs_on_one_store_share_the_slides_and_credit_who_did_them(tmp_path):
    manifest = _cohort(tmp_path / "slides", 8)
    reference = tmp_path / "reference"
    _run(manifest, reference)
    _, one_wall = _concurrent_runs(tmp_path, manifest, tmp_path / "alone", 1, "one")
    store = tmp_path / "shared"
    runs, two_wall = _concurrent_runs(tmp_path, manifest, store, 2, "two")
    assert all((run["status"] == "done").all() for run in runs)
    # Both tables say the same: each slide by the process whose file says it did it.
    first, second = (r.set_index("slide_id")[["worker", "seconds"]] for r in runs)
    pd.testing.assert_frame_equal(first, second.loc[first.index])
    folder = store / f"extractor={NAME}"
    for slide_id, row in first.iterrows():
        work = provenance(folder / f"{slide_id}.parquet")["work"]
        assert row["worker"] == work["worker"] and row["seconds"] == pytest.approx(
            work["seconds"], abs=1e-3) and row["seconds"] >= 0.5
    # The work was split, not done by one while the other waited.
    assert first["worker"].nunique() == 2 and first["worker"].value_counts().min() >= 2
    assert two_wall < 0.8 * one_wall, (one_wall, two_wall)
    assert _store_content(store) == _store_content(reference)


def test_leftovers_of_a_crash_mid_write_are_cleaned(tmp_path):
    manifest = _cohort(tmp_path / "slides", 2)
    reference = tmp_path / "reference"
    _run(manifest, reference)
    store = tmp_path / "store"
    folder = store / f"extractor={NAME}"
    (folder / ".locks").mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    import socket

    slide = "TCGA-AA-1000-01Z-00-DX1"
    (folder / ".locks" / f"{slide}.lock").write_text(json.dumps(
        {"host": socket.gethostname(), "pid": int(dead.stdout), "token": "t", "since": "x"}))
    (folder / f".{slide}.parquet.abc123.tmp").write_bytes(b"PAR1 half a file")
    (folder / f"._status.csv.{socket.gethostname()}.{int(dead.stdout)}.tmp").write_text("slide")
    _run(manifest, store)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in (reference / f"extractor={NAME}").iterdir())
    assert _store_content(store) == _store_content(reference)


# --------------------------------------------------------------------------- Dask

@pytest.mark.slow
def test_two_dask_workers_process_a_cohort(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    manifest = _cohort(tmp_path / "slides", 4, blank=True, corrupt=True)
    # A slide whose worker process dies the first time: Dask reruns it elsewhere.
    write_slide(tmp_path / "slides" / "dies_once.tiff", seed=5)
    table = pd.read_csv(manifest)
    pd.concat([table, pd.DataFrame({"path": ["dies_once.tiff"]})]).to_csv(manifest, index=False)
    reference = tmp_path / "reference"
    _run(manifest, reference)
    marker = tmp_path / "died"
    monkeypatch.setenv("FEATX_TEST_DIE_ONCE", str(marker))
    # Slides slow enough that both workers are busy from the start.
    monkeypatch.setenv("FEATX_TEST_SLOW_S", "0.3")

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        status = run_batch(manifest, tmp_path / "dask", _settings(), slide_dir=manifest.parent,
                           cluster=ClusterSettings(scheduler=cluster.scheduler_address))
        with distributed.Client(cluster) as client:
            builds = client.run(extractor_builds)
    assert marker.exists(), "the worker should have died once"
    by_slide = status.set_index("slide_id")["status"]
    assert by_slide["truncated"] == "failed" and by_slide["blank_glass"] == "no_tissue"
    others = by_slide.drop(["truncated", "blank_glass"])
    assert (others == "done").all(), status[["slide_id", "status", "error"]].to_string()
    # Both workers took slides (the one that died came back as a new process).
    assert status.loc[status.status == "done", "worker"].nunique() >= 2
    # Each worker built the model at most once, however many slides it ran.
    assert all(len(keys) <= 1 for keys in builds.values())
    assert _store_content(tmp_path / "dask") == _store_content(reference)
    assert len(read_store(tmp_path / "dask", extractor=NAME)) == status["n_tiles"].sum()


# --------------------------------------------------------------------------- CLI

def test_cli_extract(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import featx.embed.batch
    from featx.cli._app import app

    monkeypatch.setattr(featx.embed.batch, "_default_embed", lambda: embed)
    manifest = _cohort(tmp_path / "slides", 2, blank=True)
    args = ["extract", str(manifest), "--out", str(tmp_path / "store"), "--slides",
            str(manifest.parent), "--workers", "0", "--tile-px", "64", "--tile-mpp", "2.0",
            "--min-tissue", "0.5", "--extractor", "COLORSTATS", "--extractor-arg", "bins=4",
            "--dtype", "float16", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 slides: 2 done, 1 no_tissue" in result.output
    emb = read_store(tmp_path / "store", extractor=NAME, as_="numpy")
    assert emb.shape[1] == 3 * (2 + 4)
    # A corrupt slide makes the command exit 1 after finishing the others.
    bad = write_slide(tmp_path / "slides" / "bad.tiff", seed=3)
    bad.write_bytes(bad.read_bytes()[:5000])
    pd.DataFrame({"path": ["bad.tiff"]}).to_csv(manifest, mode="a", header=False, index=False)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "1 failed" in result.output


class _FittedNormalizer:
    """scikit-learn style: parameters, and fitted attributes ending in '_'."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def get_params(self):
        return {"alpha": self.alpha}

    def transform(self, tiles):
        return tiles

    def fit(self):
        self.stain_matrix_target_ = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]])
        self._private = object()
        return self


def test_normalizer_identity_is_part_of_done(tmp_path):
    from featx._provenance import config_of

    class WithConfig:
        def config(self):
            return {"method": "macenko", "target": np.array([1.0, 2.0])}

    assert config_of(None) is None
    assert config_of(WithConfig()) == {"method": "macenko", "target": [1.0, 2.0]}
    fitted = config_of(_FittedNormalizer().fit())
    assert fitted == {"class": "_FittedNormalizer", "params": {"alpha": 1.0},
                      "fit": {"stain_matrix_target_": [[0.65, 0.70, 0.29],
                                                       [0.07, 0.99, 0.11]]}}
    manifest = _cohort(tmp_path / "slides", 1)
    root = tmp_path / "store"
    _run(manifest, root, normalizer=_FittedNormalizer().fit())
    path = slide_path(root, extractor=NAME, slide_id="TCGA-AA-1000-01Z-00-DX1")
    assert provenance(path)["stain"] == fitted
    before = path.stat().st_mtime_ns
    _run(manifest, root, normalizer=_FittedNormalizer().fit())
    assert path.stat().st_mtime_ns == before
    _run(manifest, root, normalizer=_FittedNormalizer(alpha=2.0).fit())
    assert path.stat().st_mtime_ns != before


@pytest.mark.slow
def test_run_batch_starts_its_own_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    manifest = _cohort(tmp_path / "slides", 2)
    status = _run(manifest, tmp_path / "store", workers=1)
    assert status["status"].tolist() == ["done", "done"]
    assert not status["worker"].str.endswith(f":{os.getpid()}").any()  # not this process


def test_cli_extract_with_a_saved_stain_fit(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import featx.embed.batch
    from featx._provenance import config_of
    from featx.cli._app import app
    from featx.stain.macenko import MacenkoNormalizer
    from featx.wsi.slide import open_slide

    monkeypatch.setattr(featx.embed.batch, "_default_embed", lambda: embed)
    manifest = _cohort(tmp_path / "slides", 1)
    with open_slide(tmp_path / "slides" / "TCGA-AA-1000-01Z-00-DX1.tiff") as slide:
        target = slide.read_region(300, 300, 0, 512, 512)
    fit = MacenkoNormalizer().fit(target).save(tmp_path / "stain_fit.json")
    result = CliRunner().invoke(app, [
        "extract", str(manifest), "--out", str(tmp_path / "store"), "--slides",
        str(manifest.parent), "--workers", "0", "--tile-px", "64", "--tile-mpp", "2.0",
        "--min-tissue", "0.5", "--extractor", "COLORSTATS", "--stain-fit", str(fit),
        "--no-progress"])
    assert result.exit_code == 0, result.output
    stored = provenance(slide_path(tmp_path / "store", extractor=NAME,
                                   slide_id="TCGA-AA-1000-01Z-00-DX1"))
    assert stored["stain"] == config_of(MacenkoNormalizer.load(fit))
    assert stored["stain"]["method"] == "macenko"


# --------------------------------------------------------------------------- mpp, paths

def _no_mpp_slide(path: Path) -> Path:
    from featx.wsi.synthetic import Region, write_synthetic_slide

    write_synthetic_slide(path, width_px=1500, height_px=1200, slide_mpp=0.5, fmt="tiff-no-mpp",
                          regions=[Region(100, 100, 1200, 950)], downsamples=(1, 4))
    return path


def test_mpp_option_and_manifest_column(tmp_path):
    folder = tmp_path / "slides"
    folder.mkdir()
    _no_mpp_slide(folder / "frozen_a.tiff")
    _no_mpp_slide(folder / "frozen_b.tiff")
    manifest = folder / "manifest.csv"
    pd.DataFrame({"path": ["frozen_a.tiff", "frozen_b.tiff"], "slide_mpp": ["0.25", ""]}).to_csv(
        manifest, index=False)
    status = _run(manifest, tmp_path / "store").set_index("slide_id")
    # The column gives a its mpp; b has none anywhere: failed, with the fix in the error.
    assert status.loc["frozen_a", "status"] == "done"
    assert status.loc["frozen_b", "status"] == "failed"
    assert "--slide-mpp" in status.loc["frozen_b", "error"]
    status = _run(manifest, tmp_path / "store", slide_mpp=0.5, retry_failed=True)
    status = status.set_index("slide_id")
    assert (status["status"] == "done").all()
    folder_out = tmp_path / "store" / f"extractor={NAME}"
    prov_a = provenance(folder_out / "frozen_a.parquet")
    prov_b = provenance(folder_out / "frozen_b.parquet")
    assert prov_a["slide_mpp_override"] == {"slide_mpp": 0.25, "source": "manifest"}
    assert prov_b["slide_mpp_override"] == {"slide_mpp": 0.5, "source": "option"}
    assert prov_b["pipeline"]["slide"]["slide_mpp_source"] == "override"
    # At 0.25 mpp the same pixels cover a quarter of the area: a has about 1/4 the tiles.
    assert 0 < 3 * status.loc["frozen_a", "n_tiles"] < status.loc["frozen_b", "n_tiles"]
    # A changed mpp redoes the slide; the same one skips it.
    before = (folder_out / "frozen_b.parquet").stat().st_mtime_ns
    _run(manifest, tmp_path / "store", slide_mpp=0.5)
    assert (folder_out / "frozen_b.parquet").stat().st_mtime_ns == before
    _run(manifest, tmp_path / "store", slide_mpp=0.4)
    assert provenance(folder_out / "frozen_b.parquet")["slide_mpp_override"]["slide_mpp"] == 0.4
    bad = folder / "bad.csv"
    pd.DataFrame({"path": ["frozen_a.tiff"], "slide_mpp": ["0,25"]}).to_csv(bad, index=False)
    from featx.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="frozen_a.*0.25 for 40x"):
        _run(bad, tmp_path / "store")


def test_cli_extract_mpp(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import featx.embed.batch
    from featx.cli._app import app

    monkeypatch.setattr(featx.embed.batch, "_default_embed", lambda: embed)
    folder = tmp_path / "slides"
    folder.mkdir()
    _no_mpp_slide(folder / "frozen.tiff")
    manifest = folder / "m.csv"
    pd.DataFrame({"path": ["frozen.tiff"]}).to_csv(manifest, index=False)
    args = ["extract", str(manifest), "--out", str(tmp_path / "store"), "--slides", str(folder),
            "--workers", "0", "--tile-px", "64", "--tile-mpp", "2.0", "--no-progress"]
    assert CliRunner().invoke(app, args).exit_code == 1
    result = CliRunner().invoke(app, [*args, "--slide-mpp", "0.5", "--retry-failed"])
    assert result.exit_code == 0 and "1 done" in result.output, result.output


def test_worker_that_cannot_see_the_store_names_its_host_and_folder(tmp_path, monkeypatch):
    import socket

    from featx.embed import batch
    from featx.embed.batch import SlideTask, process_slide

    task = SlideTask("s", "p", str(tmp_path / "s.tiff"), str(tmp_path / "elsewhere"), NAME,
                     _settings())
    record = process_slide(task)  # here, not on Dask: no Dask worker to blame
    assert record["status"] == "failed"
    assert "elsewhere not found (moved or deleted since the run started?)" in record["error"]
    assert "Dask" not in record["error"]
    monkeypatch.setattr(batch, "_on_dask_worker", lambda: True)
    record = process_slide(task)
    assert socket.gethostname() in record["error"] and os.getcwd() in record["error"]
    assert "every Dask worker shares" in record["error"]
    assert not (tmp_path / "elsewhere").exists()  # no stray lock folder


@pytest.mark.slow
def test_relative_paths_reach_a_dask_worker_in_another_folder(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    client_dir, worker_dir = tmp_path / "client", tmp_path / "worker"
    _cohort(client_dir / "slides", 2)
    worker_dir.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.chdir(worker_dir)  # worker processes start here ...
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        monkeypatch.chdir(client_dir)  # ... the client runs here, with relative paths
        status = run_batch(Path("slides/manifest.csv"), Path("store"), _settings(),
                           slide_dir=Path("slides"),
                           cluster=ClusterSettings(scheduler=cluster.scheduler_address))
        with distributed.Client(cluster) as client:
            cwd = client.run(os.getcwd)
    assert set(cwd.values()) == {str(worker_dir)}
    assert (status["status"] == "done").all(), status[["slide_id", "error"]].to_string()
    assert len(list((client_dir / "store" / f"extractor={NAME}").glob("*.parquet"))) == 2
    assert not any(worker_dir.iterdir()), "a stray folder in the worker's working folder"


@pytest.mark.parametrize("wait_s", [0.0, 1.0])
def test_a_slide_locked_by_a_live_run_is_passed_over_then_recorded(tmp_path, wait_s):
    import socket

    manifest = _cohort(tmp_path / "slides", 3)
    folder = tmp_path / "store" / f"extractor={NAME}"
    (folder / ".locks").mkdir(parents=True)
    held = "TCGA-AA-1000-01Z-00-DX1"  # the first slide: a waiting run would start there
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folder / ".locks" / f"{held}.lock").write_text(json.dumps(
            {"host": socket.gethostname(), "pid": owner.pid, "token": "t", "since": "x"}))
        t0 = time.monotonic()
        status = _run(manifest, tmp_path / "store", lock_wait_s=wait_s).set_index("slide_id")
        elapsed = time.monotonic() - t0
    finally:
        owner.kill()
        owner.wait()
    assert status.loc[held, "status"] == "locked" and str(owner.pid) in status.loc[held, "error"]
    assert (status.drop(held)["status"] == "done").all()
    # The others were done before the wait, and the held one was waited for once only.
    finished = pd.to_datetime(status["finished_at"])
    assert (finished.drop(held) <= finished[held]).all()
    assert elapsed < 30 + wait_s


# --------------------------------------------------------------------------- passing causes


def test_a_full_disk_is_retried_by_the_next_run_without_retry_failed(tmp_path, monkeypatch):
    from featx.embed import batch

    manifest = _cohort(tmp_path / "slides", 2)
    real = batch.write_slide_embeddings

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch, "write_slide_embeddings", disk_full)
    first = _run(manifest, tmp_path / "store")
    assert first["status"].tolist() == ["retry", "retry"]
    assert first["error"].str.contains("No space left on device").all()
    monkeypatch.setattr(batch, "write_slide_embeddings", real)  # space freed
    again = _run(manifest, tmp_path / "store")
    assert again["status"].tolist() == ["done", "done"]


def test_a_slide_s_own_failure_waits_for_retry_failed(tmp_path, monkeypatch):
    from featx.embed import batch

    manifest = _cohort(tmp_path / "slides", 1)

    def bad_values(*args, **kwargs):
        raise ValueError("not a slide featx can read")

    monkeypatch.setattr(batch, "write_slide_embeddings", bad_values)
    assert _run(manifest, tmp_path / "store")["status"].tolist() == ["failed"]
    monkeypatch.undo()
    assert _run(manifest, tmp_path / "store")["status"].tolist() == ["failed"]
    assert _run(manifest, tmp_path / "store", retry_failed=True)["status"].tolist() == ["done"]


@pytest.mark.parametrize("content", [
    "a,b\n1,2\n",  # other columns
    "slide_id,patient_id,path,status,error,n_tiles,seconds,started_at,finished_at,worker\n"
    "S,P,p,done,,many,0,,,\n",  # a count that is not a number
    "slide_id,patient_id,path,status,error,n_tiles,seconds,started_at,finished_at,worker\n"
    "S,P,p,exploded,,1,0,,,\n",  # an unknown status
    "\x00\x01\x02",  # not text
])
def test_a_status_table_featx_did_not_write_is_named_then_rebuilt(tmp_path, content):
    from featx.errors import StoreError

    manifest = _cohort(tmp_path / "slides", 1)
    table = status_path(tmp_path / "store", extractor=NAME)
    table.parent.mkdir(parents=True)
    table.write_text(content)
    with pytest.raises(StoreError, match="_status.csv: not a status table.*delete it"):
        read_status(tmp_path / "store", extractor=NAME)
    with pytest.warns(UserWarning, match="set aside and rebuilt from the store files"):
        status = _run(manifest, tmp_path / "store")
    assert status["status"].tolist() == ["done"]
    assert read_status(tmp_path / "store", extractor=NAME)["status"].tolist() == ["done"]
