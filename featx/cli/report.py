"""``featx report``: an HTML report that travels (plus Markdown and CSV) from stored results."""

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
    title: Annotated[str | None, typer.Option(
        help="Title (default: the extractors and experiments, e.g. `A vs B: tissue "
        "classification`).")] = None,
    genes: Annotated[str | None, typer.Option(
        help="Comma-separated genes the forest plots show first (default: the largest "
        "differences first).")] = None,
    bundle: Annotated[bool, typer.Option(
        "--bundle", help="Also write OUT/NAME.zip: the whole report folder, slide viewers "
        "included, that opens anywhere once unzipped.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Parent folder of the report.")] = Path(
        "reports"),
) -> None:
    """Write an HTML report (plus Markdown and CSV) from stored results.

    Nothing is recomputed: figures and tables come from the tables `featx evaluate`
    and `featx slidescore` wrote, and the provenance they recorded (extractors and
    weights hashes, stain fit, folds and seeds, featx version) is reproduced. The
    summary at the top gives every answer, what each extractor really was and the
    caveats. report.html carries its figures, tables and provenance: send it alone and
    every link but the slide viewers works; `--bundle` zips the folder with the viewers.

    \b
    Example (writes reports/luad/report.html and reports/luad.zip):
      featx report luad --results results/ --slidescores scores/ --slides slides/ --bundle
    """
    from featx.report import build_report, write_bundle, write_report
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
    wanted = [t.strip() for t in genes.split(",") if t.strip()] if genes else None
    built = build_report(title, results=results, slidescores=slidescores, store=store,
                         nearest_extractor=extractor, slides=slide_files, targets=wanted)
    files = write_report(built, out / name)
    typer.echo(f"report: {files.html.resolve()} ({len(files.figures)} figures, "
               f"{len(files.tables)} tables)")
    if bundle:
        typer.echo(f"bundle: {write_bundle(files.folder).resolve()} (unzip anywhere; every "
                   "link works)")
    typer.echo("next: open it in a browser; it prints, or saves to PDF, as it is")
