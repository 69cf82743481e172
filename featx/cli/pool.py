"""``featx pool``: patient- or slide-mean embeddings from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_table


@app.command()
def pool(
    store: Annotated[Path, typer.Argument(help="The store's root folder (from `featx extract`).",
                                          exists=True, file_okay=False)],
    extractor: Annotated[str, typer.Option(help="Whose embeddings, e.g. IMGNET-2048.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output table (.parquet or .csv).")],
    level: Annotated[str, typer.Option(help="`patient`: mean of all a patient's tiles (as in "
                                       "the papers); `slide`: mean per slide.")] = "patient",
    progress: Annotated[bool, typer.Option(help="Show a progress bar over slides.")] = True,
) -> None:
    """Mean embeddings per patient or per slide, one row each, from the store.

    Reads one slide file at a time.

    \b
    Example:
      featx pool store --extractor IMGNET-2048 --level patient -o patients.parquet
    """
    import warnings

    from featx._io import write_table
    from featx.embed import pool_embeddings

    output_table(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skipped files are listed below, one a line
        table = pool_embeddings(store, extractor=extractor, level=level, progress=progress)
    skipped = table.attrs.get("skipped", {})
    write_table(table, out)
    typer.echo(f"{len(table)} {level}s x {table.shape[1] - 3} features -> {out}")
    for reason in skipped.values():
        typer.echo(f"skipped {reason}", err=True)
    if skipped:
        typer.echo(f"{len(skipped)} slide file(s) left out; the others are pooled.", err=True)
        raise typer.Exit(1)
    typer.echo(f"next: featx evaluate {extractor}={out} ... -t TARGETS -e mutation")
