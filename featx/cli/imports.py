"""``featx import``: embeddings from TRIDENT, CLAM, slideflow or a table into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, warn


@app.command("import")
def import_command(
    sources: Annotated[list[Path], typer.Argument(
        help="Feature files or folders of them: TRIDENT/CLAM `.h5` (features + coords), "
        "slideflow `.pt` bags (with `<slide>.index.npz`), CSV/TSV/Parquet tables (a slide "
        "column, optional level-0 x/y, feature columns), or h5 files `featx export` wrote.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The store's root folder.")],
    extractor: Annotated[str, typer.Option(
        "--extractor", "-x", help="Name of the imported extractor: the store partition "
        "`extractor=NAME` (e.g. UNI, CONCH, CTRANSPATH).")],
    source_format: Annotated[str, typer.Option(
        "--format", help="`auto` (from suffix and attributes), `trident`, `clam`, `slideflow`, "
        "`table` or `featx-h5`.")] = "auto",
    slide_mpp: Annotated[float | None, typer.Option(
        help="Level-0 microns per pixel of the slides: gives each tile's mpp and size in "
        "microns (sources record magnifications or levels, not microns).", min=0.0)] = None,
    patch_px: Annotated[int | None, typer.Option(
        help="Tile side in level-0 pixels where the source does not say it (default: its "
        "attributes, else the spacing of its coordinates).", min=1)] = None,
    tile_um: Annotated[float | None, typer.Option(
        help="Tile side in microns (slideflow; default its bags_config.json).", min=0.0)] = None,
    coords_downsample: Annotated[float, typer.Option(
        help="Factor taking h5 coordinates to level 0 (TRIDENT and CLAM write level 0).",
        min=0.0)] = 1.0,
    slide_column: Annotated[str, typer.Option(help="Tables: the slide column.")] = "slide_id",
    feature_prefix: Annotated[str | None, typer.Option(
        help="Tables: prefix of the feature columns (default: every numeric column that is "
        "not tile metadata).")] = None,
    dtype: Annotated[str, typer.Option(help="Embedding storage: float32 or float16.")] = "float32",
) -> None:
    """Import embeddings other tools wrote into the featx store, resumably.

    Coordinates become level-0 top-left corners (slideflow's centres are shifted by half
    a tile); the source file's sha256 and attributes go into each store file's
    provenance. A slide already imported from the same file with the same options is
    skipped; a bad file fails alone (see `OUT/extractor=NAME/_status.csv`). Example:

        featx import trident_out/20x_256px/features_uni_v1 --extractor UNI --out store
    """
    from featx.embed.interop import import_embeddings

    status = import_embeddings(sources, out, extractor=extractor, source_format=source_format,
                               slide_mpp=slide_mpp, patch_px=patch_px, tile_um=tile_um,
                               coords_downsample=coords_downsample, slide_column=slide_column,
                               feature_prefix=feature_prefix, dtype=dtype)
    failed = status[status["status"] == "failed"]
    for row in failed.itertuples():
        typer.secho(f"failed: {row.path}: {row.error}", err=True, fg=typer.colors.RED)
    empty = int((status["status"] == "no_tissue").sum())
    typer.echo(f"{len(status) - len(failed)} slides imported as {extractor} "
               f"({int(status['n_tiles'].sum())} tiles) into {out}; {len(failed)} failed")
    if empty:
        warn(f"{empty} of them had no tiles in their source file (recorded no_tissue)")
    if len(failed):
        raise typer.Exit(1)
