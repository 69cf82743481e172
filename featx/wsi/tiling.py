"""Cut a slide into tiles of a fixed physical size.

A :class:`TileSpec` says how big a tile is in pixels and in microns. Every tile
covers ``tile_px * tile_mpp`` microns whatever the scanner's own resolution: it is
read from the coarsest pyramid level that is still at least as fine as the
target, then resized to ``tile_px``. The grid is a table; tiles are read in
batches of uint8 RGB arrays; :func:`tile_slide` writes the table and a drawing
of it (what ``featx tile`` runs).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from featx import __version__
from featx._io import atomic_path, write_json, write_table
from featx._validate import (
    fits_in_memory,
    fraction,
    mpp,
    non_negative_int,
    one_of,
    positive_int,
    tile_side_um,
)
from featx._validate import tile_px as check_tile_px
from featx.errors import InvalidParameterError
from featx.wsi.drawing import draw_tiling
from featx.wsi.regions import RegionFilter
from featx.wsi.slide import Slide
from featx.wsi.tissue import MIN_HOLE_UM2, TissueMask, detect_tissue

#: Columns of a tile table, in order, with their dtypes.
TILE_TABLE_COLUMNS = {
    "slide_id": "object", "col": "int64", "row": "int64", "x": "int64", "y": "int64",
    "level": "int64", "read_px": "int64", "tile_px": "int64", "tile_mpp": "float64",
    "tissue_fraction": "float64",
}


@dataclass(frozen=True)
class TileSpec:
    """How to cut tiles.

    Parameters
    ----------
    tile_px : int, default 224
        Tile side in pixels after resizing.
    tile_mpp : float, default 0.5
        Microns per pixel of the tiles (0.25 for TCGA work at 40x-equivalent,
        0.5 for NCT-CRC-HE-like tiles).
    overlap_px : int, default 0
        Overlap of neighbouring tiles, in tile pixels.
    min_tissue : float, default 0.8
        Keep tiles whose tissue fraction is at least this.
    """

    tile_px: int = 224
    tile_mpp: float = 0.5
    overlap_px: int = 0
    min_tissue: float = 0.8

    def __post_init__(self) -> None:
        # Bounds shared by every command (featx._validate): a tile of 10^9 px or at 10^9 mpp
        # is refused here rather than tiling every slide into nothing.
        tile_side_um(check_tile_px("tile_px", self.tile_px), mpp("tile_mpp", self.tile_mpp))
        if non_negative_int("overlap_px", self.overlap_px) >= self.tile_px:
            raise InvalidParameterError("overlap_px", f"an int below tile_px={self.tile_px}",
                                        self.overlap_px)
        fraction("min_tissue", self.min_tissue)

    @property
    def tile_um(self) -> float:
        """Side of a tile in microns."""
        return self.tile_px * self.tile_mpp

    @property
    def stride_px(self) -> int:
        """Step between neighbouring tiles, in tile pixels."""
        return self.tile_px - self.overlap_px

    @property
    def config(self) -> dict[str, Any]:
        """JSON identity of the tiling (recorded with every output)."""
        return asdict(self)


def empty_table() -> pd.DataFrame:
    """A tile table with no rows and the right columns."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in TILE_TABLE_COLUMNS.items()})


