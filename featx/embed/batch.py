"""Resumable batch extraction of a slide cohort into the store, locally or on Dask.

A run takes a slide table (:func:`featx.embed.slides.slide_table`) and its settings
(:mod:`featx.embed.settings`: what to extract and how, where to run) and writes one
store file per slide (:mod:`featx.embed.store`). It never loses or duplicates work:

- **Skip if done, by provenance.** A slide is done when its store file exists,
  is complete, and its metadata matches this run's extractor config, tile spec,
  stain normaliser, embedding dtype and the slide file's fingerprint (size plus a
  sha256 over its first, middle and last MiB; see :func:`featx._io.file_fingerprint`).
  Changing any of them re-extracts the slide.
- **Crash safety.** Files are written atomically (temporary file, fsync, rename),
  so after SIGKILL at any moment a rerun sees each slide either complete or
  absent, and finishes with exactly the store an uninterrupted run makes.
- **Status table.** ``<root>/extractor=<NAME>/_status.csv`` holds one row per
  slide: done, no_tissue, failed (with the error), missing, locked; n_tiles,
  seconds and timestamps. The client alone rewrites it, atomically, every
  ``STATUS_EVERY_S`` seconds and at the end. The store files are the truth: a rerun
  rebuilds done rows from them (a status table that is not one is set aside with a
  warning). Failed slides are retried only with ``ExtractionSettings(retry_failed=True)``;
  a slide that failed for a passing cause (disk full, an I/O error, a timeout:
  :func:`featx._io.is_transient`) is recorded ``retry`` and retried by the next run.
- **One slide, one worker; several runs share the work.** The client submits
  each slide once (as one task); Dask may still run a task twice (a worker lost
  mid-task is retried elsewhere, and a worker wrongly presumed dead may still be
  running), and two runs may share a store. So each slide is processed under its
  lock (:class:`featx.embed.locks.SlideLock`). A task that finds its slide locked
  does not wait: the run moves on to the next slide and comes back to the locked
  ones at the end, waiting then (up to ``lock_wait_s``) and finding them done. Two
  runs on one cohort so split it between them. Who did a slide, when and how long
  it took are stored in its file (provenance ``work``), so every run's status
  table credits the run that did the work.
- **Paths are absolute.** Slide paths and the store root are made absolute before
  they go to Dask workers, whose working folder may be anywhere; a worker that
  cannot see them fails the slide with a message naming its host and folder.
- **The slide's mpp.** ``ExtractionSettings.slide_mpp`` (``featx extract --slide-mpp``)
  and a ``slide_mpp`` column of the manifest (per slide, winning over the option)
  override the slides' metadata; both are part of the provenance
  (``slide_mpp_override``: value and source), so changing them redoes the slide.
- **Annotated regions.** ``ExtractionSettings.regions`` keeps or excludes tiles by the
  class of each slide's QuPath annotations (the manifest's ``annotations`` column, else
  ``ExtractionSettings.annotations``); the filter and the file's sha256 are part of the
  slide's provenance, so a changed file redoes the slide.
- **The model loads once per worker.** Workers build the extractor through
  :func:`featx.extractors.get_extractor`, a per-process cache keyed by the
  :class:`~featx.extractors.ExtractorFactory` (import path and arguments).

(Over 450 lines because skipping, locking, retrying and crediting are one protocol
over the same status table; split, its invariants would span modules.)
"""

from __future__ import annotations

import os
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from featx._io import atomic_path, file_fingerprint, is_transient, read_table, remove_dead_temps
from featx._provenance import json_value
from featx._validate import file_name
from featx.embed.locks import SlideLock, utc_now
from featx.embed.settings import ClusterSettings, EmbedFunction, ExtractionSettings
from featx.embed.store import is_done, provenance, slide_path, write_slide_embeddings
from featx.errors import DataError, LockTimeoutError, StoreError
from featx.extractors.registry import ExtractorFactory, get_extractor
from featx.wsi.regions import RegionFilter

if TYPE_CHECKING:
    from distributed import Client

#: Statuses a slide can have in the status table. ``retry``: failed for a passing cause
#: (disk full, I/O error, timeout), so the next run tries it again.
STATUSES = ("done", "no_tissue", "failed", "retry", "missing", "locked")
STATUS_COLUMNS = ("slide_id", "patient_id", "path", "status", "error", "n_tiles", "seconds",
                  "started_at", "finished_at", "worker")

#: Least seconds between two rewrites of the status table during a run.
STATUS_EVERY_S = 2.0

