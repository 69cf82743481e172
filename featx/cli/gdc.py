"""``featx gdc``: manifests of a GDC project's public files, for ``featx fetch``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_table


@app.command()
def gdc(
    kind: Annotated[str, typer.Argument(
        help="`rnaseq` (STAR-counts gene expression), `diagnostic-slides`, `tissue-slides` "
        "or `maf` (masked somatic mutations).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The manifest to write (.tsv).")],
    project: Annotated[str, typer.Option(help="GDC project ID.")] = "TCGA-LUAD",
    api: Annotated[str, typer.Option(help="GDC API root.")] = "https://api.gdc.cancer.gov",
    page_size: Annotated[int, typer.Option(help="Files per query page.", min=1)] = 500,
    retries: Annotated[int, typer.Option(help="Retries after a transient HTTP error.",
                                         min=0)] = 3,
) -> None:
    """Ask the GDC API for a project's open-access files and write a featx manifest.

    The manifest (filename, url, size, md5, id, patient, sample, sample_type) is what
    `featx fetch` downloads, verified and resumable; for RNA-seq it is also the sample
    sheet of `featx targets expression --samples`. Example:

        featx gdc rnaseq --project TCGA-LUAD -o luad_rnaseq.tsv
        featx fetch luad_rnaseq.tsv --dest data
    """
    from featx._io import write_table
    from featx._validate import one_of
    from featx.downloads.gdc import KINDS, project_manifest

    one_of("kind", kind, tuple(KINDS))
    output_table(out)
    table = project_manifest(project, kind, api=api, page_size=page_size, retries=retries)
    write_table(table, out)
    import pandas as pd

    size = pd.to_numeric(table["size"], errors="coerce").sum()
    typer.echo(f"{len(table)} {kind} files of {project} ({size / 1e9:.2f} GB) from "
               f"{table['patient'].nunique()} patients -> {out}")
