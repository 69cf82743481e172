"""``featx report``: a self-contained HTML report (plus Markdown and CSV) from stored results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_dir, warn


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="Report name: the folder reports/<name>/.")],
    results: Annotated[Path | None, typer.Option(
        help="Folder of `featx evaluate` outputs (tissue, expression, mutation tables).")] = None,
    slidescores: Annotated[Path | None, typer.Option(
        help="Folder of `featx slidescore` outputs.")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Embedding store, for the tiles nearest each patient's mean (needs --slides).")
    ] = None,
    extractor: Annotated[str | None, typer.Option(
        help="Whose embeddings to use for the nearest tiles (default: the store's first).")
    ] = None,
    slides: Annotated[Path | None, typer.Option(
        help="Folder of the slide files (searched recursively), for tiles and heatmap overlays.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title (default: the name).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Parent folder of the report.")] = Path(
        "reports"),
) -> None:
    """Write a self-contained HTML report (plus Markdown and CSV) from stored results.

    Nothing is recomputed: figures and tables come from the tables `featx evaluate`
    and `featx slidescore` wrote, and the provenance they recorded (extractors and
    weights hashes, stain fit, folds and seeds, featx version) is reproduced.

    \b
    Example (writes reports/luad/report.html):
      featx report luad --results results/ --slidescores scores/ --store store/ --slides slides/
    """
    from featx.report import build_report, write_report
    from featx.wsi import find_slides

    if results is None and slidescores is None:
        raise typer.BadParameter("give --results and/or --slidescores")
    if not name or Path(name).name != name or name in (".", ".."):
        raise typer.BadParameter(f"{name!r} is not a plain folder name: the report goes to "
                                 "OUT/NAME; choose the parent with -o", param_hint="NAME")
    if store is not None and slides is None:
        warn("--store is used only with --slides (to show the tiles nearest each patient's "
             "mean); without --slides it is ignored")
    output_dir(out / name)
    slide_files = find_slides(slides) if slides is not None else None
    built = build_report(title or name, results=results, slidescores=slidescores, store=store,
                         nearest_extractor=extractor, slides=slide_files)
    files = write_report(built, out / name)
    typer.echo(f"report: {files.html.resolve()} ({len(files.figures)} figures, "
               f"{len(files.tables)} tables)")
    typer.echo("next: open it in a browser; it prints, or saves to PDF, as it is")
