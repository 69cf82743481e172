"""Slides, tissue and tiles: everything about the whole-slide image before any stain or model.

The data's first steps::

    slide file --(slide)--> Slide, SlideInfo at a true mpp
               --(tissue)--> TissueMask on a thumbnail
               --(tiling)--> tile table (grid position, level-0 x/y, level, read size)
               --(tile_grid)--> per-tile values laid out on the [row, col] grid

``annotations`` turns masks and QuPath GeoJSON into tile labels, ``drawing`` draws
the tiling over a thumbnail, and ``synthetic`` writes test slides whose answers are
known. Nothing here imports TensorFlow or any other featx layer.
"""

from featx.wsi.annotations import (
    Annotation,
    rasterise_annotations,
    read_geojson,
    tile_labels_from_geojson,
    tile_labels_from_mask,
)
from featx.wsi.drawing import draw_tiling
from featx.wsi.slide import Slide, SlideInfo, find_slides, open_slide
from featx.wsi.synthetic import Region, SyntheticSlide, render_region, write_synthetic_slide
from featx.wsi.tile_grid import canvas_layouts, grid_indices, grid_shape, values_to_grid
from featx.wsi.tiling import (
    TILE_TABLE_COLUMNS,
    TileSpec,
    grid_coords,
    iter_tile_batches,
    read_tiles,
    tile_slide,
)
from featx.wsi.tissue import TissueMask, detect_tissue

__all__ = [
    "TILE_TABLE_COLUMNS", "Annotation", "Region", "Slide", "SlideInfo", "SyntheticSlide",
    "TileSpec", "TissueMask", "canvas_layouts", "detect_tissue", "draw_tiling", "find_slides", "grid_coords",
    "grid_indices", "grid_shape", "iter_tile_batches", "open_slide", "rasterise_annotations",
    "read_geojson", "read_tiles", "render_region", "tile_labels_from_geojson", "tile_labels_from_mask",
    "tile_slide", "values_to_grid", "write_synthetic_slide",
]
