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


@app.command()
def normalize(
    source: Annotated[Path, typer.Argument(
        help="A folder of tiles (png, jpg, tif; searched recursively) or a slide file.")],
    target: Annotated[Path, typer.Option(
        "--target", "-t",
        help="Target H&E image whose stains every tile takes on, or the `stain_fit.json` "
        "of an earlier run (to normalise many slides to the same fit).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("normalized"),
    mode: Annotated[str, typer.Option(
        help="`per_tile`: each tile's own stains (as staintools). `per_slide`: one stain fit "
        "on a sample of the slide's (or folder's) tiles for all of them; faster, steadier.")
    ] = "per_tile",
    save_tiles: Annotated[bool | None, typer.Option(
        "--save-tiles/--no-save-tiles",
        help="Write the normalised tiles as PNG under OUT/tiles (default: yes for a folder, "
        "no for a slide).")] = None,
    background: Annotated[str, typer.Option(
        help="Glass and faint tiles: `unchanged` (returned as they are) or `normalize` "
        "(mapped with the target's or the slide's stains).")] = "unchanged",
    min_tissue_fraction: Annotated[float, typer.Option(
        help="Tiles with less tissue than this are flagged `faint`.", min=0.0, max=1.0)] = 0.02,
    montage_tiles: Annotated[int, typer.Option(help="Tiles shown in the montage.", min=1)] = 16,
    sample_tiles: Annotated[int, typer.Option(
        help="Tiles the per-slide source fit uses.", min=1)] = 32,
    batch_size: Annotated[int, typer.Option(help="Tiles normalised at once.", min=1)] = 64,
    tile_px: Annotated[int, typer.Option(help="Slides only: tile side in pixels.", min=1)] = 224,
    target_mpp: Annotated[float, typer.Option(
        help="Slides only: microns per pixel of the tiles.")] = 0.5,
    min_tissue: Annotated[float, typer.Option(
        help="Slides only: keep tiles with at least this tissue fraction.", min=0.0, max=1.0)
    ] = 0.8,
    mpp: MppOption = None,
) -> None:
    """Macenko-normalise tiles to a target image's stains; write a before/after montage.

    Writes OUT/montage.png (a spread of tiles, originals above, normalised below; tiles
    left unchanged because they are glass or faint have an orange frame), OUT/status.csv
    (one row per tile: `ok`, `background` or `faint`), OUT/stain_fit.json (the fit to
    record beside embeddings, reusable as --target) and, with --save-tiles, OUT/tiles/.

    Examples:

    `featx normalize tiles/ --target target.png -o normalized/`

    `featx normalize slide.svs --target stain_fit.json --mode per_slide --tile-px 224 --target-mpp 0.5`
    """
    from featx.stain import MacenkoNormalizer
    from featx.stain_job import normalize_folder, normalize_slide, read_rgb

    options = dict(mode=mode, background=background, min_tissue_fraction=min_tissue_fraction)
    if target.suffix.lower() == ".json":
        normalizer = MacenkoNormalizer.load(target).set_params(**options)
    else:
        normalizer = MacenkoNormalizer(**options).fit(read_rgb(target))
    common = dict(out_dir=out, montage_tiles=montage_tiles, sample_tiles=sample_tiles,
                  batch_size=batch_size, progress=True)
    if source.is_dir():
        done = normalize_folder(source, normalizer, save_tiles=save_tiles is not False, **common)
    else:
        from featx.slide import open_slide
        from featx.tiling import TileSpec

        spec = TileSpec(tile_px=tile_px, mpp=target_mpp, min_tissue=min_tissue)
        with open_slide(source, mpp=mpp) as opened:
            done = normalize_slide(opened, spec, normalizer, save_tiles=bool(save_tiles), **common)
    typer.echo(f"{len(done.table)} tiles normalised, {done.n_flagged} flagged glass or faint "
               f"(background={background}); montage {done.montage_path}, status "
               f"{done.table_path}, fit {done.fit_path}")


def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
