"""``featx export``: store embeddings for other tools: MIL h5, QuPath GeoJSON, AnnData."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app

#: What ``--format`` takes.
FORMATS = ("h5", "geojson", "anndata")


@app.command()
def export(
    store: Annotated[Path, typer.Argument(help="The featx store's root folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    export_format: Annotated[str, typer.Option(
        "--format", help="`h5` (CLAM/TRIDENT layout), `geojson` (QuPath objects) or `anndata` "
        "(.h5ad for scanpy/squidpy; featx[anndata]).")] = "h5",
    extractor: Annotated[str | None, typer.Option(
        help="Only this extractor (default: every one in the store).")] = None,
    slidescores: Annotated[Path | None, typer.Option(
        "--slidescores", help="geojson: a `featx slidescore` folder, for each tile's tumour "
        "probability and heatmap score and the slides' tumour regions (featx[qupath]).",
        exists=True, file_okay=False)] = None,
    clusters: Annotated[int, typer.Option(
        help="geojson: each tile's cluster among this many (one k-means over the "
        "extractor's tiles); 0 for none.", min=0, max=50)] = 8,
    threshold: Annotated[float, typer.Option(
        help="geojson: tumour probability from which a tile counts as Tumor.", min=0.0,
        max=1.0)] = 0.5,
) -> None:
    """Write store embeddings for MIL tools, QuPath or scverse.

    \b
    h5:      OUT/<extractor>/<slide_id>.h5, `features` and level-0 `coords`, with featx's
             columns and provenance beside them (`featx import` gives them back bit for bit).
    geojson: OUT/<extractor>/<slide_id>.geojson for QuPath's File > Import objects: each
             tile a detection with its measurements (tissue fraction, cluster, and with
             --slidescores tumour probability and heatmap score); tumour and non-tumour
             regions as classified annotations carrying the slide's scores.
    anndata: OUT/<extractor>.h5ad: embeddings as X; slide, patient, tile position, tile mpp
             and tissue fraction in obs; tile centres in obsm["spatial"]; provenance in uns.

    \b
    Examples:
      featx export store --format h5 --extractor FTX-2048 --out h5/
      featx export store --format geojson --slidescores scores/ --out qupath/
      featx export store --format anndata --out h5ad/
    """
    if export_format not in FORMATS:
        raise typer.BadParameter(f"one of {', '.join(FORMATS)}, not {export_format!r}",
                                 param_hint="--format")
    if export_format != "h5":  # h5 exports the whole files, then names the damaged ones
        from featx.embed.store import check_store

        check_store(store, extractor=extractor)
    if export_format == "h5":
        from featx.embed.interop import export_embeddings

        files = export_embeddings(store, out, extractor=extractor, fmt="h5")
    elif export_format == "anndata":
        from featx.embed.anndata_export import export_anndata

        files = export_anndata(store, out, extractor=extractor)
    else:
        files = _geojson(store, out, extractor, slidescores, clusters, threshold)
    typer.echo(f"{len(files)} {'files' if export_format == 'anndata' else 'slides'} exported "
               f"to {out}")


def _geojson(store: Path, out: Path, extractor: str | None, slidescores: Path | None,
             clusters: int, threshold: float) -> list[Path]:
    import numpy as np

    from featx._io import read_table
    from featx.embed.qupath_export import export_geojson

    probabilities = scores = heatmaps = None
    if slidescores is not None:
        tiles = slidescores / "tile_probabilities.parquet"
        if not tiles.is_file():
            raise typer.BadParameter(f"no tile_probabilities.parquet in {slidescores}; pass the "
                                     "folder `featx slidescore` wrote", param_hint="--slidescores")
        probabilities = read_table(tiles, what="tile probabilities")
        if (slidescores / "slide_scores.csv").is_file():
            scores = read_table(slidescores / "slide_scores.csv", what="slide scores",
                                dtype={"slide_id": str})
        if (slidescores / "heatmaps.npz").is_file():
            with np.load(slidescores / "heatmaps.npz") as grids:
                heatmaps = {k: grids[k] for k in grids.files}
    return export_geojson(store, out, extractor=extractor, probabilities=probabilities,
                          slide_scores=scores, heatmaps=heatmaps, n_clusters=clusters,
                          threshold=threshold)
