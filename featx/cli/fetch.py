"""``featx fetch``: verified, resumable downloads of what a manifest names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_dir


@app.command()
def fetch(
    manifest: Annotated[str, typer.Argument(
        help="A featx manifest or a GDC portal manifest: a file, or the name of one shipped "
        "with featx (tcga_luad_slides, nct_crc_he, openslide_testdata, xception_weights, "
        "luad_targets).")],
    dest: Annotated[Path, typer.Option("--dest", "-d", help="Folder to download into.")] = Path(
        "featx-data"),
    local_dir: Annotated[list[Path] | None, typer.Option(
        "--local-dir", help="A folder that may already hold the files (searched recursively; "
        "a copy that verifies is used in place). Repeatable.")] = None,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Fetch only this file name. Repeatable.")] = None,
    retries: Annotated[int, typer.Option(help="Retries per file after a transient error.",
                                         min=0)] = 5,
    backoff: Annotated[float, typer.Option(help="First wait between retries, in seconds "
                                           "(doubles each retry).", min=0.0)] = 2.0,
    timeout: Annotated[float, typer.Option(help="Socket timeout in seconds.", min=0.1)] = 60.0,
    progress: Annotated[bool, typer.Option(help="Show download progress.")] = True,
) -> None:
    """Download the files a manifest names, verified by size and md5/sha256.

    Interrupted downloads resume from `<file>.part` (HTTP Range); a file that
    fails its checksum is deleted, never kept under its final name. GDC manifests
    download from https://api.gdc.cancer.gov/data/<id>.

    \b
    Example:
      featx fetch nct_crc_he --dest data --only CRC-VAL-HE-7K.zip
    """
    from featx.downloads.fetch import fetch as run_fetch
    from featx.downloads.manifests import find_manifest
    from featx.errors import FetchError

    path = find_manifest(manifest)
    output_dir(dest, option="--dest")
    try:
        table = run_fetch(path, dest, names=only or None, local_dirs=local_dir or (),
                          retries=retries, backoff_s=backoff, timeout_s=timeout,
                          progress=progress)
    except FetchError as error:
        table = error.table
    for row in table.itertuples():
        line = f"{row.status:10s} {row.filename} -> {row.path}"
        typer.echo(line + (f"\n           {row.error}" if row.error else ""))
    if (table["status"] == "failed").any():
        raise typer.Exit(1)
