"""A report folder as one zip that opens anywhere with every link working.

``report.html`` alone already carries its figures, CSV tables and provenance; the slide
viewers are folders of tiles beside it. The zip holds the whole folder under one top
folder (the report's name), so unzipping it anywhere keeps every relative link.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from featx._io import atomic_path
from featx.errors import DataNotFoundError

__all__ = ["write_bundle"]


def write_bundle(folder: str | Path, zip_path: str | Path | None = None) -> Path:
    """Zip a written report folder (``report.html`` and everything beside it).

    Parameters
    ----------
    folder : path
        The folder :func:`~featx.report.document.write_report` wrote.
    zip_path : path, optional
        Default: ``<folder>.zip`` beside the folder.

    Returns
    -------
    Path
        The zip; it unpacks to ``<folder name>/report.html`` and the files beside it.
    """
    folder = Path(folder)
    if not (folder / "report.html").is_file():
        raise DataNotFoundError(f"report.html in {folder}", "Write the report first "
                                "(featx report NAME --results ...).")
    target = Path(zip_path) if zip_path is not None else folder.with_suffix(".zip")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with atomic_path(target, suffix=".zip") as tmp, zipfile.ZipFile(
            tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            # JPEG and PNG tiles are compressed already; storing them is as small and faster.
            kind = zipfile.ZIP_STORED if path.suffix in (".png", ".jpeg", ".jpg") else None
            archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}",
                          compress_type=kind)
    return target
