"""``featx export``: store embeddings as CLAM/TRIDENT h5 files for MIL tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app


@app.command()
def export(
    store: Annotated[Path, typer.Argument(help="The featx store's root folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    export_format: Annotated[str, typer.Option("--format", help="`h5` (CLAM/TRIDENT layout).")
                             ] = "h5",
    extractor: Annotated[str | None, typer.Option(
        help="Only this extractor (default: every one in the store).")] = None,
) -> None:
    """Write store embeddings as h5 files that CLAM and TRIDENT's MIL code reads.

    One `OUT/<extractor>/<slide_id>.h5` per slide: `features` (n_tiles, n_features) and
    `coords` (level-0 top-left x, y), with featx's tile columns and provenance beside
    them, so `featx import` gives the store file back bit for bit. Example:

        featx export store --format h5 --extractor FTX-2048 --out h5/
    """
    from featx.embed.interop import export_embeddings

    files = export_embeddings(store, out, extractor=extractor, fmt=export_format)
    typer.echo(f"{len(files)} slides exported to {out}")