def grid_coords(slide: Slide, spec: TileSpec, *, tissue: TissueMask | None = None) -> pd.DataFrame:
    """The tiles of a slide that hold enough tissue.

    Parameters
    ----------
    slide : Slide
        An open slide.
    spec : TileSpec
        Tile size, resolution, overlap and tissue threshold.
    tissue : TissueMask, optional
        Precomputed tissue mask; by default :func:`~featx.wsi.tissue.detect_tissue`
        at a resolution of an eighth of a tile (at most 8 microns per pixel).

    Returns
    -------
    pandas.DataFrame
        One row per tile, columns :data:`TILE_TABLE_COLUMNS`: grid position (``col``, ``row``),
        top-left corner at level 0 (``x``, ``y``), the ``level`` read from and the
        square ``read_px`` read there, ``tile_px``, ``tile_mpp`` and ``tissue_fraction``.
        Empty (with these columns) when the slide has no tissue.
    """
    if not isinstance(spec, TileSpec):
        raise InvalidParameterError("spec", "a TileSpec", type(spec).__name__)
    if tissue is None:
        tissue = detect_tissue(slide, thumbnail_mpp=min(8.0, spec.tile_um / 8),
                               min_hole_um2=_hole_um2(spec))
    scale = spec.tile_mpp / slide.slide_mpp  # level-0 px per tile px
    if scale < 1 / 1.01:
        warnings.warn(
            f"{slide.slide_id}: tiles at {spec.tile_mpp} mpp are finer than the scan "
            f"({slide.slide_mpp:.4g} mpp), so they are upsampled", stacklevel=2,
        )
    if not tissue.mask.any() and spec.min_tissue > 0:
        return empty_table()
    tile_l0, stride_l0 = spec.tile_px * scale, spec.stride_px * scale
    n_cols = _count(slide.info.width, tile_l0, stride_l0)
    n_rows = _count(slide.info.height, tile_l0, stride_l0)
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    # Round each position (not the stride) so that no drift builds up across the slide.
    x, y = np.round(cols * stride_l0).astype(np.int64), np.round(rows * stride_l0).astype(np.int64)
    tissue_fraction = tissue.fraction(x, y, tile_l0)
    keep = tissue_fraction >= spec.min_tissue if spec.min_tissue > 0 else np.ones(x.shape, bool)
    level = slide.best_level(scale)
    read_px = max(1, round(tile_l0 / slide.info.level_downsamples[level]))
    table = pd.DataFrame({
        "slide_id": slide.slide_id, "col": cols[keep], "row": rows[keep], "x": x[keep],
        "y": y[keep], "level": level, "read_px": read_px, "tile_px": spec.tile_px,
        "tile_mpp": spec.tile_mpp, "tissue_fraction": tissue_fraction[keep],
    })
    return table.astype(TILE_TABLE_COLUMNS) if len(table) else empty_table()


def _hole_um2(spec: TileSpec) -> float:
    """Largest hole the mask fills for these tiles: a quarter tile, at most the default."""
    return min(MIN_HOLE_UM2, spec.tile_um ** 2 / 4)


def spread_indices(n: int, k: int) -> np.ndarray:
    """Indices of at most ``k`` of ``n`` items spread evenly over them (all when n <= k).

    Used to sample tiles across a whole slide, e.g. to fit its stains.
    """
    if n <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int))


def _count(extent: int, tile: float, stride: float) -> int:
    """How many whole tiles fit along an axis."""
    return 0 if extent < tile else math.floor((extent - tile) / stride + 1e-9) + 1


def read_tiles(slide: Slide, rows: pd.DataFrame, *, num_workers: int = 1) -> np.ndarray:
    """Read the tiles of some table rows.

    Parameters
    ----------
    slide : Slide
        The slide the rows belong to.
    rows : pandas.DataFrame
        Rows of a :func:`grid_coords` table.
    num_workers : int, default 1
        Threads reading in parallel (OpenSlide is thread-safe and releases the GIL).

    Returns
    -------
    numpy.ndarray
        uint8 (len(rows), tile_px, tile_px, 3).
    """
    missing = set(TILE_TABLE_COLUMNS) - set(rows.columns)
    if missing:
        raise InvalidParameterError("rows", f"a tile table with columns {sorted(TILE_TABLE_COLUMNS)}",
                                    f"a table lacking {sorted(missing)}")
    num_workers = positive_int("num_workers", num_workers)
    records = list(zip(rows["x"], rows["y"], rows["level"], rows["read_px"], rows["tile_px"]))
    if not records:
        return np.zeros((0, 0, 0, 3), np.uint8)
    side = int(records[0][4])
    fits_in_memory(f"a batch of {len(records)} tiles of {side} px", len(records) * side**2 * 3.0,
                   fix="lower the batch size or the tile size")
    out = np.empty((len(records), side, side, 3), np.uint8)

    def read_one(i: int) -> None:
        x, y, level, read_px, size = records[i]
        region = slide.read_region(int(x), int(y), int(level), int(read_px), int(read_px))
        out[i] = region if read_px == size else _resize(region, int(size))

    if num_workers == 1:
        for i in range(len(records)):
            read_one(i)
    else:
        with ThreadPoolExecutor(num_workers) as pool:
            list(pool.map(read_one, range(len(records))))
    return out