# --------------------------------------------------------------------------- one slide

@dataclass(frozen=True)
class SlideTask:
    """One slide of a run: everything a worker needs to process it (picklable).

    Attributes
    ----------
    slide_id, patient_id, path : str
        The slide, its patient and its file (absolute).
    root : str
        The store's root folder (absolute).
    extractor_name : str
        The store partition, ``extractor=<NAME>``.
    settings : ExtractionSettings
        The run's settings, the same for every slide.
    expected : dict
        The provenance a finished store file of this slide records (the run's
        :meth:`~ExtractionSettings.identity`, the slide's fingerprint and mpp override).
    slide_mpp : float, optional
        This slide's level-0 mpp override (manifest column, else the settings').
    extra_provenance : dict
        Stored too, but not compared on resume (the manifest's md5).
    regions : RegionFilter, optional
        The settings' region filter bound to this slide's QuPath file.
    """

    slide_id: str
    patient_id: str
    path: str
    root: str
    extractor_name: str
    settings: ExtractionSettings
    expected: dict[str, Any] = field(default_factory=dict)
    slide_mpp: float | None = None
    extra_provenance: dict[str, Any] = field(default_factory=dict)
    regions: RegionFilter | None = None

    @property
    def store_file(self) -> Path:
        """Where this slide's embeddings go."""
        return slide_path(self.root, extractor=self.extractor_name, slide_id=self.slide_id)


def _default_embed() -> EmbedFunction:
    from featx.embed.pipeline import embed_slide

    return embed_slide


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _record(task: SlideTask, status: str, *, error: str = "", n_tiles: int = 0,
            started: str = "", seconds: float = 0.0, finished: str = "",
            worker: str | None = None) -> dict[str, Any]:
    return {"slide_id": task.slide_id, "patient_id": task.patient_id, "path": task.path,
            "status": status, "error": error, "n_tiles": int(n_tiles),
            "seconds": round(float(seconds), 3), "started_at": started or utc_now(),
            "finished_at": finished or utc_now(),
            "worker": _worker_name() if worker is None else worker}


def _done_record(task: SlideTask, path: Path) -> dict[str, Any]:
    """The record of a slide found done: credited to whoever wrote its file, as it says."""
    stored = provenance(path)
    n_tiles = int(stored.get("n_tiles", 0))
    work = stored.get("work") or {}
    return _record(task, "done" if n_tiles else "no_tissue", n_tiles=n_tiles,
                   started=str(work.get("started_at", "")),
                   finished=str(work.get("finished_at", "")),
                   seconds=float(work.get("seconds", 0.0)), worker=str(work.get("worker", "")))


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _not_visible(task: SlideTask) -> str:
    """Why this worker cannot run the task ("" when it can): the store or slide it cannot see."""
    store, slide = Path(task.root).is_dir(), Path(task.path).exists()
    if store and slide:
        return ""
    what = f"store root {task.root}" if not store else f"slide file {task.path}"
    if not _on_dask_worker():  # here, it was there when the run listed it
        return f"{what} not found (moved or deleted since the run started?)"
    return (f"{what} not found on worker {socket.gethostname()} (working folder "
            f"{os.getcwd()}); the {'store' if not store else 'slides'} must be on a filesystem "
            "every Dask worker shares")


def _lock_path(store_file: Path) -> Path:
    return store_file.parent / ".locks" / f"{store_file.stem}.lock"


