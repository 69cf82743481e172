"""One slide's embeddings from another tool, in featx's tile-table terms, and the rules every reader shares.

Whatever the source wrote, a :class:`ForeignSlide`'s ``coords`` have the store's tile
columns (:func:`tile_table`): ``x``, ``y`` are level-0 top-left corners, ``col`` and
``row`` the grid position at the tiles' stride, ``tile_mpp`` the tile's microns per
pixel when the source (or ``slide_mpp``) says it, else NaN. A tile side that no
attribute gives is the spacing of the coordinates' grid (:func:`tile_side`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx.errors import DataError

#: Stain status of imported tiles: featx did not normalise them; the source tool may have.
IMPORTED_STAIN = "external"


@dataclass(frozen=True)
class ForeignSlide:
    """One slide's embeddings from another tool, in featx's tile-table terms.

    Attributes
    ----------
    slide_id : str
    coords : pandas.DataFrame
        Store tile columns: x, y (level-0 top-left), level, read_px, tile_mpp, tile_px,
        tissue_fraction (NaN: unknown), col, row, stain_status.
    features : ndarray, shape (n_tiles, n_features)
    source_format : str
        One of :data:`featx.embed.formats.dispatch.FORMATS`.
    attributes : dict
        The source's own attributes (h5 attributes, bags_config.json), JSON-ready.
    geometry : dict
        How coordinates and tile size were derived (``"attribute"``, ``"argument"``,
        ``"coordinate spacing"``), the level-0 tile side and the tile size in microns.
    patient_id : str, optional
    verbatim : dict, optional
        The provenance of a store file exported by featx, restored as it was.
    """

    slide_id: str
    coords: pd.DataFrame
    features: np.ndarray
    source_format: str
    attributes: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, Any] = field(default_factory=dict)
    patient_id: str | None = None
    verbatim: dict[str, Any] | None = None


def first_number(value: Any) -> float | None:
    """The first number of an attribute (CLAM stores ``downsample`` as a pair)."""
    if value is None:
        return None
    array = np.ravel(np.asarray(value, dtype=object))
    try:
        return float(array[0]) if array.size else None
    except (TypeError, ValueError):
        return None


def grid_spacing(values: np.ndarray) -> float | None:
    """The smallest positive step between distinct coordinates (the grid's stride), or None."""
    steps = np.diff(np.unique(np.asarray(values, dtype=np.float64)))
    steps = steps[steps > 0]
    return float(steps.min()) if steps.size else None


def tile_side(xy: np.ndarray, path: Path) -> float:
    """The level-0 tile side a file does not state: its coordinates' grid spacing."""
    if not len(xy):  # a slide without tissue: no tile, no size to know
        return 1.0
    found = [s for s in (grid_spacing(xy[:, 0]), grid_spacing(xy[:, 1])) if s is not None]
    if not found:
        raise DataError(str(path), "the tile size is not in its attributes and one tile "
                        "gives no grid spacing to infer it from", "Pass --patch-px (the tile "
                        "side in level-0 pixels) or --tile-um with --slide-mpp")
    return min(found)


def tile_table(xy: np.ndarray, *, side0: float, stride0: float, level: int, read_px: int,
               tile_px: int, tile_mpp: float | None) -> pd.DataFrame:
    """The store's tile columns for level-0 top-left corners ``xy`` (n_tiles, 2)."""
    x, y = np.rint(xy[:, 0]).astype(np.int64), np.rint(xy[:, 1]).astype(np.int64)
    n = len(x)
    return pd.DataFrame({
        "x": x, "y": y, "level": np.full(n, level, np.int64),
        "read_px": np.full(n, read_px, np.int64),
        "tile_mpp": np.full(n, np.nan if tile_mpp is None else tile_mpp),
        "tile_px": np.full(n, tile_px, np.int64), "tissue_fraction": np.full(n, np.nan),
        "col": np.rint(x / stride0).astype(np.int64), "row": np.rint(y / stride0).astype(np.int64),
        "stain_status": np.full(n, IMPORTED_STAIN, dtype=object),
    })


def feature_array(array: np.ndarray, path: Path) -> np.ndarray:
    """A source's features as a numeric (n_tiles, n_features) array, or a DataError."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[1] == 1:  # some exports keep a singleton bag axis
        array = array[:, 0]
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise DataError(str(path), f"features of shape {array.shape} and dtype {array.dtype}",
                        "Expected a numeric (n_tiles, n_features) array")
    return array


def coords_xy(coords: np.ndarray, n: int, path: Path) -> np.ndarray:
    """A source's tile coordinates as float (n, 2) x, y, one row per feature row."""
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] < 2 or len(coords) != n:
        raise DataError(str(path), f"coords of shape {coords.shape} for {n} feature rows",
                        "Expected an (n_tiles, 2) array of x, y, one row per feature row")
    return coords[:, :2].astype(np.float64)


__all__ = ["IMPORTED_STAIN", "ForeignSlide", "coords_xy", "feature_array", "first_number",
           "grid_spacing", "tile_side", "tile_table"]
