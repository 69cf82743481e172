"""``featx import`` and ``featx export``: other tools' embeddings into the store, and back out.

:func:`import_embeddings` reads TRIDENT/CLAM h5, slideflow bags and feature tables
(:mod:`featx.embed.formats`, one module per tool) into ``<root>/extractor=<NAME>/``,
so imported and featx-extracted extractors sit side by side and ``featx evaluate``
compares them on the same folds. It is resumable and atomic like ``featx extract``: a slide is skipped
when its store file holds the same source file (sha256) read with the same options;
each slide is written under its lock, to a temporary file renamed into place; the
status of every slide is in ``_status.csv``. The provenance keeps the source file's
path, sha256 and attributes, and how its coordinates were taken to level 0.

:func:`export_embeddings` writes store files as CLAM/TRIDENT h5 for MIL tools; an h5
featx exported imports back to the same store file, bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from featx._io import file_sha256, read_table, write_table
from featx._provenance import json_value
from featx._validate import file_name, mpp, one_of, positive_float, positive_int
from featx.embed.batch import STATUS_COLUMNS, status_path
from featx.embed.formats.dispatch import FORMATS, SOURCE_SUFFIXES, read_foreign
from featx.embed.formats.foreign_slide import ForeignSlide
from featx.embed.formats.h5 import h5_provenance, write_h5
from featx.embed.locks import SlideLock, utc_now
from featx.embed.store import (
    STORE_FORMAT,
    check_file,
    is_done,
    list_extractors,
    list_slides,
    provenance,
    slide_path,
    to_table,
    write_slide_embeddings,
    write_table_atomic,
)
from featx.errors import DataNotFoundError, FeatxError, StoreError

#: Formats :func:`export_embeddings` writes.
EXPORT_FORMATS = ("h5",)


def source_files(sources: Iterable[str | Path]) -> list[Path]:
    """Files to import: each file as given, and a folder's feature files (not recursive)."""
    files: list[Path] = []
    for item in sources:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file()
                            and p.suffix.lower() in SOURCE_SUFFIXES and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            raise DataNotFoundError(f"embedding source {path}", "Pass .h5, .pt or table files, "
                                    "or folders holding them.")
    if not files:
        raise DataNotFoundError(f"feature files in {[str(s) for s in sources]}",
                                f"Expected files ending in {', '.join(SOURCE_SUFFIXES)}.")
    return files


def _record(slide_id: str, patient_id: str, source: Path, status: str, *, error: str = "",
            n_tiles: int = 0, started: str = "", seconds: float = 0.0) -> dict[str, Any]:
    return {"slide_id": slide_id, "patient_id": patient_id, "path": str(source),
            "status": status, "error": error, "n_tiles": int(n_tiles),
            "seconds": round(float(seconds), 3), "started_at": started or utc_now(),
            "finished_at": utc_now(), "worker": "import"}


def _expected(slide: ForeignSlide, extractor: str, source: Path, sha256: str,
              options: dict[str, Any], dtype: str) -> dict[str, Any]:
    """What a finished store file of this slide must record (compared on resume)."""
    if slide.verbatim is not None:
        return slide.verbatim
    return {
        "store_format": STORE_FORMAT, "embedding_dtype": dtype,
        "extractor": {"name": extractor, "imported": True, "source_format": slide.source_format,
                      "n_features": int(slide.features.shape[1])},
        "stain": {"status": "as the source tool left the tiles (featx did not normalise them)"},
        "import": json_value({"format": slide.source_format, "source_path": str(source.resolve()),
                              "source_sha256": sha256, "options": options,
                              "source_attributes": slide.attributes,
                              "geometry": slide.geometry,
                              "coordinates": "level-0 top-left corners"}),
    }


def _write(root: Path, slide: ForeignSlide, extractor: str, expected: dict[str, Any],
           dtype: str) -> None:
    if slide.verbatim is not None:  # a featx export: the store file as it was
        stored = slide.verbatim
        table = to_table(slide.coords, slide.features, slide_id=slide.slide_id,
                         patient_id=slide.patient_id, dtype=stored.get("embedding_dtype", dtype),
                         provenance=stored)
        write_table_atomic(table, slide_path(root, extractor=extractor, slide_id=slide.slide_id))
        return
    write_slide_embeddings(root, slide.coords, slide.features, extractor=extractor,
                           slide_id=slide.slide_id, patient_id=slide.patient_id, dtype=dtype,
                           provenance=expected)


