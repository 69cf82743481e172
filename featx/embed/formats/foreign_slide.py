"""One slide's embeddings from another tool, in featx's tile-table terms, and the rules every reader shares.

Whatever the source wrote, a :class:`ForeignSlide`'s ``coords`` have the store's tile
columns (:func:`tile_table`): ``x``, ``y`` are level-0 top-left corners, ``col`` and
``row`` the grid position at the tiles' stride, ``tile_mpp`` the tile's microns per
pixel when the source (or ``slide_mpp``) says it, else NaN. A tile side that no
attribute gives is the spacing of the coordinates' grid (:func:`tile_side`).

What a reader returns passes :func:`checked_slide` before it is imported: finite
features, coordinates within :data:`MAX_LEVEL0_PX`, a positive tile side and no two tiles
at the same place, so a damaged or foreign file fails in one line instead of storing garbage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx.errors import DataError, InvalidParameterError

#: Stain status of imported tiles: featx did not normalise them; the source tool may have.
IMPORTED_STAIN = "external"
#: Largest level-0 coordinate accepted, in pixels: 10^7 px is 2.5 m at 0.25 mpp, while a
#: glass slide is 75 mm long.
MAX_LEVEL0_PX = 10**7


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


def level0_side(value: Any, path: Path) -> float:
    """A tile side in level-0 pixels as a float, if it is one (finite, > 0); else DataError."""
    side = first_number(value)
    if side is None or not 0 < side <= MAX_LEVEL0_PX:  # NaN fails too
        raise DataError(str(path), f"a tile side of {value!r:.40} level-0 pixels", "Pass "
                        "--patch-px (the tile side in level-0 pixels), or --tile-um with --slide-mpp")
    return side


def tile_table(xy: np.ndarray, *, side0: float, stride0: float, level: int, read_px: int,
               tile_px: int, tile_mpp: float | None) -> pd.DataFrame:
    """The store's tile columns for level-0 top-left corners ``xy`` (n_tiles, 2)."""
    for name, value in (("tile side", side0), ("tile stride", stride0)):
        if not 0 < value <= MAX_LEVEL0_PX:  # NaN fails too
            raise InvalidParameterError(
                name, "a positive number of level-0 pixels (from the file's attributes, or "
                "--patch-px, or --tile-um with --slide-mpp)", value)
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


def coords_xy(coords: np.ndarray, n: int, path: Path, *, scale: float = 1.0) -> np.ndarray:
    """A source's tile coordinates as float (n, 2) level-0 x, y, one row per feature row.

    ``scale`` takes them to level 0; the result must be finite and within
    [-:data:`MAX_LEVEL0_PX`, :data:`MAX_LEVEL0_PX`].
    """
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] < 2 or len(coords) != n or coords.dtype.kind not in "fiu":
        raise DataError(str(path), f"coords of shape {coords.shape} and dtype {coords.dtype} "
                        f"for {n} feature rows", "Expected a numeric (n_tiles, 2) array of x, y, "
                        "one row per feature row")
    with np.errstate(over="ignore", invalid="ignore"):
        xy = coords[:, :2].astype(np.float64) * float(scale)
    bad = ~(np.abs(xy) <= MAX_LEVEL0_PX).all(axis=1)  # NaN fails too
    if bad.any():
        first = coords[np.flatnonzero(bad)[0], :2].tolist()
        raise DataError(str(path), f"{int(bad.sum())} tiles have coordinates that are not "
                        f"level-0 pixels of a slide (first: {first}; at most {MAX_LEVEL0_PX:.0e})",
                        "Check the file, and --coords-downsample")
    return xy


def checked_slide(slide: ForeignSlide, path: Path) -> ForeignSlide:
    """``slide`` if it can be imported as it is: finite features, each tile once; else DataError.

    A slide with no tiles passes: it is stored empty and recorded ``no_tissue``, as
    ``featx extract`` records a slide without tissue.
    """
    n = len(slide.coords)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(slide.features).all(axis=1)
    if not finite.all():
        raise DataError(f"{path} (slide {slide.slide_id})", f"{int((~finite).sum())} of {n} tiles "
                        "have NaN or infinite features", "Export the features again from its tool")
    twice = slide.coords.duplicated(["x", "y", "col", "row"])
    if twice.any():
        first = slide.coords.loc[twice.idxmax(), ["x", "y"]].tolist()
        raise DataError(f"{path} (slide {slide.slide_id})", f"{int(twice.sum())} tiles repeat "
                        f"the coordinates of another (first at x, y = {first})",
                        "Each tile must appear once: check how the file was made")
    return slide


__all__ = ["IMPORTED_STAIN", "MAX_LEVEL0_PX", "ForeignSlide", "checked_slide", "coords_xy",
           "feature_array", "first_number", "grid_spacing", "level0_side", "tile_side",
           "tile_table"]