def _remove_temp_files(path: Path) -> None:
    # What a writer killed mid-write left behind for this slide (we hold its lock).
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def process_slide(task: SlideTask) -> dict[str, Any]:
    """Extract one slide into the store under its lock; return its status record.

    Errors of the slide itself (unreadable file, stain failure...) are caught and
    returned as a ``failed`` record, so one bad slide never stops a cohort.
    """
    started, t0 = utc_now(), time.perf_counter()
    unseen = _not_visible(task)
    if unseen:  # before any lock, so no stray lock folder appears in the worker's folder
        return _record(task, "failed", error=unseen, started=started)
    path, settings = task.store_file, task.settings
    if is_done(path, task.expected):
        return _done_record(task, path)
    lock = SlideLock(_lock_path(path),
                     stale_after_s=settings.stale_lock_s, wait_s=settings.lock_wait_s)
    try:
        lock.acquire()
    except LockTimeoutError as error:
        return _record(task, "locked", error=str(error), started=started)
    try:
        if is_done(path, task.expected):  # another worker finished it while we waited
            return _done_record(task, path)
        _remove_temp_files(path)
        try:
            extractor = get_extractor(settings.extractor)
            embed = settings.embed or _default_embed()
            # slide_mpp only when set, so embed functions without the keyword keep working.
            options: dict[str, Any] = {"slide_mpp": task.slide_mpp} if (
                task.slide_mpp is not None) else {}
            if task.regions is not None:  # likewise: only for runs that filter by region
                options["regions"] = task.regions
            result = embed(task.path, extractor, spec=settings.spec,
                           normalizer=settings.normalizer, batch_size=settings.batch_size,
                           **options)
            work = {"worker": _worker_name(), "started_at": started, "finished_at": utc_now(),
                    "seconds": round(time.perf_counter() - t0, 3)}
            write_slide_embeddings(
                task.root, result.coords, result.features, extractor=task.extractor_name,
                slide_id=task.slide_id, patient_id=task.patient_id, dtype=settings.dtype,
                provenance={**task.expected, **task.extra_provenance, "work": work,
                            "pipeline": json_value(dict(result.provenance or {}))})
        except Exception as error:  # noqa: BLE001 - recorded per slide, the cohort goes on
            return _record(task, "retry" if is_transient(error) else "failed",
                           error=f"{type(error).__name__}: {error}",
                           started=started, seconds=time.perf_counter() - t0)
        n_tiles = len(result.coords)
        return _record(task, "done" if n_tiles else "no_tissue", n_tiles=n_tiles,
                       started=started, seconds=work["seconds"], finished=work["finished_at"])
    finally:
        lock.release()


# --------------------------------------------------------------------------- status table

def status_path(root: str | Path, *, extractor: str) -> Path:
    """Return the status table of ``extractor``'s runs in the store at ``root``."""
    return Path(root) / f"extractor={file_name('extractor', extractor)}" / "_status.csv"


def read_status(root: str | Path, *, extractor: str) -> pd.DataFrame:
    """Return the status table (empty with the right columns when there is none).

    Raises
    ------
    StoreError
        The file is not a status table featx wrote (other columns, non-numeric counts, an
        unknown status); the message says to delete it, since a run rebuilds it.
    """
    path = status_path(root, extractor=extractor)
    if not path.is_file():
        return pd.DataFrame(columns=list(STATUS_COLUMNS))
    fix = ("delete it: the next featx extract rebuilds it from the store files, which are "
           "the truth")
    try:
        table = read_table(path, what="status table", dtype=str)
    except DataError as error:
        raise StoreError(path, f"not a status table ({error.problem}); {fix}") from None
    missing = [c for c in STATUS_COLUMNS if c not in table.columns]
    unknown = sorted(set(table.get("status", pd.Series(dtype=str))) - set(STATUSES))
    n_tiles = pd.to_numeric(table.get("n_tiles"), errors="coerce")
    seconds = pd.to_numeric(table.get("seconds"), errors="coerce")
    if missing or unknown or n_tiles.isna().any() or seconds.isna().any():
        problem = (f"lacks the columns {missing}" if missing else f"has statuses {unknown[:3]}"
                   if unknown else "has counts that are not numbers")
        raise StoreError(path, f"not a status table featx wrote: it {problem}; {fix}")
    table["n_tiles"], table["seconds"] = n_tiles.astype(int), seconds.astype(float)
    return table


def _write_status(path: Path, rows: dict[str, dict[str, Any]], order: list[str]) -> pd.DataFrame:
    """Write this run's records as the status table; return it as :func:`read_status` would."""
    table = pd.DataFrame([rows[s] for s in order if s in rows], columns=list(STATUS_COLUMNS))
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    text = [c for c in STATUS_COLUMNS if c not in ("n_tiles", "seconds")]
    table[text] = table[text].fillna("").astype(str)
    return table.astype({"n_tiles": int, "seconds": float})


# --------------------------------------------------------------------------- the run