def _import_slide(root: Path, slide: ForeignSlide, source: Path, expected: dict[str, Any], *,
                  extractor: str, dtype: str, stale_lock_s: float,
                  lock_wait_s: float) -> dict[str, Any]:
    started, t0 = utc_now(), time.perf_counter()
    path = slide_path(root, extractor=extractor, slide_id=file_name("slide_id", slide.slide_id))
    patient = slide.patient_id or ""
    # A source without tiles is stored empty and said to be so, as extract says it.
    done = _record(slide.slide_id, patient, source, "done" if len(slide.coords) else "no_tissue",
                   n_tiles=len(slide.coords), started=started)
    if is_done(path, expected):
        return done
    lock = SlideLock(path.parent / ".locks" / f"{path.stem}.lock", stale_after_s=stale_lock_s,
                     wait_s=lock_wait_s)
    with lock:
        if not is_done(path, expected):  # another importer may have finished it meanwhile
            for tmp in path.parent.glob(f".{path.name}.*.tmp"):
                tmp.unlink(missing_ok=True)
            _write(root, slide, extractor, expected, dtype)
    return {**done, "seconds": round(time.perf_counter() - t0, 3), "finished_at": utc_now()}


def import_embeddings(
    sources: Iterable[str | Path],
    root: str | Path,
    *,
    extractor: str,
    source_format: str = "auto",
    slide_mpp: float | None = None,
    patch_px: int | None = None,
    tile_um: float | None = None,
    coords_downsample: float = 1.0,
    slide_column: str = "slide_id",
    feature_prefix: str | None = None,
    dtype: str = "float32",
    stale_lock_s: float = 300.0,
    lock_wait_s: float = 3600.0,
) -> pd.DataFrame:
    """Import embeddings other tools wrote into the store as ``extractor``, resumably.

    Parameters
    ----------
    sources : iterable of path
        Feature files (TRIDENT/CLAM ``.h5``, slideflow ``.pt``, CSV/TSV/Parquet tables)
        or folders of them.
    root : path
        The store's root folder.
    extractor : str
        Name of the partition, ``extractor=<NAME>`` (e.g. ``UNI``, ``CONCH``).
    source_format : {"auto", "trident", "clam", "slideflow", "table", "featx-h5"}
        Default: from each file's suffix and attributes.
    slide_mpp : float, optional
        Level-0 microns per pixel of the slides (gives each tile's mpp and size in microns).
    patch_px : int, optional
        Tile side in level-0 pixels, where the source does not say it.
    tile_um : float, optional
        Tile side in microns (slideflow; default its ``bags_config.json``).
    coords_downsample : float, default 1.0
        Factor taking h5 coordinates to level 0 (TRIDENT and CLAM write level 0).
    slide_column, feature_prefix : str
        Tables: the slide column, and the prefix of the feature columns.
    dtype : {"float32", "float16"}
        Storage type of the embeddings.
    stale_lock_s, lock_wait_s : float
        As in :class:`featx.embed.settings.ExtractionSettings`.

    Returns
    -------
    pandas.DataFrame
        One status row per slide (done or failed, with the error), as in
        ``_status.csv``.
    """
    file_name("extractor", extractor)
    one_of("format", source_format, ("auto", *FORMATS))
    one_of("dtype", dtype, ("float32", "float16"))
    options = {"slide_mpp": None if slide_mpp is None else mpp("slide_mpp", slide_mpp),
               "patch_px": None if patch_px is None else positive_int("patch_px", patch_px),
               "tile_um": None if tile_um is None else positive_float("tile_um", tile_um),
               "coords_downsample": positive_float("coords_downsample", coords_downsample),
               "slide_column": slide_column, "feature_prefix": feature_prefix}
    root = Path(root)
    rows: dict[str, dict[str, Any]] = {}
    for source in source_files(sources):
        try:
            sha256 = file_sha256(source)
            slides = read_foreign(source, source_format=source_format, **options)
        except (FeatxError, OSError) as error:
            rows[source.stem] = _record(source.stem, "", source, "failed", error=str(error))
            continue
        for slide in slides:
            if slide.verbatim is not None and slide.verbatim.get("extractor_name") != extractor:
                slide = replace(slide, verbatim=None)  # renamed: a new import, not a restore
            expected = _expected(slide, extractor, source, sha256, options, dtype)
            try:
                rows[slide.slide_id] = _import_slide(
                    root, slide, source, expected, extractor=extractor, dtype=dtype,
                    stale_lock_s=stale_lock_s, lock_wait_s=lock_wait_s)
            except (FeatxError, OSError) as error:
                rows[slide.slide_id] = _record(slide.slide_id, slide.patient_id or "", source,
                                               "failed", error=str(error))
    return _write_status(root, extractor, rows)


