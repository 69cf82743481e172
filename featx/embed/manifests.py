"""Manifests: tables naming the files a run needs, where to get them and their checksums.

Two kinds of table come in:

- a **GDC manifest** as written by the GDC portal (tab-separated ``id filename md5
  size state``); each file downloads from ``https://api.gdc.cancer.gov/data/<id>``;
- a **featx manifest** (tab-separated): ``filename url size md5 sha256`` plus any
  other columns (``dest`` sub-folder, ``patient``, ``note``...). Empty checksum
  cells mean "not known"; :mod:`featx.embed.fetch` then checks what is given.

For batch extraction a **slide table** is either kind, or any table with a
``path`` column. The manifests shipped with featx are package data in
``featx/embed/manifests/`` (``data_manifests/`` in a checkout links there; see
:func:`bundled_manifest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from featx._io import read_table
from featx.barcodes import patient_id_from_slide
from featx.errors import DataNotFoundError, InvalidParameterError
from featx.wsi.slide import PLAUSIBLE_MPP, default_slide_id

#: Where the GDC serves a file by its UUID.
GDC_DATA_ENDPOINT = "https://api.gdc.cancer.gov/data/"
GDC_COLUMNS = ("id", "filename", "md5", "size", "state")
MANIFEST_COLUMNS = ("filename", "url", "size", "md5", "sha256")

#: Folder of the manifests shipped with featx (package data).
MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"


def bundled_manifest(name: str) -> Path:
    """Return the path of a manifest shipped with featx.

    Parameters
    ----------
    name : str
        File name with or without ``.tsv``: ``"tcga_luad_slides"``, ``"nct_crc_he"``,
        ``"openslide_testdata"``, ``"xception_weights"``, ``"luad_targets"``.
    """
    path = MANIFEST_DIR / (name if name.endswith(".tsv") else f"{name}.tsv")
    if not path.is_file():
        known = sorted(p.stem for p in MANIFEST_DIR.glob("*.tsv"))
        raise InvalidParameterError("name", f"one of {known}", name)
    return path


def find_manifest(path_or_name: str | Path) -> Path:
    """A manifest file: ``path_or_name`` itself if it exists, else the bundled manifest of that name.

    Raises
    ------
    DataNotFoundError
        Neither a file nor a bundled manifest; the message lists the bundled ones.
    """
    path = Path(path_or_name)
    if path.is_file():
        return path
    candidate = MANIFEST_DIR / (path.name if path.suffix == ".tsv" else f"{path.name}.tsv")
    if path.parent == Path(".") and candidate.is_file():
        return candidate
    known = ", ".join(sorted(p.stem for p in MANIFEST_DIR.glob("*.tsv")))
    raise DataNotFoundError(f"manifest {path}", f"Pass a manifest file, or the name of one "
                            f"shipped with featx: {known}.")


def _read_table(path: str | Path) -> pd.DataFrame:
    # Strings throughout: ids and checksums must not turn into numbers.
    return read_table(path, what="manifest", dtype=str)


def is_gdc_manifest(table: pd.DataFrame) -> bool:
    """Return whether ``table`` has the GDC portal's manifest columns."""
    return all(c in table.columns for c in ("id", "filename", "md5", "size"))


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a GDC or featx manifest into the featx form.

    Returns
    -------
    DataFrame
        Columns ``filename, url, size (Int64, may be missing), md5, sha256`` (empty
        string when unknown), then every other column of the file. A GDC
        manifest gets ``url = GDC_DATA_ENDPOINT + id``.
    """
    table = _read_table(path)
    if is_gdc_manifest(table):
        table = table.copy()
        gdc_url = GDC_DATA_ENDPOINT + table["id"].astype(str)
        # A manifest of `featx gdc` names its URLs (a mirror, another API root): keep them.
        given = table["url"].fillna("") if "url" in table.columns else pd.Series("", table.index)
        table["url"] = given.where(given != "", gdc_url)
    if "filename" not in table.columns:
        raise InvalidParameterError(
            "manifest", "a table with a 'filename' column (featx) or the GDC columns "
            f"{list(GDC_COLUMNS)}", list(table.columns))
    for column in ("url", "md5", "sha256"):
        if column not in table.columns:
            table[column] = ""
        table[column] = table[column].fillna("").astype(str).str.strip()
    table["md5"] = table["md5"].str.lower()
    table["sha256"] = table["sha256"].str.lower()
    size = table["size"] if "size" in table.columns else pd.Series([""] * len(table))
    table["size"] = pd.to_numeric(size.replace("", None), errors="raise").astype("Int64")
    rest = [c for c in table.columns if c not in MANIFEST_COLUMNS]
    return table[list(MANIFEST_COLUMNS) + rest].reset_index(drop=True)


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
        columns ``slide_id``, ``patient_id`` (or ``patient``) and ``slide_mpp``
        (microns per level-0 pixel, overriding the slide's metadata; empty: not given)
        are used when present.
    slide_dir : path, optional
        The folder holding the slides (flat, or ``<id>/<filename>`` as gdc-client
        lays them out).
    patients : mapping, optional
        slide_id -> patient_id, overriding the table and the TCGA barcode rule.

    Returns
    -------
    DataFrame
        Columns ``slide_id, patient_id, path, md5, size, slide_mpp (float or None), exists``,
        in manifest order.

    Raises
    ------
    InvalidParameterError
        No path or filename column, a duplicated slide, an ``mpp`` column (now
        ``slide_mpp``), or a ``slide_mpp`` cell that is not a plausible number (the
        message names the slide).
    """
    table = manifest.copy() if isinstance(manifest, pd.DataFrame) else _read_table(manifest)
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
        slide_id = record.get("slide_id") or default_slide_id(path)
        patient = record.get("patient_id") or record.get("patient") or None
        if patients is not None and slide_id in patients:
            patient = patients[slide_id]
        rows.append({
            "slide_id": slide_id,
            "patient_id": patient or patient_id_from_slide(slide_id),
            "path": str(path), "md5": record.get("md5", "").lower(),
            "size": int(record["size"]) if record.get("size") else None,
            "slide_mpp": _slide_mpp_cell(slide_id, record.get("slide_mpp", "")),
            "exists": path.is_file(),
        })
    out = pd.DataFrame(rows, columns=["slide_id", "patient_id", "path", "md5", "size",
                                      "slide_mpp", "exists"])
    # None stays None (not NaN): it means "use the slide's metadata".
    out["slide_mpp"] = pd.Series([r["slide_mpp"] for r in rows], index=out.index, dtype=object)
    duplicated = out["slide_id"][out["slide_id"].duplicated()].unique().tolist()
    if duplicated:
        raise InvalidParameterError("manifest", "one row per slide", f"duplicates {duplicated[:5]}")
    return out
