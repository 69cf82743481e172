"""``featx demo``: the whole pipeline on built-in data (:mod:`featx.reproduce.demo`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_dir


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("reports/demo"),
    quick: Annotated[bool, typer.Option(
        "--quick", help="Fewer slides, repetitions and epochs (one to three minutes, for "
        "tests).")
    ] = False,
) -> None:
    """Run the whole pipeline on built-in data and print where the report is.

    Generated slides with known tumour plus OpenSlide's CMU-1-Small-Region -> tissue ->
    tiles -> Macenko -> IMGNET-2048 and a small fine-tuned FTX-2048 -> Parquet store ->
    tissue classification on identical folds with paired tests -> slide scores -> an HTML
    report. Uses the public data folder (`$FEATX_DATA_DIR`) when present and downloads
    what it can otherwise. Every stage is recorded in OUT/_stages.json; a rerun skips
    what is done.
    """
    from featx.reproduce.demo import FULL, QUICK, run_demo

    output_dir(out)
    start = time.perf_counter()
    result = run_demo(out, size=QUICK if quick else FULL, echo=typer.echo)
    typer.echo(f"demo finished in {time.perf_counter() - start:.0f} s; report: "
               f"{result.report.resolve()}\nnext: open the report in a browser; then try "
               "featx info SLIDE and featx tile SLIDE on your own slides")
