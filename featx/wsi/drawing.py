"""Draw on slide thumbnails: the tissue mask and the tile grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from featx.wsi.slide import Slide
from featx.wsi.tissue import TissueMask

TISSUE_TINT = (0, 160, 90)
GRID_COLOUR = (20, 60, 220)


def draw_tiling(slide: Slide, tissue: TissueMask, coords: pd.DataFrame, *,
                max_px: int = 1600, alpha: float = 0.35) -> Image.Image:
    """A thumbnail with tissue tinted green and each tile outlined in blue.

    Parameters
    ----------
    slide : Slide
        The slide the table was made from.
    tissue : TissueMask
        Mask to tint (resized to the thumbnail).
    coords : pandas.DataFrame
        Tile table from :func:`featx.wsi.tiling.grid_coords`.
    max_px : int, default 1600
        Longest side of the drawing (no finer than the mask's resolution).
    alpha : float, default 0.35
        Opacity of the tint.

    Returns
    -------
    PIL.Image.Image
    """
    longest = max(slide.info.width, slide.info.height)
    downsample = max(longest / max_px, 1.0)
    base = Image.fromarray(slide.thumbnail(thumbnail_mpp=slide.slide_mpp * downsample))
    downsample = slide.info.width / base.width
    mask = Image.fromarray(tissue.mask.astype(np.uint8) * 255).resize(base.size, Image.Resampling.NEAREST)
    tinted = Image.blend(base, Image.new("RGB", base.size, TISSUE_TINT), alpha)
    image = Image.composite(tinted, base, mask)
    draw = ImageDraw.Draw(image)
    level_ds = np.asarray(slide.info.level_downsamples)
    sides = coords["read_px"].to_numpy() * level_ds[coords["level"].to_numpy()]
    for x, y, side in zip(coords["x"], coords["y"], sides):
        draw.rectangle([x / downsample, y / downsample,
                        (x + side) / downsample - 1, (y + side) / downsample - 1],
                       outline=GRID_COLOUR, width=1)
    return image
