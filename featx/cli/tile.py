"""``featx tile``: tissue mask and tile grid of slides, as tables and drawings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import SlideMppOption, app, output_dir
from featx.cli._regions import (
    AnnotationsOption,
    ExcludeClassOption,
    KeepClassOption,
    MinAnnotatedOption,
    annotation_file,
    region_filter,
)


@app.command()
def tile(
    slides: Annotated[list[Path], typer.Argument(help="One or more slide files.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("tiles"),
    tile_px: Annotated[int, typer.Option(help="Tile side in pixels.", min=1)] = 224,
    tile_mpp: Annotated[float, typer.Option(
        help="Microns per pixel of the tiles: 0.5 for NCT-CRC-like tiles, 0.25 for TCGA work.",
        )] = 0.5,
    overlap_px: Annotated[int, typer.Option(help="Overlap between neighbouring tiles.", min=0)] = 0,
    min_tissue: Annotated[float, typer.Option(
        help="Keep tiles with at least this tissue fraction.", min=0.0, max=1.0)] = 0.8,
    tissue_method: Annotated[str, typer.Option(
        help="Tissue threshold: `otsu` or `otsu-equal-weights` (both class weights 0.5).")] = "otsu",
    table_format: Annotated[str, typer.Option("--format", help="`parquet` or `csv`.")] = "parquet",
    slide_mpp: SlideMppOption = None,
    annotations: AnnotationsOption = None,
    keep_class: KeepClassOption = None,
    exclude_class: ExcludeClassOption = None,
    min_annotated: MinAnnotatedOption = 0.5,
) -> None:
    """Find tissue and lay a tile grid at a physical resolution.

    For each slide writes `<slide_id>.tiles.parquet` (one row per tile: grid position,
    level-0 x and y, level, read size, tissue fraction) and `<slide_id>.tiles.png`
    (thumbnail with tissue tinted and tiles outlined), and `<slide_id>.tiles.provenance.json`.
    With QuPath annotations, only tiles inside regions of the --keep-class classes (and
    outside those of --exclude-class) are kept; the file's sha256 goes into the provenance.

    \b
    Example:
      featx tile slide.svs --tile-px 224 --tile-mpp 0.5 -o tiles/
      featx tile slide.svs --annotations slide.geojson --keep-class Tumor -o tiles/
    """
    from tqdm.auto import tqdm

    from featx.errors import DataNotFoundError, SlideError
    from featx.wsi import TileSpec, open_slide, tile_slide

    output_dir(out)
    spec = TileSpec(tile_px=tile_px, tile_mpp=tile_mpp, overlap_px=overlap_px, min_tissue=min_tissue)
    regions = region_filter(keep_class, exclude_class, min_annotated)
    failed = []
    for path in tqdm(slides, unit="slide", disable=len(slides) < 2):
        try:
            with open_slide(path, slide_mpp=slide_mpp) as opened:
                bound = (None if regions is None else
                         regions.for_file(annotation_file(annotations, opened.slide_id)))
                done = tile_slide(opened, spec, out_dir=out, tissue_method=tissue_method,
                                  table_format=table_format, regions=bound)
        except (SlideError, DataNotFoundError) as error:
            if len(slides) == 1:
                raise
            failed.append(path)  # one bad slide never stops the others
            typer.echo(f"skipped {error}", err=True)
            continue
        dropped = f" ({done.n_outside_regions} outside the regions left out)" if regions else ""
        typer.echo(f"{done.slide_id}: {done.n_tiles} tiles{dropped} -> {done.table_path}, "
                   f"{done.figure_path}")
    if failed:
        typer.echo(f"{len(failed)} of {len(slides)} slides could not be read; the others are "
                   "tiled.", err=True)
        raise typer.Exit(1)
    typer.echo("next: look at the drawing, then featx normalize SLIDE -t TARGET or featx extract")
