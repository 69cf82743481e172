"""The ``featx`` command-line tool.

Thin by design: each command parses options, imports the module that does the
work (lazily, so ``featx --help`` stays fast and TensorFlow loads only when a
model runs) and prints where its output went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from featx import __version__
from featx.errors import FeatxError

app = typer.Typer(
    name="featx",
    help=(
        "Whole-slide images to Macenko-normalised tile embeddings, and the statistics "
        "to compare extractors.\n\n"
        "Start with `featx demo`, then `featx info SLIDE` and `featx tile SLIDE`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

MppOption = Annotated[
    Optional[float],
    typer.Option(
        "--mpp",
        help="Microns per pixel of the slide's level 0, for slides whose metadata lacks it "
        "(overrides the metadata).",
        min=0.0, min_open=True,
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"featx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """featx command-line tool."""


@app.command()
def fetch(
    manifest: Annotated[Path, typer.Argument(
        help="A featx manifest (data_manifests/*.tsv) or a GDC portal manifest.",
        exists=True, dir_okay=False)],
    dest: Annotated[Path, typer.Option("--dest", "-d", help="Folder to download into.")] = Path(
        "featx-data"),
    local_dir: Annotated[Optional[list[Path]], typer.Option(
        "--local-dir", help="A folder that may already hold the files (searched recursively; "
        "a copy that verifies is used in place). Repeatable.")] = None,
    only: Annotated[Optional[list[str]], typer.Option(
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
    download from https://api.gdc.cancer.gov/data/<id>. Example:

        featx fetch data_manifests/nct_crc_he.tsv --dest data --only CRC-VAL-HE-7K.zip
    """
    from featx.fetch import FetchError
    from featx.fetch import fetch as run_fetch

    try:
        table = run_fetch(manifest, dest, names=only or None, local_dirs=local_dir or (),
                          retries=retries, backoff_s=backoff, timeout_s=timeout,
                          progress=progress)
    except FetchError as error:
        table = error.table
    for row in table.itertuples():
        line = f"{row.status:10s} {row.filename} -> {row.path}"
        typer.echo(line + (f"\n           {row.error}" if row.error else ""))
    if (table["status"] == "failed").any():
        raise typer.Exit(1)


def _parse_kv(pairs: list[str] | None) -> dict:
    import json

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}",
                                     param_hint="--extractor-arg")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@app.command()
def extract(
    manifest: Annotated[Path, typer.Argument(
        help="A GDC manifest (id, filename, md5, size, state) or a CSV/TSV with a `path` "
        "column (optional `slide_id`, `patient_id`).", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The store's root folder.")],
    slides: Annotated[Optional[Path], typer.Option(
        "--slides", "-s", help="Folder holding the slides (flat, or <id>/<filename> as "
        "gdc-client writes them); paths in the manifest are relative to it.")] = None,
    extractor: Annotated[str, typer.Option(
        help="Extractor name (COLORSTATS) or import path `package.module:Callable`.")
    ] = "COLORSTATS",
    extractor_arg: Annotated[Optional[list[str]], typer.Option(
        "--extractor-arg", help="KEY=VALUE passed to the extractor (JSON values). "
        "Repeatable.")] = None,
    tile_px: Annotated[int, typer.Option(help="Tile side in pixels given to the model.",
                                         min=1)] = 224,
    tile_mpp: Annotated[float, typer.Option(help="Microns per pixel of the tiles.",
                                            min=0.0, min_open=True)] = 0.5,
    min_tissue: Annotated[float, typer.Option(help="Least tissue fraction of a kept tile.",
                                              min=0.0, max=1.0)] = 0.8,
    dtype: Annotated[str, typer.Option(help="Embedding storage: float32, or float16 (half "
                                       "the disk).")] = "float32",
    batch_size: Annotated[int, typer.Option(help="Tiles per forward pass.", min=1)] = 64,
    workers: Annotated[Optional[int], typer.Option(
        help="0: run here without Dask. N: a local Dask cluster of N worker processes. "
        "Default: a local cluster sized to this machine.", min=0)] = None,
    threads_per_worker: Annotated[int, typer.Option(help="Threads per local worker.",
                                                    min=1)] = 1,
    scheduler: Annotated[Optional[str], typer.Option(
        help="Address of a running Dask scheduler (tcp://host:8786), e.g. from dask-jobqueue "
        "(SLURM) or dask-kubernetes. Overrides --workers.")] = None,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Process slides whose last status was failed again.")] = False,
    full_hash: Annotated[bool, typer.Option(
        "--full-hash", help="Fingerprint slides by a full sha256 (reads every byte) instead "
        "of size + sha256 of the first, middle and last MiB.")] = False,
    progress: Annotated[bool, typer.Option(help="Show slides and tiles per second.")] = True,
) -> None:
    """Extract tile embeddings of every slide in a manifest into a Parquet store.

    Resumable: slides already in the store with the same extractor, tiling,
    stain normaliser and slide fingerprint are skipped; killing the run at any
    moment loses at most the slides in progress. The status of every slide
    (done, no_tissue, failed with its error, missing) is in
    `OUT/extractor=NAME/_status.csv`. Example:

        featx extract gdc_manifest.txt --slides /data/luad --out store --workers 2
    """
    from featx.batch import ExtractorFactory, run_batch
    from featx.tiling import TileSpec

    factory = ExtractorFactory.of(extractor, **_parse_kv(extractor_arg))
    spec = TileSpec(tile_px=tile_px, mpp=tile_mpp, min_tissue=min_tissue)
    status = run_batch(manifest, out, slide_dir=slides, extractor=factory, spec=spec,
                       dtype=dtype, batch_size=batch_size, workers=workers,
                       threads_per_worker=threads_per_worker, scheduler=scheduler,
                       retry_failed=retry_failed, full_hash=full_hash, progress=progress)
    counts = status["status"].value_counts()
    summary = ", ".join(f"{counts[k]} {k}" for k in counts.index)
    typer.echo(f"{len(status)} slides: {summary}; {int(status['n_tiles'].sum())} tiles in {out}")
    if (status["status"] == "failed").any():
        raise typer.Exit(1)


def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
