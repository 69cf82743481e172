"""Feature tables: CSV, TSV or Parquet with a slide column, optional level-0 ``x``/``y``, features.

One table may hold many slides (one :class:`~featx.embed.formats.foreign_slide.ForeignSlide`
each) and one row per tile, or one row per slide without coordinates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from featx._io import read_table
from featx.embed.formats.foreign_slide import ForeignSlide, tile_side, tile_table
from featx.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")
#: Columns of an imported table that are not features.
_TABLE_METADATA = ("slide_id", "patient_id", "x", "y", "level", "read_px", "tile_mpp", "tile_px",
                   "tissue_fraction", "col", "row", "stain_status", "extractor")


def read_feature_table(path: str | Path, *, slide_column: str = "slide_id",
                       feature_prefix: str | None = None, slide_mpp: float | None = None,
                       patch_px: int | None = None) -> list[ForeignSlide]:
    """Read a CSV/TSV/Parquet table: a slide column, optional level-0 ``x``/``y``, features.

    Rows without coordinates (one per slide, say) get ``x = y = -1`` and ``col`` = their
    row number within the slide.

    Parameters
    ----------
    path : path
        The table.
    slide_column : str, default "slide_id"
        The column naming each row's slide.
    feature_prefix : str, optional
        Features are the columns starting with it; default every numeric column that is
        not tile metadata (x, y, level, patient_id, ...).
    slide_mpp : float, optional
        The slides' level-0 microns per pixel; the rows' tiles are level-0 pixels, so it is
        also their ``tile_mpp``.
    patch_px : int, optional
        Tile side in level-0 pixels (default: the spacing of ``x``/``y``).

    Returns
    -------
    list of ForeignSlide
        One per slide, in sorted order.
    """
    path = Path(path)
    frame = read_table(path, what="feature table")
    if slide_column not in frame.columns:
        raise DataError(str(path), f"no slide column {slide_column!r} (columns: "
                        f"{list(frame.columns)[:8]})", "Name it with --slide-column")
    if feature_prefix:
        names = [c for c in frame.columns if str(c).startswith(feature_prefix)]
    else:
        names = [c for c in frame.columns if c not in (*_TABLE_METADATA, slide_column)
                 and pd.api.types.is_numeric_dtype(frame[c])]
    if not names:
        raise DataError(str(path), "no numeric feature columns", "Pass --feature-prefix")
    bad = [c for c in names if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(str(path), f"non-numeric feature columns {bad[:5]}",
                        "Choose --feature-prefix so that it selects only features")
    has_xy = {"x", "y"} <= set(frame.columns)
    out = []
    for slide, rows in frame.groupby(frame[slide_column].astype(str), sort=True):
        features = rows[names].to_numpy()
        if has_xy:
            xy = rows[["x", "y"]].to_numpy(np.float64)
            side0 = float(patch_px) if patch_px else (
                tile_side(xy, path) if len(rows) > 1 else 1.0)
            table = tile_table(xy, side0=side0, stride0=side0, level=0, read_px=int(side0),
                               tile_px=int(side0), tile_mpp=slide_mpp)
        else:
            side0 = 1.0
            table = tile_table(np.full((len(rows), 2), -1.0), side0=1.0, stride0=1.0, level=0,
                               read_px=0, tile_px=0, tile_mpp=None)
            table["col"], table["row"] = np.arange(len(rows)), 0
        patients = rows["patient_id"].astype(str).unique() if "patient_id" in rows else []
        out.append(ForeignSlide(str(slide), table, features, "table",
                                {"columns": [str(c) for c in names]},
                                {"side_level0_px": side0 if has_xy else None,
                                 "coordinates": "level-0 x, y columns" if has_xy else "none"},
                                patient_id=str(patients[0]) if len(patients) == 1 else None))
    return out


__all__ = ["TABLE_SUFFIXES", "read_feature_table"]
