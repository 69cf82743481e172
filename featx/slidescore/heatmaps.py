"""Tumour-probability heatmaps: tile probabilities on the slide's grid, and pictures of them.

A heatmap is a float array indexed ``[row, col]`` like the tile grid, holding
each tissue tile's probability and NaN where there is no tissue tile, so that
"no tissue" can never be mistaken for "probability 0". Slide scores
(:mod:`featx.slidescore.scores`) read it; :func:`save_overlay_png` draws it over the
slide's thumbnail.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from featx._io import atomic_path
from featx._validate import fraction, positive_float, positive_int
from featx.errors import InvalidParameterError
from featx.wsi.tile_grid import grid_indices, tile_extent_l0, values_to_grid


def tile_heatmap(
    coords: pd.DataFrame,
    probabilities: np.ndarray,
    *,
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Lay tile probabilities onto the grid.

    Parameters
    ----------
    coords : pandas.DataFrame
        One slide's tile table (``row``, ``col``).
    probabilities : numpy.ndarray, shape (n_tiles,)
        Tumour probability of each tile, in [0, 1], aligned with ``coords``.
    shape : tuple of int, optional
        Grid (n_rows, n_cols); default the smallest holding every tile.

    Returns
    -------
    numpy.ndarray of float32, shape (n_rows, n_cols)
        NaN where there is no tissue tile.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 1:
        raise InvalidParameterError("probabilities", "a 1-D array (one per tile)",
                                    probabilities.shape)
    if not np.all(np.isfinite(probabilities)):
        raise InvalidParameterError("probabilities", "finite values",
                                    f"{int(np.sum(~np.isfinite(probabilities)))} NaN/inf")
    if probabilities.size and (probabilities.min() < 0 or probabilities.max() > 1):
        raise InvalidParameterError("probabilities", "values in [0, 1]",
                                    (float(probabilities.min()), float(probabilities.max())))
    return values_to_grid(coords, probabilities, shape=shape).astype(np.float32)


def check_heatmap(heatmap: np.ndarray, *, name: str = "heatmap") -> np.ndarray:
    """Return ``heatmap`` as float64 if it is a 2-D grid with at least one tissue cell."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2:
        raise InvalidParameterError(name, "a 2-D [row, col] grid", heatmap.shape)
    valid = ~np.isnan(heatmap)
    if not valid.any():
        raise InvalidParameterError(
            name, "at least one tissue tile (a non-NaN cell)", "an all-NaN grid; "
            "the slide had no tissue tiles: check its tissue mask or lower min_tissue",
        )
    values = heatmap[valid]
    if np.isinf(values).any() or values.min() < 0 or values.max() > 1:
        raise InvalidParameterError(name, "probabilities in [0, 1] (NaN for no tissue)",
                                    (float(values.min()), float(values.max())))
    return heatmap


def upsample_heatmap(heatmap: np.ndarray, factor: int) -> np.ndarray:
    """Repeat each cell ``factor`` x ``factor`` times (nearest-neighbour upsampling)."""
    factor = positive_int("factor", factor)
    heatmap = np.asarray(heatmap)
    return np.repeat(np.repeat(heatmap, factor, axis=0), factor, axis=1)


def heatmap_rgba(
    heatmap: np.ndarray, *, cmap: str = "inferno", vmin: float = 0.0, vmax: float = 1.0,
    alpha: float = 1.0,
) -> np.ndarray:
    """Colour a heatmap with a matplotlib colormap; NaN cells are fully transparent.

    Returns
    -------
    numpy.ndarray of uint8, shape (n_rows, n_cols, 4)
    """
    import matplotlib

    heatmap = np.asarray(heatmap, dtype=np.float64)
    alpha = fraction("alpha", alpha)
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise InvalidParameterError("cmap", "a matplotlib colormap name", cmap) from None
    scaled = np.clip((heatmap - vmin) / max(vmax - vmin, 1e-12), 0, 1)
    rgba = colormap(np.nan_to_num(scaled))
    rgba[..., 3] = np.where(np.isnan(heatmap), 0.0, alpha)
    return (rgba * 255).round().astype(np.uint8)


def save_heatmap_png(
    heatmap: np.ndarray, path: str | Path, *, cmap: str = "inferno", cell_px: int = 8
) -> Path:
    """Write the heatmap alone as a PNG, ``cell_px`` pixels per tile, no tissue transparent."""
    from PIL import Image

    cell_px = positive_int("cell_px", cell_px)
    rgba = heatmap_rgba(check_heatmap(heatmap), cmap=cmap)
    with atomic_path(path) as tmp:
        Image.fromarray(upsample_heatmap(rgba, cell_px)).save(tmp, format="PNG")
    return Path(path)


