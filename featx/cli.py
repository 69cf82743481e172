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


def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