def default_n_workers() -> int:
    """Workers for a local cluster: one per 4 cores and per 4 GiB of memory, at least 1.

    Each worker holds its own model and runs TensorFlow's own thread pool, so one
    worker per core would oversubscribe the CPU and the memory.
    """
    cores = os.cpu_count() or 1
    try:
        import psutil

        mem_gib = psutil.virtual_memory().total / 2**30
    except ImportError:  # pragma: no cover - psutil ships with distributed
        mem_gib = 4.0 * cores
    return max(1, min(cores // 4, int(mem_gib // 4)))


def run_batch(
    manifest: str | Path | pd.DataFrame,
    root: str | Path,
    settings: ExtractionSettings,
    *,
    slide_dir: str | Path | None = None,
    patients: Mapping[str, str] | None = None,
    cluster: ClusterSettings | None = None,
) -> pd.DataFrame:
    """Extract every slide of a manifest into the store, resumably.

    Parameters
    ----------
    manifest : path or DataFrame
        A GDC manifest or a table with a ``path`` column (see
        :func:`featx.embed.slides.slide_table`).
    root : path
        The store's root folder.
    settings : ExtractionSettings
        What to extract and how: extractor, tiling, stain normaliser, storage type,
        slide_mpp override, retry, lock and hash policies.
    slide_dir : path, optional
        Folder holding the manifest's slides.
    patients : mapping, optional
        slide_id -> patient_id overrides.
    cluster : ClusterSettings, optional
        Where to run: default ``ClusterSettings()``, a local Dask cluster sized to
        this machine; ``ClusterSettings(workers=0)`` runs here without Dask.

    Returns
    -------
    DataFrame
        The status table, one row per manifest slide (also written to
        :func:`status_path`).
    """
    from featx.embed.slides import slide_table

    cluster = cluster if cluster is not None else ClusterSettings()
    slides = slide_table(manifest, slide_dir, patients=patients)
    # Workers may run in any folder (another host, a SLURM job): give them absolute paths.
    slides["path"] = [str(Path(p).absolute()) for p in slides["path"]]
    root = Path(root).expanduser().absolute()

    client, local = None, None
    if cluster.uses_dask:
        from distributed import Client, LocalCluster

        if cluster.scheduler is not None:
            client = Client(cluster.scheduler)
        else:
            local = LocalCluster(n_workers=cluster.workers or default_n_workers(),
                                 threads_per_worker=cluster.threads_per_worker, processes=True,
                                 dashboard_address=None)
            client = Client(local)
    try:
        # The extractor's config (weights hash included) identifies its output. In Dask
        # mode a worker computes it, so the client never loads the model.
        if client is not None:
            config = client.submit(_extractor_config, settings.extractor, pure=False).result()
        else:
            config = _extractor_config(settings.extractor)
        name = file_name("extractor name", config.get("name", ""))
        tasks, rows = _plan_tasks(slides, root, settings, name=name,
                                  identity=settings.identity(config))
        return _run(tasks, rows, slides["slide_id"].tolist(), root, client, name=name,
                    cluster=cluster)
    finally:
        if client is not None:
            client.close()
        if local is not None:
            local.close()


def _execute(client: Client | None, tasks: list[SlideTask],
             finish: Callable[[dict[str, Any]], None], *, retries: int,
             defer: bool) -> list[SlideTask]:
    """Run the tasks here or on Dask; record each; return those passed over as locked.

    With ``defer``, a ``locked`` result is not recorded but returned, for the caller
    to come back to; without, it is recorded as it is.
    """
    deferred: list[SlideTask] = []

    def done(task: SlideTask, record: dict[str, Any]) -> None:
        if defer and record["status"] == "locked":
            deferred.append(task)
        else:
            finish(record)

    if client is None:
        for task in tasks:
            done(task, process_slide(task))
        return deferred
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures = {client.submit(process_slide, task, key=f"featx-{task.extractor_name}-"
                             f"{task.slide_id}-{token}", retries=retries, pure=False): task
               for task in tasks}
    for future in as_completed(futures):
        task = futures[future]
        try:
            done(task, future.result())
        except Exception as error:  # noqa: BLE001 - e.g. KilledWorker: record, go on
            # The result may be lost (its worker died after finishing) while the
            # slide is safely in the store: the store file decides.
            path = task.store_file
            finish(_done_record(task, path) if is_done(path, task.expected) else
                   _record(task, "failed", error=f"{type(error).__name__}: {error}"))
        # Forget the result, so a worker lost later does not make Dask recompute it.
        future.release()
    return deferred


def _extractor_config(factory: ExtractorFactory) -> dict[str, Any]:
    return json_value(dict(get_extractor(factory).config))


def _plan_tasks(slides: pd.DataFrame, root: Path, settings: ExtractionSettings, *, name: str,
                identity: dict[str, Any]) -> tuple[list[SlideTask], dict[str, dict[str, Any]]]:
    """The slides still to process, and the status rows of the others (done, failed, missing)."""
    remove_dead_temps(status_path(root, extractor=name))  # a killed client's half-written table
    try:
        previous = {r["slide_id"]: r for r in read_status(root, extractor=name).to_dict("records")}
    except StoreError as error:  # the store files are the truth: rebuild the table from them
        warnings.warn(f"{error}; it is set aside and rebuilt from the store files",
                      UserWarning, stacklevel=3)
        previous = {}
    rows: dict[str, dict[str, Any]] = {}
    tasks: list[SlideTask] = []
    for slide in slides.to_dict("records"):
        task = SlideTask(slide["slide_id"], slide["patient_id"], slide["path"], str(root), name,
                         settings)
        if not slide["exists"]:
            rows[task.slide_id] = _record(task, "missing", error="slide file not found")
            continue
        override, source = ((slide["slide_mpp"], "manifest") if slide["slide_mpp"] is not None
                            else (settings.slide_mpp, "option"))
        expected = {**identity, "slide": file_fingerprint(slide["path"], full=settings.full_hash),
                    "slide_mpp_override": None if override is None else {
                        "slide_mpp": override, "source": source}}
        regions = None
        if settings.regions is not None:  # only then: stores made without one stay done
            regions = settings.regions.for_file(_annotation_file(slide, settings.annotations))
            expected["regions"] = regions.config  # the file's sha256: a new file redoes it
        old = previous.get(task.slide_id)
        if is_done(task.store_file, expected):
            # A run killed between writing a slide and unlocking it leaves its lock.
            SlideLock(_lock_path(task.store_file),
                      stale_after_s=settings.stale_lock_s).clear_if_stale()
            rows[task.slide_id] = (
                old if old is not None and old["status"] in ("done", "no_tissue")
                else _done_record(task, task.store_file))
            continue
        if old is not None and old["status"] == "failed" and not settings.retry_failed:
            rows[task.slide_id] = old
            continue
        extra = {"slide_md5_manifest": slide["md5"]} if slide["md5"] else {}
        tasks.append(replace(task, expected=expected, slide_mpp=override,
                             extra_provenance=extra, regions=regions))
    return tasks, rows


def _annotation_file(slide: Mapping[str, Any], annotations: Path | None) -> Path:
    """A slide's QuPath file: its manifest cell, else ``<annotations>/<slide_id>.geojson``."""
    if slide.get("annotations"):
        return Path(slide["annotations"])
    if annotations is None:
        return Path(f"{slide['slide_id']}.geojson")  # absent: the slide fails, saying so
    folder = Path(annotations).expanduser().absolute()
    return folder / f"{slide['slide_id']}.geojson" if folder.is_dir() else folder


def _run(tasks: list[SlideTask], rows: dict[str, dict[str, Any]], order: list[str], root: Path,
         client: Client | None, *, name: str, cluster: ClusterSettings) -> pd.DataFrame:
    """Process the tasks, rewriting the status table as they finish; return it."""
    from tqdm.auto import tqdm

    status_file = status_path(root, extractor=name)
    _write_status(status_file, rows, order)
    bar = tqdm(total=len(tasks), unit="slide", disable=not cluster.progress,
               desc=f"featx extract {name}")
    t0, tiles, written = time.perf_counter(), 0, time.monotonic()

    def finish(record: dict[str, Any]) -> None:
        nonlocal tiles, written
        rows[record["slide_id"]] = record
        tiles += int(record["n_tiles"])
        # Rewriting the table is O(slides): at most every STATUS_EVERY_S. A kill loses
        # only the last rows, and a rerun rebuilds done ones from the store.
        if time.monotonic() - written >= STATUS_EVERY_S:
            _write_status(status_file, rows, order)
            written = time.monotonic()
        bar.update(1)
        bar.set_postfix(tiles_per_s=f"{tiles / max(time.perf_counter() - t0, 1e-9):.1f}",
                        failed=sum(r["status"] == "failed" for r in rows.values()))

    try:
        # First pass: a slide locked by another run is passed over, not waited for.
        first = [replace(t, settings=replace(t.settings, lock_wait_s=0.0)) for t in tasks]
        deferred = _execute(client, first, finish, retries=cluster.retries, defer=True)
        # Then back to those, waiting for their owners; most are done by now.
        again = {t.slide_id for t in deferred}
        _execute(client, [t for t in tasks if t.slide_id in again], finish,
                 retries=cluster.retries, defer=False)
    finally:
        table = _write_status(status_file, rows, order)
        bar.close()
    # This run's own records: another run on the same store may rewrite the file meanwhile.
    return table


__all__ = ["STATUSES", "SlideTask", "default_n_workers", "process_slide", "read_status",
           "run_batch", "status_path"]