def _resize(region: np.ndarray, size: int) -> np.ndarray:
    image = Image.fromarray(region)
    factor, rest = divmod(region.shape[0], size)
    if rest == 0 and factor > 1:
        return np.asarray(image.reduce(factor))  # exact box average, six times faster
    # PIL's bicubic filter widens its support when shrinking, so it antialiases.
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC))


def iter_tile_batches(
    slide: Slide,
    coords: pd.DataFrame,
    *,
    batch_size: int = 64,
    num_workers: int = 1,
    progress: bool = False,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield the tiles of a table in batches.

    Parameters
    ----------
    slide : Slide
        The slide.
    coords : pandas.DataFrame
        A :func:`grid_coords` table (or a subset of one).
    batch_size : int, default 64
        Tiles per batch; memory is bounded by one batch.
    num_workers : int, default 1
        Threads reading each batch.
    progress : bool, default False
        Show a progress bar.

    Yields
    ------
    (pandas.DataFrame, numpy.ndarray)
        The batch's rows and its uint8 tiles (B, tile_px, tile_px, 3).
    """
    batch_size = positive_int("batch_size", batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(coords), unit="tile", desc=slide.slide_id)
    try:
        for start in range(0, len(coords), batch_size):
            rows = coords.iloc[start:start + batch_size]
            yield rows, read_tiles(slide, rows, num_workers=num_workers)
            if bar is not None:
                bar.update(len(rows))
    finally:
        if bar is not None:
            bar.close()


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
    provenance_path: Path | None = None
    n_outside_regions: int = 0


def tile_slide(slide: Slide, spec: TileSpec, *, out_dir: str | Path,
               tissue_method: str = "otsu", table_format: str = "parquet",
               regions: RegionFilter | None = None) -> TiledSlide:
    """Detect tissue, lay the grid, write the tile table, its drawing and its provenance.

    The files are ``<slide_id>.tiles.<fmt>``, ``<slide_id>.tiles.png`` and
    ``<slide_id>.tiles.provenance.json`` (the slide, the tile spec, the tissue method,
    the region filter and how many tiles it dropped).

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
    regions : RegionFilter, optional
        Keep only tiles in (or out of) annotated regions of named classes.
    """
    one_of("table_format", table_format, TABLE_FORMATS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tissue = detect_tissue(slide, thumbnail_mpp=min(8.0, spec.tile_um / 8), method=tissue_method,
                           min_hole_um2=_hole_um2(spec))
    coords = grid_coords(slide, spec, tissue=tissue)
    n_tissue = len(coords)
    if regions is not None:
        coords = regions.select(coords, width_px=slide.info.width, height_px=slide.info.height,
                                level_downsamples=slide.info.level_downsamples)
    table_path = out / f"{slide.slide_id}.tiles.{table_format}"
    write_table(coords, table_path)
    figure_path = out / f"{slide.slide_id}.tiles.png"
    with atomic_path(figure_path) as tmp:
        draw_tiling(slide, tissue, coords).save(tmp, format="PNG")
    provenance_path = write_json(out / f"{slide.slide_id}.tiles.provenance.json", {
        "featx_version": __version__, "slide": slide.info.config, "tile_spec": spec.config,
        "tissue_method": tissue_method, "n_tiles": len(coords),
        "regions": None if regions is None else {**regions.config,
                                                 "n_tiles_dropped": n_tissue - len(coords)}})
    return TiledSlide(slide.slide_id, slide.slide_mpp, len(coords), tissue.tissue_fraction,
                      table_path, figure_path, provenance_path, n_tissue - len(coords))
