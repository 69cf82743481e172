"""``featx normalize``: Macenko-normalise tiles to a target's stains, with a montage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import SlideMppOption, app, output_dir


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
    tile_mpp: Annotated[float, typer.Option(
        help="Slides only: microns per pixel of the tiles.")] = 0.5,
    min_tissue: Annotated[float, typer.Option(
        help="Slides only: keep tiles with at least this tissue fraction.", min=0.0, max=1.0)
    ] = 0.8,
    slide_mpp: SlideMppOption = None,
) -> None:
    """Macenko-normalise tiles to a target image's stains; write a before/after montage.

    Writes OUT/montage.png (a spread of tiles, originals above, normalised below; tiles
    left unchanged because they are glass or faint have an orange frame), OUT/status.csv
    (one row per tile: `ok`, `background` or `faint`), OUT/stain_fit.json (the fit to
    record beside embeddings, reusable as --target) and, with --save-tiles, OUT/tiles/.

    \b
    Examples:
      featx normalize tiles/ --target target.png -o normalized/
      featx normalize slide.svs --target stain_fit.json --mode per_slide --tile-px 224
    """
    from featx._io import read_rgb
    from featx.stain import MacenkoNormalizer, normalize_folder, normalize_slide

    output_dir(out)
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
        from featx.wsi import TileSpec, open_slide

        spec = TileSpec(tile_px=tile_px, tile_mpp=tile_mpp, min_tissue=min_tissue)
        with open_slide(source, slide_mpp=slide_mpp) as opened:
            done = normalize_slide(opened, spec, normalizer, save_tiles=bool(save_tiles), **common)
    typer.echo(f"{len(done.table)} tiles normalised, {done.n_flagged} flagged glass or faint "
               f"(background={background}); montage {done.montage_path}, status "
               f"{done.table_path}, fit {done.fit_path}")
    if done.n_unreadable:
        bad = done.table.loc[done.table["status"] == "unreadable", "error"]
        for error in bad:
            typer.echo(f"unreadable: {error}", err=True)
        typer.echo(f"{done.n_unreadable} tile(s) could not be read; the others are normalised "
                   f"(status.csv lists them).", err=True)
        raise typer.Exit(1)
    typer.echo(f"next: featx extract MANIFEST -o store --stain-fit {done.fit_path}")
