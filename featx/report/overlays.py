"""Per-tile values over a slide: the layers ``featx view`` lays over it and reads out.

A layer is one value per tile (a tumour probability, a smoothed heatmap cell, an
embedding cluster) with the tile's place on the slide. It is drawn as one transparent
PNG covering the whole slide (each tile painted over its level-0 footprint, at most
:data:`OVERLAY_MAX_PX` on a side: finer than a tile is never needed) and sent as a
[row, col] grid so the page reads the value under the pointer without asking again.

Layers come from what earlier steps wrote: ``featx slidescore``'s
``tile_probabilities.parquet`` and ``heatmaps.npz``, and a store's embeddings through
one k-means over its tiles (:mod:`featx.embed.clusters`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from featx.errors import DataError
from featx.wsi.tile_grid import grid_shape, tile_extent_l0, values_to_grid

#: Largest side of an overlay image.
OVERLAY_MAX_PX = 2048
#: Colour maps: continuous values in [0, 1], and categories.
CONTINUOUS_CMAP, CATEGORICAL_CMAP = "inferno", "tab10"
KINDS = ("continuous", "categorical")
#: Tile-table columns a layer needs.
GEOMETRY_COLUMNS = ("x", "y", "level", "read_px", "col", "row")


@dataclass(frozen=True)
class OverlayLayer:
    """One value per tile of a slide, to paint over it and read out.

    Attributes
    ----------
    name : str
        Identifier in URLs (``probability``, ``heatmap``, ``clusters``).
    label : str
        What the value is, for the colour bar and the read-out.
    kind : {"continuous", "categorical"}
        Continuous values lie in [0, 1]; categorical ones are small non-negative ints.
    tiles : pandas.DataFrame
        :data:`GEOMETRY_COLUMNS` and ``value`` (NaN: nothing to show there).
    n_classes : int
        Categories of a categorical layer.
    """

    name: str
    label: str
    kind: str
    tiles: pd.DataFrame
    n_classes: int = 0

    def __post_init__(self) -> None:
        missing = {*GEOMETRY_COLUMNS, "value"} - set(self.tiles.columns)
        if missing:
            raise DataError(f"overlay {self.name}", f"no columns {sorted(missing)}",
                            "Pass a tile table with its grid columns and a value column")
        if self.kind not in KINDS:
            raise DataError(f"overlay {self.name}", f"kind {self.kind!r}", f"Use one of {KINDS}")

    def colours(self) -> np.ndarray:
        """RGBA uint8 of every tile (transparent where the value is NaN)."""
        import matplotlib

        values = self.tiles["value"].to_numpy(float)
        if self.kind == "continuous":
            rgba = matplotlib.colormaps[CONTINUOUS_CMAP](np.clip(np.nan_to_num(values), 0, 1))
        else:
            rgba = matplotlib.colormaps[CATEGORICAL_CMAP](np.nan_to_num(values).astype(int) % 10)
        rgba = (rgba * 255).round().astype(np.uint8)
        rgba[np.isnan(values), 3] = 0
        return rgba

    def png(self, size: tuple[int, int], level_downsamples: Sequence[float]) -> bytes:
        """The layer as a transparent RGBA PNG covering a slide of level-0 ``size``."""
        from PIL import Image

        width, height = size
        scale = max(1.0, max(width, height) / OVERLAY_MAX_PX)
        canvas = np.zeros((max(1, round(height / scale)), max(1, round(width / scale)), 4),
                          np.uint8)
        # Each edge rounded on its own, so neighbouring tiles meet without a gap.
        x0 = np.round(self.tiles["x"].to_numpy(float) / scale).astype(int)
        y0 = np.round(self.tiles["y"].to_numpy(float) / scale).astype(int)
        sides = tile_extent_l0(self.tiles, level_downsamples=level_downsamples)
        x1 = np.maximum(x0 + 1, np.round((self.tiles["x"].to_numpy() + sides) / scale).astype(int))
        y1 = np.maximum(y0 + 1, np.round((self.tiles["y"].to_numpy() + sides) / scale).astype(int))
        for a, b, c, d, colour in zip(x0, y0, x1, y1, self.colours()):
            canvas[b:d, a:c] = colour
        buffer = io.BytesIO()
        Image.fromarray(canvas, "RGBA").save(buffer, format="PNG")
        return buffer.getvalue()

    def grid(self, level_downsamples: Sequence[float]) -> dict[str, Any]:
        """The values on the [row, col] grid with its level-0 geometry, JSON-ready.

        ``stride`` is the level-0 step between neighbouring tiles and ``extent`` a
        tile's level-0 side: the tile under level-0 point (x, y) is row ``y // stride``,
        column ``x // stride``, if the point lies within ``extent`` of that corner.
        """
        tiles = self.tiles
        n_rows, n_cols = grid_shape(tiles)
        values = values_to_grid(tiles, tiles["value"].to_numpy(float))
        extent = tile_extent_l0(tiles, level_downsamples=level_downsamples)
        return {"name": self.name, "label": self.label, "kind": self.kind,
                "stride": grid_stride(tiles, float(np.median(extent)) if len(tiles) else 1.0),
                "extent": float(np.median(extent)) if len(tiles) else 1.0,
                "rows": n_rows, "cols": n_cols,
                "values": [None if np.isnan(v) else round(float(v), 4) for v in values.ravel()]}

    def legend(self) -> dict[str, Any]:
        """What the colour bar shows: a gradient over [0, 1], or one swatch per category."""
        import matplotlib

        if self.kind == "continuous":
            stops = matplotlib.colormaps[CONTINUOUS_CMAP](np.linspace(0, 1, 11))
            return {"kind": self.kind, "label": self.label,
                    "stops": [_css(c) for c in stops]}
        cmap = matplotlib.colormaps[CATEGORICAL_CMAP]
        return {"kind": self.kind, "label": self.label,
                "swatches": [[str(i), _css(cmap(i % 10))] for i in range(self.n_classes)]}


def _css(rgba: Sequence[float]) -> str:
    r, g, b = (int(round(c * 255)) for c in rgba[:3])
    return f"rgb({r},{g},{b})"


def grid_stride(tiles: pd.DataFrame, default: float) -> float:
    """Level-0 pixels between neighbouring grid cells (``x = round(col * stride)``)."""
    for axis, index in (("x", "col"), ("y", "row")):
        far = tiles[index].to_numpy() > 0
        if far.any():
            return float(np.median(tiles[axis].to_numpy(float)[far] / tiles[index].to_numpy()[far]))
    return default


def probability_layer(tiles: pd.DataFrame, *, column: str = "prob") -> OverlayLayer:
    """Tile tumour probabilities (``featx slidescore``'s ``tile_probabilities`` rows of a slide)."""
    return OverlayLayer("probability", "tumour probability", "continuous",
                        _with_value(tiles, tiles[column] if column in tiles else None, column))


def heatmap_layer(tiles: pd.DataFrame, grid: np.ndarray) -> OverlayLayer:
    """A slide's heatmap (a [row, col] array of ``heatmaps.npz``) on its tiles' places."""
    rows, cols = tiles["row"].to_numpy(), tiles["col"].to_numpy()
    inside = (rows < grid.shape[0]) & (cols < grid.shape[1])
    values = np.full(len(tiles), np.nan)
    values[inside] = np.asarray(grid, float)[rows[inside], cols[inside]]
    return OverlayLayer("heatmap", "heatmap (smoothed tumour probability)", "continuous",
                        _with_value(tiles, values, "heatmap"))


def cluster_layer(tiles: pd.DataFrame, *, n_clusters: int, extractor: str) -> OverlayLayer:
    """Embedding clusters (:func:`featx.embed.clusters.slide_tile_clusters` rows)."""
    return OverlayLayer("clusters", f"{extractor} embedding cluster", "categorical",
                        _with_value(tiles, tiles["cluster"] if "cluster" in tiles else None,
                                    "cluster"), n_classes=n_clusters)


def _with_value(tiles: pd.DataFrame, values: Any, what: str) -> pd.DataFrame:
    if values is None:
        raise DataError("overlay", f"no {what!r} column", "Pass the table featx wrote")
    out = tiles[list(GEOMETRY_COLUMNS)].copy()
    out["value"] = np.asarray(values, float)
    return out.reset_index(drop=True)


__all__ = ["GEOMETRY_COLUMNS", "OVERLAY_MAX_PX", "OverlayLayer", "cluster_layer", "grid_stride",
           "heatmap_layer", "probability_layer"]
