"""The ``featx`` Typer app and what every command shares: the ``--mpp`` option, ``KEY=VALUE`` parsing.

Each command lives in its own module of :mod:`featx.cli`, parses its options,
imports the library function that does the work (lazily, so ``featx --help``
stays fast and TensorFlow loads only when a model runs) and prints where its
output went.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from featx import __version__

# TensorFlow's C++ start-up chatter is noise on a terminal; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
    float | None,
    typer.Option(
        "--mpp",
        help="Microns per pixel of the slide's level 0, for slides whose metadata lacks it "
        "(overrides the metadata).",
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


def parse_kv(pairs: list[str] | None, *, option: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict; values are JSON when they parse as JSON, else strings."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
