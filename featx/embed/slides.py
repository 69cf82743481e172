"""The slides a batch run processes: a manifest (or any table with a ``path`` column) read
into one row per slide, with its file, patient and optional level-0 mpp.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from featx._io import read_table
from featx._validate import file_name
from featx.barcodes import patient_id_from_slide
from featx.errors import InvalidParameterError
from featx.wsi.slide import PLAUSIBLE_MPP, default_slide_id


def _find_slide(slide_dir: Path | None, row: Mapping[str, str]) -> Path:
    if "path" in row and row["path"]:
        path = Path(row["path"]).expanduser()
        return path if path.is_absolute() or slide_dir is None else slide_dir / path
    if slide_dir is None:
        raise InvalidParameterError("slide_dir", "the folder of the slides for a manifest "
                                    "without a 'path' column", None)
    flat = slide_dir / row["filename"]
    # gdc-client saves each file as <dir>/<file id>/<filename>.
    nested = slide_dir / str(row.get("id", "")) / row["filename"]
    return nested if not flat.exists() and "id" in row and nested.exists() else flat


def _relative(slide_dir: Path | None, cell: str) -> str:
    """A manifest's file cell as a path string: absolute, or below the slide folder."""
    if not str(cell).strip():
        return ""
    path = Path(cell).expanduser()
    return str(path if path.is_absolute() or slide_dir is None else slide_dir / path)


def _slide_mpp_cell(slide_id: str, cell: str) -> float | None:
    """A manifest's slide_mpp cell as a float, None when empty; an implausible one is an error."""
    if not str(cell).strip():
        return None
    try:
        value = float(cell)
    except ValueError:
        value = float("nan")
    if not PLAUSIBLE_MPP[0] <= value <= PLAUSIBLE_MPP[1]:
        raise InvalidParameterError(
            f"slide_mpp of slide {slide_id!r} in the manifest",
            f"microns per pixel between {PLAUSIBLE_MPP[0]} and {PLAUSIBLE_MPP[1]} (e.g. 0.25 "
            "for 40x, 0.5 for 20x), or an empty cell to use the slide's metadata", cell)
    return value


def _slide_id(slide_id: str, path: Path) -> str:
    """The slide's id if a store file can be named after it, else the fix in one line."""
    try:
        return file_name("slide_id", slide_id)
    except InvalidParameterError:
        raise InvalidParameterError(
            f"slide_id of {path.name!r}", "letters, digits and . _ + - only (it names the store "
            "file): add a slide_id column to the manifest, e.g. slide_1", slide_id) from None


def _size_cell(slide_id: str, cell: str) -> int | None:
    """A manifest's size cell in bytes, None when empty; anything but a whole number >= 0 is an error."""
    if not str(cell).strip():
        return None
    try:
        value = float(cell)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0 and value.is_integer()):
        raise InvalidParameterError(f"size of slide {slide_id!r} in the manifest",
                                    "a whole number of bytes, or an empty cell", cell)
    return int(value)


def slide_table(
    manifest: str | Path | pd.DataFrame,
    slide_dir: str | Path | None = None,
    *,
    patients: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return one row per slide to process, with its file and patient.

    Parameters
    ----------
    manifest : path or DataFrame
        A GDC manifest, a featx manifest (``filename`` column) or any table with a
        ``path`` column (absolute, or relative to ``slide_dir``). Optional
        columns ``slide_id``, ``patient_id`` (or ``patient``), ``slide_mpp``
        (microns per level-0 pixel, overriding the slide's metadata; empty: not given)
        and ``annotations`` (the slide's QuPath GeoJSON, absolute or relative to
        ``slide_dir``; empty: none) are used when present.
    slide_dir : path, optional
        The folder holding the slides (flat, or ``<id>/<filename>`` as gdc-client
        lays them out).
    patients : mapping, optional
        slide_id -> patient_id, overriding the table and the TCGA barcode rule.

    Returns
    -------
    DataFrame
        Columns ``slide_id, patient_id, path, md5, size, slide_mpp (float or None), exists,
        annotations`` (a path, or "" for none), in manifest order.

    Raises
    ------
    InvalidParameterError
        No path or filename column, a duplicated slide, an ``mpp`` column (now
        ``slide_mpp``), or a ``slide_mpp`` cell that is not a plausible number (the
        message names the slide).
    """
    table = (manifest.copy() if isinstance(manifest, pd.DataFrame)
             else read_table(manifest, what="manifest", dtype=str))
    # object first: a read_manifest table has an Int64 size column, whose NA "" cannot fill.
    table = table.astype(object).fillna("").astype(str)
    if "path" not in table.columns and "filename" not in table.columns:
        raise InvalidParameterError(
            "manifest", "a table with a 'path' column, or a GDC/featx manifest with 'filename'",
            list(table.columns))
    if "mpp" in table.columns and "slide_mpp" not in table.columns:
        raise InvalidParameterError(
            "manifest", "a 'slide_mpp' column for the slides' level-0 microns per pixel "
            "(rename the 'mpp' column to 'slide_mpp')", list(table.columns))
    folder = Path(slide_dir).expanduser() if slide_dir is not None else None
    rows = []
    for record in table.to_dict("records"):
        path = _find_slide(folder, record)
        slide_id = _slide_id(record.get("slide_id") or default_slide_id(path), path)
        patient = record.get("patient_id") or record.get("patient") or None
        if patients is not None and slide_id in patients:
            patient = patients[slide_id]
        rows.append({
            "slide_id": slide_id,
            "patient_id": patient or patient_id_from_slide(slide_id),
            "path": str(path), "md5": record.get("md5", "").lower(),
            "size": _size_cell(slide_id, record.get("size", "")),
            "slide_mpp": _slide_mpp_cell(slide_id, record.get("slide_mpp", "")),
            "exists": path.is_file(),
            "annotations": _relative(folder, record.get("annotations", "")),
        })
    out = pd.DataFrame(rows, columns=["slide_id", "patient_id", "path", "md5", "size",
                                      "slide_mpp", "exists", "annotations"])
    # None stays None (not NaN): it means "use the slide's metadata".
    out["slide_mpp"] = pd.Series([r["slide_mpp"] for r in rows], index=out.index, dtype=object)
    duplicated = out["slide_id"][out["slide_id"].duplicated()].unique().tolist()
    if duplicated:
        raise InvalidParameterError("manifest", "one row per slide", f"duplicates {duplicated[:5]}")
    return out
