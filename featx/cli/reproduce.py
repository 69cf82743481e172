"""``featx reproduce``: one of the paper's experiments, from public data to a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_dir


@app.command()
def reproduce(
    experiment: Annotated[str, typer.Argument(
        help="`crc-tissue` (FTX-2048 vs IMGNET-2048 on CRC-VAL-HE-7K, LinearSVC), "
        "`luad-expression` (immune-gene expression, SVR) or `luad-mutation` (LASSO).")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default reproduce/<experiment>); rerun to resume.")
    ] = None,
    small: Annotated[bool, typer.Option(
        "--small", help="The same stages on the featx data folder only (CI size; LUAD with "
        "labelled stand-in embeddings).")] = False,
    local_dir: Annotated[list[Path] | None, typer.Option(
        "--local-dir", help="A folder that may already hold inputs (zips, slides, weights, "
        "LUAD__geneExp.txt.gz, luad_maf.tsv.gz). Repeatable.")] = None,
    ftx_model: Annotated[Path | None, typer.Option(
        help="A fine-tuned FTX-2048 folder (`featx finetune`, or `crc-tissue`'s OUT/ftx); "
        "default: fine-tune here.")] = None,
    slides_manifest: Annotated[Path | None, typer.Option(
        help="LUAD: the slides, a GDC or featx manifest (e.g. from `featx gdc "
        "diagnostic-slides`); default the bundled tcga_luad_slides. Primary tumours are kept.",
        exists=True, dir_okay=False)] = None,
    repeats: Annotated[int | None, typer.Option(
        help="Repetitions of the 5-fold CV (default 50; --small 3).", min=1)] = None,
    tile_mpp: Annotated[float, typer.Option(help="Slide tile resolution (paper: 0.25).")] = 0.25,
    workers: Annotated[int, typer.Option(help="Extraction worker processes (0: here).",
                                         min=0)] = 0,
    jobs: Annotated[int, typer.Option(help="Worker processes fitting folds.", min=1)] = 1,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print what it would download, the disk and time, and stop.")] = False,
) -> None:
    """Run an experiment of the paper end to end: fetch, fine-tune, embed, targets, evaluate, report.

    Before it starts it prints what it will download, the disk it needs and the time it
    expects. Every stage is recorded in OUT/_stages.json and resumable. Examples:

        featx reproduce crc-tissue --dry-run
        featx reproduce luad-expression --small
    """
    from featx.reproduce import reproduce as run

    folder = out or Path("reproduce") / experiment
    if not dry_run:
        output_dir(folder)
    run(experiment, folder, small=small,
        local_dirs=local_dir or (), ftx_model=ftx_model, n_repeats=repeats, tile_mpp=tile_mpp,
        workers=workers, n_jobs=jobs, echo=typer.echo, dry_run=dry_run,
        slides_manifest=slides_manifest)