def _write_status(root: Path, extractor: str, rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    path = status_path(root, extractor=extractor)
    old = read_table(path, what="status table", dtype=str) if path.is_file() else None
    new = pd.DataFrame(list(rows.values()), columns=list(STATUS_COLUMNS))
    if old is not None:
        new = pd.concat([old[~old["slide_id"].isin(rows)], new.astype(str)], ignore_index=True)
    write_table(new.sort_values("slide_id", kind="stable"), path)
    return pd.DataFrame(list(rows.values()), columns=list(STATUS_COLUMNS))


def export_embeddings(root: str | Path, out: str | Path, *, extractor: str | None = None,
                      fmt: str = "h5") -> list[Path]:
    """Write store files as CLAM/TRIDENT-style h5: ``<out>/<extractor>/<slide_id>.h5``.

    A file already exported with the same provenance is kept (the export resumes).

    Parameters
    ----------
    root : path
        The store.
    out : path
        Output folder.
    extractor : str, optional
        Only this extractor (default: all of them).
    fmt : {"h5"}
        Output format.

    Returns
    -------
    list of Path
        Every h5 file of the export (written now or before).

    Raises
    ------
    DataNotFoundError
        ``root`` is not a folder, or holds no slides of ``extractor``.
    StoreError
        ``root`` is not a store (no ``extractor=NAME`` folder); or, after every other file
        was exported, some store files are damaged (:func:`~featx.embed.store.check_file`).
    """
    one_of("format", fmt, EXPORT_FORMATS)
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise DataNotFoundError(f"store folder {root}", "Pass the folder `featx extract` or "
                                "`featx import` wrote.")
    if not list_extractors(root):
        raise StoreError(root, "not a featx store: it holds no extractor=NAME folders; pass the "
                         "folder `featx extract` or `featx import` wrote")
    names = [extractor] if extractor is not None else list_extractors(root)
    written, damaged = [], []
    for name in names:
        slides = list_slides(root, extractor=name)
        if not slides:
            raise DataNotFoundError(f"slides of extractor {name!r} in {root}",
                                    f"Extractors in the store: {list_extractors(root)}")
        for slide in slides:
            source = slide_path(root, extractor=name, slide_id=slide)
            problem = check_file(source)
            if problem:
                damaged.append(f"{name}/{slide} ({problem})")
                continue
            written.append(_export_slide(source, out / name / f"{slide}.h5", slide))
    if damaged:
        raise StoreError(root, f"{len(damaged)} store files are damaged and were not exported: "
                         f"{'; '.join(damaged[:3])}{'; ...' if len(damaged) > 3 else ''}. Rerun "
                         f"featx extract (it redoes them), then export again; the other "
                         f"{len(written)} are in {out}")
    return written


def _export_slide(store_file: Path, target: Path, slide_id: str) -> Path:
    stored = provenance(store_file)
    if target.is_file() and h5_provenance(target) == stored:
        return target
    table = pq.read_table(store_file)
    column = table.column("embedding").combine_chunks()
    dtype = column.type.value_type.to_pandas_dtype()
    features = column.flatten().to_numpy(zero_copy_only=False).astype(dtype).reshape(
        len(column), column.type.list_size)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_h5(target, table, features, slide_id=slide_id, provenance=stored)


__all__ = ["EXPORT_FORMATS", "export_embeddings", "import_embeddings", "source_files"]
