"""The slide's tile grid: tile rows laid out as a [row, col] array.

:func:`featx.wsi.tiling.grid_coords` gives one table row per tissue tile with its
``col`` and ``row`` grid indices. Heatmaps, tile labels and U-Net feature maps
all need that table turned into an array indexed ``[row, col]``; the helpers here
do it once, check it (no duplicate cells, no negative indices) and map back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from featx._validate import positive_int
from featx.errors import DataError, InvalidParameterError

#: 8-connectivity: tiles touching by an edge or a corner belong to one tissue piece.
_EIGHT = np.ones((3, 3), dtype=bool)


def grid_indices(coords: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the (row, col) grid indices of every tile, checked.

    Parameters
    ----------
    coords : pandas.DataFrame
        Tile table with integer ``row`` and ``col`` columns.

    Returns
    -------
    rows, cols : numpy.ndarray of int64
    """
    if not isinstance(coords, pd.DataFrame):
        raise InvalidParameterError("coords", "a pandas DataFrame from grid_coords", type(coords))
    missing = [c for c in ("row", "col") if c not in coords.columns]
    if missing:
        raise InvalidParameterError(
            "coords", "a tile table with 'row' and 'col' columns (featx.wsi.tiling.grid_coords)",
            f"columns {list(coords.columns)}",
        )
    rows = coords["row"].to_numpy().astype(np.int64)
    cols = coords["col"].to_numpy().astype(np.int64)
    if len(rows) and (rows.min() < 0 or cols.min() < 0):
        raise InvalidParameterError("coords", "non-negative row/col grid indices", "negative ones")
    flat = rows * (cols.max(initial=0) + 1) + cols
    if len(np.unique(flat)) != len(flat):
        raise InvalidParameterError(
            "coords", "one tile per grid cell (one slide's table; filter by slide_id first)",
            f"{len(flat) - len(np.unique(flat))} duplicate (row, col) cells",
        )
    return rows, cols


#: Most cells a grid may have (a 200,000 px slide in 112 px tiles has about 3 million);
#: more means row/col are pixel coordinates, and the grid would not fit in memory.
MAX_GRID_CELLS = 1 << 26


def grid_shape(coords: pd.DataFrame) -> tuple[int, int]:
    """Return the (n_rows, n_cols) of the smallest grid holding every tile.

    Raises
    ------
    DataError
        The grid would exceed :data:`MAX_GRID_CELLS`: ``row``/``col`` hold pixel
        coordinates rather than grid cells.
    """
    rows, cols = grid_indices(coords)
    if len(rows) == 0:
        return (0, 0)
    shape = int(rows.max()) + 1, int(cols.max()) + 1
    if shape[0] * shape[1] > MAX_GRID_CELLS:
        raise DataError(
            "tile table", f"row/col reach {shape[0] - 1:,}/{shape[1] - 1:,}, a grid of "
            f"{shape[0] * shape[1]:,} cells for {len(rows):,} tiles: these look like pixel "
            "coordinates, not grid cells",
            "Use the row and col of featx's tile table (grid cells), or divide pixel x/y by "
            "the tile stride in pixels")
    return shape


def values_to_grid(
    coords: pd.DataFrame,
    values: np.ndarray,
    *,
    shape: tuple[int, int] | None = None,
    fill: float = np.nan,
) -> np.ndarray:
    """Lay per-tile values onto the grid.

    Parameters
    ----------
    coords : pandas.DataFrame
        One slide's tile table (``row``, ``col``).
    values : numpy.ndarray
        Shape (n_tiles,) or (n_tiles, d), aligned with ``coords`` rows.
    shape : tuple of int, optional
        Grid (n_rows, n_cols); default the smallest that holds every tile.
    fill : float, default NaN
        Value of cells without a tile (non-tissue).

    Returns
    -------
    numpy.ndarray
        Shape (n_rows, n_cols) or (n_rows, n_cols, d), float.
    """
    rows, cols = grid_indices(coords)
    values = np.asarray(values)
    if values.ndim not in (1, 2) or len(values) != len(rows):
        raise InvalidParameterError(
            "values", f"an array of {len(rows)} rows (one per tile in coords)", values.shape
        )
    shape = grid_shape(coords) if shape is None else shape
    if len(rows) and (rows.max() >= shape[0] or cols.max() >= shape[1]):
        raise InvalidParameterError("shape", "a grid holding every tile", shape)
    dtype = np.result_type(values.dtype, np.float32)
    grid = np.full(tuple(shape) + values.shape[1:], fill, dtype=dtype)
    grid[rows, cols] = values
    return grid


