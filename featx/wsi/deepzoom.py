"""A DeepZoom pyramid over any slide featx reads, one tile at a time.

OpenSlide's own DeepZoom generator needs an OpenSlide handle; featx also reads
OME-TIFF, plain TIFF and DICOM files through other readers. :class:`DeepZoom` cuts
the pyramid of any :class:`~featx.wsi.slide.Slide`: DeepZoom level ``L`` (the
largest) is the slide's level 0, each level below halves it, and a tile of level
``l`` covers ``2 ** (L - l)`` level-0 pixels per pixel. A tile is read from the
coarsest pyramid level that is still at least as fine, in chunks of at most
:data:`CHUNK_PX` pixels shrunk one by one, so memory stays bounded by a tile plus
one chunk even for a slide stored without a pyramid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from featx._validate import non_negative_int, positive_int
from featx.errors import InvalidParameterError
from featx.wsi.slide import Slide

#: Largest side of one read; a larger region is read and shrunk chunk by chunk.
CHUNK_PX = 2048


class DeepZoom:
    """The DeepZoom pyramid of an open slide (Microsoft's DZI layout, as OpenSeadragon reads).

    Parameters
    ----------
    slide : Slide
        An open slide; it stays open and owned by the caller.
    tile_px : int, default 254
        Tile side without overlap (254 + 2 overlap gives 256-pixel images).
    overlap : int, default 1
        Pixels each tile shares with its neighbours.
    """

    def __init__(self, slide: Slide, *, tile_px: int = 254, overlap: int = 1) -> None:
        self.slide = slide
        self.tile_px = positive_int("tile_px", tile_px)
        self.overlap = non_negative_int("overlap", overlap)
        width, height = slide.info.width, slide.info.height
        self.max_level = max(0, math.ceil(math.log2(max(width, height))))
        self.level_dimensions = tuple(
            (max(1, math.ceil(width / 2 ** (self.max_level - level))),
             max(1, math.ceil(height / 2 ** (self.max_level - level))))
            for level in range(self.max_level + 1))
        self.level_tiles = tuple((math.ceil(w / self.tile_px), math.ceil(h / self.tile_px))
                                 for w, h in self.level_dimensions)

    @property
    def level_count(self) -> int:
        """Number of DeepZoom levels (level ``level_count - 1`` is the slide's level 0)."""
        return self.max_level + 1

    @property
    def tile_count(self) -> int:
        """Tiles in the whole pyramid."""
        return sum(c * r for c, r in self.level_tiles)

    def descriptor(self, url: str, *, image_format: str = "jpeg") -> dict[str, Any]:
        """The pyramid's DZI description as OpenSeadragon's ``tileSources`` takes it."""
        width, height = self.level_dimensions[-1]
        return {"Image": {"xmlns": "http://schemas.microsoft.com/deepzoom/2008", "Url": url,
                          "Format": image_format, "Overlap": str(self.overlap),
                          "TileSize": str(self.tile_px),
                          "Size": {"Width": str(width), "Height": str(height)}}}

    def tile_region(self, level: int, col: int, row: int) -> tuple[int, int, int, int, int, int]:
        """Where a tile lies: level-0 ``x, y, width, height`` and its output ``width, height``.

        Raises
        ------
        InvalidParameterError
            No such level, or no such tile on it.
        """
        if not 0 <= level <= self.max_level:
            raise InvalidParameterError("level", f"a DeepZoom level in 0..{self.max_level}", level)
        columns, rows = self.level_tiles[level]
        if not (0 <= col < columns and 0 <= row < rows):
            raise InvalidParameterError("tile", f"a tile of level {level} ({columns} x {rows})",
                                        (col, row))
        level_w, level_h = self.level_dimensions[level]
        x0 = col * self.tile_px - (self.overlap if col else 0)
        y0 = row * self.tile_px - (self.overlap if row else 0)
        x1 = min(level_w, (col + 1) * self.tile_px + self.overlap)
        y1 = min(level_h, (row + 1) * self.tile_px + self.overlap)
        scale = 2 ** (self.max_level - level)  # level-0 pixels per pixel of this level
        width, height = self.slide.info.width, self.slide.info.height
        lx, ly = x0 * scale, y0 * scale
        return (lx, ly, max(1, min(width - lx, (x1 - x0) * scale)),
                max(1, min(height - ly, (y1 - y0) * scale)), x1 - x0, y1 - y0)

    def tile(self, level: int, col: int, row: int) -> np.ndarray:
        """One tile as uint8 RGB (height, width, 3)."""
        x, y, width, height, out_w, out_h = self.tile_region(level, col, row)
        return read_scaled(self.slide, x, y, width, height, out_w, out_h)


def read_scaled(slide: Slide, x: int, y: int, width: int, height: int, out_width: int,
                out_height: int) -> np.ndarray:
    """A level-0 rectangle of a slide shrunk (or copied) to ``out_width`` x ``out_height``.

    Read from :meth:`~featx.wsi.slide.Slide.best_level` for the coarser axis's scale,
    in chunks of at most :data:`CHUNK_PX` pixels there, each shrunk (box filter) into
    its part of the output, so memory is bounded by the output plus one chunk.
    """
    scale_x, scale_y = width / out_width, height / out_height
    level = slide.best_level(max(1.0, min(scale_x, scale_y)))
    downsample = slide.info.level_downsamples[level]
    level_w, level_h = slide.info.level_dimensions[level]
    out = np.empty((out_height, out_width, 3), np.uint8)
    # Output pixels per chunk along each axis, so chunk edges fall on output pixel edges.
    step_x = max(1, int(CHUNK_PX * downsample / scale_x))
    step_y = max(1, int(CHUNK_PX * downsample / scale_y))
    for oy in range(0, out_height, step_y):
        for ox in range(0, out_width, step_x):
            ow, oh = min(step_x, out_width - ox), min(step_y, out_height - oy)
            lx0 = int((x + ox * scale_x) / downsample)
            ly0 = int((y + oy * scale_y) / downsample)
            lx1 = min(level_w, max(lx0 + 1, math.ceil((x + (ox + ow) * scale_x) / downsample)))
            ly1 = min(level_h, max(ly0 + 1, math.ceil((y + (oy + oh) * scale_y) / downsample)))
            lx0, ly0 = min(lx0, level_w - 1), min(ly0, level_h - 1)
            chunk = slide.read_region(round(lx0 * downsample), round(ly0 * downsample), level,
                                      lx1 - lx0, ly1 - ly0)
            if chunk.shape[:2] != (oh, ow):
                chunk = np.asarray(Image.fromarray(chunk).resize((ow, oh), Image.Resampling.BOX))
            out[oy:oy + oh, ox:ox + ow] = chunk
    return out


__all__ = ["CHUNK_PX", "DeepZoom", "read_scaled"]
