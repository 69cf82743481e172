"""Manifests: tables naming the files a run needs, where to get them and their checksums.

Two kinds of table come in:

- a **GDC manifest** as written by the GDC portal (tab-separated ``id filename md5
  size state``); each file downloads from ``https://api.gdc.cancer.gov/data/<id>``;
- a **featx manifest** (tab-separated): ``filename url size md5 sha256`` plus any
  other columns (``dest`` sub-folder, ``patient``, ``note``...). Empty checksum
  cells mean "not known"; :mod:`featx.downloads.fetch` then checks what is given.

The manifests shipped with featx live in ``data_manifests/`` of a checkout; an
installed wheel carries them as package data (``featx/downloads/manifests/``). See
:func:`bundled_manifest`. Batch extraction reads either kind as its slide table
(:func:`featx.embed.slides.slide_table`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from featx._io import read_table
from featx.errors import DataNotFoundError, InvalidParameterError

#: Where the GDC serves a file by its UUID.
GDC_DATA_ENDPOINT = "https://api.gdc.cancer.gov/data/"
GDC_COLUMNS = ("id", "filename", "md5", "size", "state")
MANIFEST_COLUMNS = ("filename", "url", "size", "md5", "sha256")



def _manifest_dir() -> Path:
    # An installed wheel has them as package data beside this module; a checkout, in
    # data_manifests/ at its top (pyproject.toml maps that folder into the wheel).
    packaged = Path(__file__).resolve().parent / "manifests"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "data_manifests"


#: Folder of the manifests shipped with featx.
MANIFEST_DIR = _manifest_dir()


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


def _sizes(cells: pd.Series) -> pd.Series:
    """File sizes in bytes (Int64, NA where empty); anything but a whole number >= 0 is refused."""
    numbers = pd.to_numeric(cells.replace("", None), errors="coerce")
    bad = (cells != "") & ~(numbers.notna() & (numbers >= 0) & (numbers % 1 == 0)
                            & (numbers < 2**63))
    if bad.any():
        raise InvalidParameterError("size column of the manifest", "whole numbers of bytes "
                                    "(or empty cells)", cells[bad].head(3).tolist())
    return numbers.astype("Int64")


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
            f"manifest {Path(path).name}", "a table with a 'filename' column (featx) or the GDC "
            f"columns {list(GDC_COLUMNS)}", list(table.columns))
    for column in ("url", "md5", "sha256"):
        if column not in table.columns:
            table[column] = ""
        table[column] = table[column].fillna("").astype(str).str.strip()
    table["md5"] = table["md5"].str.lower()
    table["sha256"] = table["sha256"].str.lower()
    size = table["size"] if "size" in table.columns else pd.Series([""] * len(table))
    table["size"] = _sizes(size.fillna("").astype(str).str.strip())
    rest = [c for c in table.columns if c not in MANIFEST_COLUMNS]
    return table[list(MANIFEST_COLUMNS) + rest].reset_index(drop=True)
