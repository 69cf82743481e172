"""Tile one slide end to end: tissue, grid, table file and drawing (what ``featx tile`` runs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from featx.atomic import atomic_path
from featx.overlay import draw_tiling
from featx.slide import Slide
from featx.tiling import TileSpec, grid_coords
from featx.tissue import detect_tissue

TABLE_FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class TiledSlide:
    """Outputs of :func:`tile_slide`."""

    slide_id: str
    slide_mpp: float
    n_tiles: int
    tissue_fraction: float
    table_path: Path
    figure_path: Path


def tile_slide(slide: Slide, spec: TileSpec, *, out_dir: str | Path,
               tissue_method: str = "otsu", table_format: str = "parquet") -> TiledSlide:
    """Detect tissue, lay the grid, write ``<slide_id>.tiles.<fmt>`` and ``<slide_id>.tiles.png``.

    Parameters
    ----------
    slide : Slide
        An open slide.
    spec : TileSpec
        Tiling parameters.
    out_dir : str or Path
        Folder for the table and the drawing (created).
    tissue_method : {"otsu", "otsu-equal-weights"}
        Tissue threshold criterion.
    table_format : {"parquet", "csv"}
        Format of the coordinate table.
    """
    from featx._validate import one_of

    one_of("table_format", table_format, TABLE_FORMATS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tissue = detect_tissue(slide, mpp=min(8.0, spec.tile_um / 8), method=tissue_method)
    coords = grid_coords(slide, spec, tissue=tissue)
    table_path = out / f"{slide.slide_id}.tiles.{table_format}"
    with atomic_path(table_path) as tmp:
        if table_format == "parquet":
            coords.to_parquet(tmp, index=False)
        else:
            coords.to_csv(tmp, index=False)
    figure_path = out / f"{slide.slide_id}.tiles.png"
    with atomic_path(figure_path) as tmp:
        draw_tiling(slide, tissue, coords).save(tmp, format="PNG")
    return TiledSlide(slide.slide_id, slide.mpp, len(coords), tissue.tissue_fraction,
                      table_path, figure_path)
