"""The ``featx`` command: one module per command, each thin over the library.

``featx demo`` runs the whole pipeline on built-in data; the other commands are
the pipeline's steps (``info``, ``tile``, ``normalize``, ``finetune``, ``fetch``,
``extract``, ``pool``, ``evaluate``, ``slidescore``, ``report``).
"""

from __future__ import annotations

import os

import typer

from featx.cli import (  # noqa: F401 - importing a command module registers its command
    demo,
    evaluate,
    extract,
    fetch,
    finetune,
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
    """Entry point: run the app; any error becomes one clear line and a non-zero exit.

    featx's own errors say what to fix (exit 2); a file the system refuses names the
    file and the reason (exit 2); Ctrl-C exits 130; anything else is a featx bug,
    shown as one line (exit 1) unless ``FEATX_DEBUG=1`` asks for the traceback.
    """
    try:
        app()
    except FeatxError as error:
        _fail(f"error: {error}", 2)
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        _fail(f"error:{where}: {error.strerror or error}. Check the path and that you may "
              "read or write it.", 2)
    except KeyboardInterrupt:
        _fail("interrupted; finished work is kept, and rerunning the same command resumes.", 130)
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("FEATX_DEBUG"):
            raise
        _fail(f"error: unexpected {type(error).__name__}: {error}. This is a featx bug: rerun "
              "with FEATX_DEBUG=1 for the traceback and report it.", 1)


def _fail(message: str, code: int) -> None:
    typer.secho(" ".join(message.split()), err=True, fg=typer.colors.RED)
    raise SystemExit(code) from None


__all__ = ["app", "main"]
