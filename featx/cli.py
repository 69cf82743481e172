"""The ``featx`` command-line tool.

Thin by design: each command parses options, imports the module that does the
work (lazily, so ``featx --help`` stays fast and TensorFlow loads only when a
model runs) and prints where its output went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx import __version__
from featx.errors import FeatxError

app = typer.Typer(
    name="featx",
    help=(
        "Whole-slide images to Macenko-normalised tile embeddings, and the statistics "
        "to compare extractors.\n\n"
        "Start with `featx demo`, then `featx info SLIDE` and `featx tile SLIDE`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

MppOption = Annotated[
    float | None,
    typer.Option(
        "--mpp",
        help="Microns per pixel of the slide's level 0, for slides whose metadata lacks it "
        "(overrides the metadata).",

    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"featx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """featx command-line tool."""


@app.command()
def info(
    slide: Annotated[Path, typer.Argument(help="Slide file (any format OpenSlide reads).")],
    mpp: MppOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a slide's size, pyramid levels, vendor and microns per pixel.

    Example: `featx info CMU-1-Small-Region.svs`
    """
    import json

    from featx.slide import open_slide

    with open_slide(slide, mpp=mpp) as opened:
        details = opened.info.to_dict()
    if as_json:
        typer.echo(json.dumps(details, indent=2))
        return
    for key, value in details.items():
        typer.echo(f"{key:>18}: {value}")


@app.command()
def tile(
    slides: Annotated[list[Path], typer.Argument(help="One or more slide files.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("tiles"),
    tile_px: Annotated[int, typer.Option(help="Tile side in pixels.", min=1)] = 224,
    target_mpp: Annotated[float, typer.Option(
        help="Microns per pixel of the tiles: 0.5 for NCT-CRC-like tiles, 0.25 for TCGA work.",
        )] = 0.5,
    overlap_px: Annotated[int, typer.Option(help="Overlap between neighbouring tiles.", min=0)] = 0,
    min_tissue: Annotated[float, typer.Option(
        help="Keep tiles with at least this tissue fraction.", min=0.0, max=1.0)] = 0.8,
    tissue_method: Annotated[str, typer.Option(
        help="Tissue threshold: `otsu` or `otsu-equal-weights` (both class weights 0.5).")] = "otsu",
    table_format: Annotated[str, typer.Option("--format", help="`parquet` or `csv`.")] = "parquet",
    mpp: MppOption = None,
) -> None:
    """Find tissue and lay a tile grid at a physical resolution.

    For each slide writes `<slide_id>.tiles.parquet` (one row per tile: grid position,
    level-0 x and y, level, read size, tissue fraction) and `<slide_id>.tiles.png`
    (thumbnail with tissue tinted and tiles outlined).

    Example: `featx tile slide.svs --tile-px 224 --target-mpp 0.5 -o tiles/`
    """
    from tqdm.auto import tqdm

    from featx.slide import open_slide
    from featx.tiling import TileSpec
    from featx.tiling_job import tile_slide

    spec = TileSpec(tile_px=tile_px, mpp=target_mpp, overlap_px=overlap_px, min_tissue=min_tissue)
    for path in tqdm(slides, unit="slide", disable=len(slides) < 2):
        with open_slide(path, mpp=mpp) as opened:
            done = tile_slide(opened, spec, out_dir=out, tissue_method=tissue_method,
                              table_format=table_format)
        typer.echo(f"{done.slide_id}: {done.n_tiles} tiles -> {done.table_path}, {done.figure_path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("reports/demo"),
) -> None:
    """Run featx end to end on built-in data and print where the results are.

    Uses generated slides with known tissue, plus OpenSlide's CMU-1-Small-Region test
    slide when the public data folder (`$FEATX_DATA_DIR`) has it.
    """
    from featx.demo import run_demo

    result = run_demo(out)
    typer.echo(f"demo finished: {len(result.slides)} slides; results in {result.out_dir.resolve()}")


def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