def overlay_on_thumbnail(
    thumbnail: np.ndarray,
    coords: pd.DataFrame,
    probabilities: np.ndarray,
    *,
    downsample: float,
    level_downsamples: Sequence[float] | None = None,
    cmap: str = "inferno",
    alpha: float = 0.5,
) -> np.ndarray:
    """Blend tile probabilities over a thumbnail, each tile painted over its own footprint.

    Painting footprints (rather than stretching the grid) keeps the overlay
    exact whatever the tile overlap or the thumbnail's rounding.

    Parameters
    ----------
    thumbnail : numpy.ndarray
        uint8 RGB (h, w, 3), e.g. ``slide.thumbnail(thumbnail_mpp=8)``.
    coords : pandas.DataFrame
        The slide's tile table (``x``, ``y`` at level 0, ``read_px``, ``level``).
    probabilities : numpy.ndarray, shape (n_tiles,)
        Tile tumour probabilities in [0, 1].
    downsample : float
        Level-0 pixels per thumbnail pixel (``slide.info.width / thumbnail.shape[1]``).
    level_downsamples : sequence of float, optional
        The slide's level downsamples, when tiles were read above level 0.
    cmap : str, default "inferno"
        Matplotlib colormap.
    alpha : float, default 0.5
        Opacity of the heatmap over tissue.

    Returns
    -------
    numpy.ndarray of uint8, shape (h, w, 3)
    """
    thumbnail = np.asarray(thumbnail)
    if thumbnail.ndim != 3 or thumbnail.shape[2] != 3 or thumbnail.dtype != np.uint8:
        raise InvalidParameterError("thumbnail", "a uint8 RGB array (h, w, 3)",
                                    (thumbnail.shape, thumbnail.dtype))
    downsample = positive_float("downsample", downsample)
    alpha = fraction("alpha", alpha)
    grid = tile_heatmap(coords, probabilities)  # validates probabilities and the grid
    rows, cols = grid_indices(coords)
    colours = heatmap_rgba(grid, cmap=cmap)[rows, cols, :3].astype(np.float64)
    size = tile_extent_l0(coords, level_downsamples=level_downsamples) / downsample
    x0 = np.round(coords["x"].to_numpy(dtype=np.float64) / downsample).astype(int)
    y0 = np.round(coords["y"].to_numpy(dtype=np.float64) / downsample).astype(int)
    x1 = np.maximum(np.round(x0 + size).astype(int), x0 + 1)
    y1 = np.maximum(np.round(y0 + size).astype(int), y0 + 1)
    h, w = thumbnail.shape[:2]
    layer = np.zeros((h, w, 3))
    weight = np.zeros((h, w, 1))
    for i in range(len(colours)):  # overlapping tiles average their colours
        ya, yb, xa, xb = max(y0[i], 0), min(y1[i], h), max(x0[i], 0), min(x1[i], w)
        layer[ya:yb, xa:xb] += colours[i]
        weight[ya:yb, xa:xb] += 1
    covered = weight > 0
    blended = np.where(covered, (1 - alpha) * thumbnail + alpha * layer / np.maximum(weight, 1),
                       thumbnail)
    return blended.round().astype(np.uint8)


def save_overlay_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB overlay (from :func:`overlay_on_thumbnail`) as a PNG."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp, format="PNG")
    return Path(path)


def heatmaps_from_table(table: pd.DataFrame, *, prob_column: str = "prob") -> dict[str, np.ndarray]:
    """One heatmap per slide from a tile-probability table.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``slide_id``, ``row``, ``col`` and ``prob_column`` (one row per tile).
    prob_column : str, default "prob"
        Column of tumour probabilities.

    Returns
    -------
    dict of str to numpy.ndarray
        Slide id -> heatmap, in order of first appearance.
    """
    missing = [c for c in ("slide_id", "row", "col", prob_column) if c not in table.columns]
    if missing:
        raise InvalidParameterError(
            "table", f"columns slide_id, row, col and {prob_column!r} (missing {missing})",
            list(table.columns))
    return {str(slide_id): tile_heatmap(rows, rows[prob_column].to_numpy())
            for slide_id, rows in table.groupby("slide_id", sort=False)}
