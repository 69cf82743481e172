"""A target table and its provenance, written side by side.

Every table ``featx targets`` writes has a JSON file beside it (``<stem>.provenance.json``)
saying where it came from: the source files and their sha256, the genes asked for and
those missing, the samples kept and dropped (by sample type), the patients whose
aliquots were averaged, and the transform applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from featx import __version__
from featx._io import file_sha256, write_json, write_table

#: Name of the ID column of every target table featx writes.
ID_COLUMN = "patient"


def provenance_path(table_path: str | Path) -> Path:
    """Where the provenance of a target table lives: ``<stem>.provenance.json`` beside it."""
    path = Path(table_path)
    return path.with_name(f"{path.name.split('.')[0]}.provenance.json")


def source_record(path: str | Path) -> dict[str, Any]:
    """A source file for provenance: its path, size and sha256."""
    path = Path(path)
    return {"path": str(path), "size": path.stat().st_size, "sha256": file_sha256(path)}


def recorded_transform(table_path: str | Path) -> str | None:
    """The transform ``featx targets`` applied to a table (``"log2p1"``, ``"none"``), or None.

    None when the table has no provenance beside it (not made by featx) or records none.
    """
    path = provenance_path(table_path)
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("transform")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


@dataclass(frozen=True, eq=False)
class TargetTable:
    """Patient x target values, and how they were made.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per patient (index named ``patient``), one column per gene.
    provenance : dict
        JSON-serialisable record of sources, choices and what was dropped.
    notes : list of str
        One line per thing a user should know (drops, averages, missing genes).
    """

    frame: pd.DataFrame
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write the table (TSV, CSV or Parquet by suffix) and its provenance JSON beside it.

        Returns
        -------
        tuple of Path
            The table and the provenance file.
        """
        path = Path(path)
        write_table(self.frame.rename_axis(ID_COLUMN).reset_index(), path)
        record = {"featx_version": __version__, "table": str(path), **self.provenance,
                  "notes": list(self.notes), "shape": list(self.frame.shape)}
        return path, write_json(provenance_path(path), record)
