"""The ``featx`` command: one module per command, each thin over the library.

``featx demo`` runs the whole pipeline on built-in data; the other commands are
the pipeline's steps (``info``, ``tile``, ``normalize``, ``finetune``, ``fetch``,
``extract``, ``import``, ``export``, ``extractors``, ``pool``, ``evaluate``,
``slidescore``, ``report``).
"""

from __future__ import annotations

import typer

from featx.cli import (  # noqa: F401 - importing a command module registers its command
    demo,
    evaluate,
    export,
    extract,
    extractors,
    fetch,
    finetune,
    imports,
    info,
    normalize,
    pool,
    report,
    slidescore,
    tile,
)
from featx.cli._app import app
from featx.errors import FeatxError


def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


__all__ = ["app", "main"]