def grid_to_values(coords: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """Read per-tile values back from a grid (the inverse of :func:`values_to_grid`)."""
    rows, cols = grid_indices(coords)
    return np.asarray(grid)[rows, cols]


def tile_extent_l0(
    coords: pd.DataFrame, *, level_downsamples: Sequence[float] | None = None
) -> np.ndarray:
    """Return each tile's side in level-0 pixels.

    Parameters
    ----------
    coords : pandas.DataFrame
        Tile table with ``read_px`` (read size at ``level``) and ``level``.
    level_downsamples : sequence of float, optional
        The slide's ``SlideInfo.level_downsamples``. Needed when a tile was read
        at a level other than 0.

    Returns
    -------
    numpy.ndarray of float64, shape (n_tiles,)
    """
    if "read_px" not in coords.columns:
        raise InvalidParameterError("coords", "a tile table with a 'read_px' column", "none")
    read_px = coords["read_px"].to_numpy(dtype=np.float64)
    levels = (coords["level"].to_numpy().astype(np.int64) if "level" in coords.columns
              else np.zeros(len(coords), dtype=np.int64))
    if level_downsamples is None:
        if np.any(levels != 0):
            raise InvalidParameterError(
                "level_downsamples", "the slide's level_downsamples (tiles were read at level > 0)",
                None,
            )
        return read_px
    downs = np.asarray(level_downsamples, dtype=np.float64)
    if levels.max(initial=0) >= len(downs):
        raise InvalidParameterError("level_downsamples", f"at least {levels.max() + 1} levels",
                                    len(downs))
    return read_px * downs[levels]


def tissue_pieces(coords: pd.DataFrame) -> np.ndarray:
    """Label each tile with its tissue piece: 8-connected components of the grid.

    Returns
    -------
    numpy.ndarray of int64, shape (n_tiles,)
        Piece ids 0, 1, ..., ordered by decreasing size (ties by first tile).
    """
    rows, cols = grid_indices(coords)
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    occupied = np.zeros(grid_shape(coords), dtype=bool)
    occupied[rows, cols] = True
    labelled, n = ndimage.label(occupied, structure=_EIGHT)
    ids = labelled[rows, cols] - 1
    sizes = np.bincount(ids, minlength=n)
    order = np.lexsort((np.arange(n), -sizes))  # biggest piece first
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank[ids]


@dataclass(frozen=True)
class CanvasLayout:
    """Where one tissue piece's tiles sit on a fixed-size, zero-padded canvas.

    Attributes
    ----------
    tile_ids : numpy.ndarray of int64
        Positions (0-based, in the slide's tile table) of the tiles on this canvas.
    rows, cols : numpy.ndarray of int64
        Canvas cell of each of those tiles.
    canvas_shape : tuple of int
        (height, width) of the canvas in cells.
    piece : int
        Tissue piece id (see :func:`tissue_pieces`); -1 when pieces were not split.
    """

    tile_ids: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    canvas_shape: tuple[int, int]
    piece: int

    @property
    def occupied(self) -> np.ndarray:
        """Boolean (height, width) mask of canvas cells holding a tile."""
        mask = np.zeros(self.canvas_shape, dtype=bool)
        mask[self.rows, self.cols] = True
        return mask

    def place(self, values: np.ndarray, *, fill: float = 0.0) -> np.ndarray:
        """Put per-tile values (the whole slide's, (n_tiles,) or (n_tiles, d)) on the canvas."""
        values = np.asarray(values)
        sub = values[self.tile_ids]
        out = np.full(self.canvas_shape + sub.shape[1:], fill,
                      dtype=np.result_type(sub.dtype, np.float32))
        out[self.rows, self.cols] = sub
        return out

    def take(self, canvas: np.ndarray) -> np.ndarray:
        """Read this piece's per-tile values back from a canvas-shaped array."""
        return np.asarray(canvas)[self.rows, self.cols]


def canvas_layouts(
    coords: pd.DataFrame, *, canvas_shape: tuple[int, int], split_pieces: bool = True
) -> list[CanvasLayout]:
    """Centre a slide's tiles on fixed-size canvases, one per tissue piece.

    A U-Net needs a fixed input size; a slide (or each separate piece of tissue
    on it, so that a slide with two sections does not waste the canvas on the
    glass between them) is centred on a zero-padded ``canvas_shape`` grid.

    Parameters
    ----------
    coords : pandas.DataFrame
        One slide's tile table (``row``, ``col``).
    canvas_shape : tuple of int
        (height, width) of the canvas in tiles.
    split_pieces : bool, default True
        One canvas per 8-connected tissue piece; else one canvas for the slide.

    Returns
    -------
    list of CanvasLayout
        Largest piece first. Every tile appears on exactly one canvas.
    """
    height = positive_int("canvas_shape[0]", canvas_shape[0])
    width = positive_int("canvas_shape[1]", canvas_shape[1])
    rows, cols = grid_indices(coords)
    if len(rows) == 0:
        return []
    pieces = tissue_pieces(coords) if split_pieces else np.zeros(len(rows), dtype=np.int64)
    layouts = []
    for piece in range(int(pieces.max()) + 1):
        ids = np.flatnonzero(pieces == piece)
        r, c = rows[ids], cols[ids]
        h, w = int(r.max() - r.min()) + 1, int(c.max() - c.min()) + 1
        if h > height or w > width:
            raise InvalidParameterError(
                "canvas_shape",
                f"at least ({h}, {w}) tiles to hold this tissue piece (raise canvas_shape, "
                "or tile at a coarser mpp)",
                (height, width),
            )
        top, left = (height - h) // 2, (width - w) // 2
        layouts.append(CanvasLayout(
            tile_ids=ids, rows=r - r.min() + top, cols=c - c.min() + left,
            canvas_shape=(height, width), piece=piece if split_pieces else -1,
        ))
    return layouts
