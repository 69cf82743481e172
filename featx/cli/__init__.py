"""The ``featx`` command: one module per command, each thin over the library.

``featx demo`` runs the whole pipeline on built-in data; the other commands are
the pipeline's steps (``info``, ``tile``, ``normalize``, ``finetune``, ``fetch``,
``plan``, ``extract``, ``import``, ``export``, ``extractors``, ``pool``, ``evaluate``,
``slidescore``, ``report``), ``embed`` (labelled tile sets), ``gdc`` (manifests of GDC
files), ``targets`` (target tables from public data) and ``reproduce`` (one of the paper's
experiments end to end) and ``view`` (a local slide viewer); ``doctor`` checks the machine
and ``status`` a store.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import typer

from featx.cli import (  # noqa: F401 - importing a command module registers its command
    convert,
    demo,
    doctor,
    embed,
    evaluate,
    export,
    extract,
    extractors,
    fetch,
    finetune,
    gdc,
    imports,
    info,
    normalize,
    plan,
    pool,
    report,
    reproduce,
    slidescore,
    status,
    targets,
    tile,
    view,
)
from featx.cli._app import app, warn
from featx.errors import FeatxError

# Typer vendors click from 0.16 on: take its classes from an exception it exports.
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Entry point: run the app; any error becomes one clear line and a non-zero exit.

    featx's own errors say what to fix (exit 2); a file the system refuses names the
    file and the reason (exit 2); Ctrl-C exits 130; anything else is a featx bug,
    shown as one line (exit 1) unless ``FEATX_DEBUG=1`` asks for the traceback.
    """
    warnings.showwarning = _one_line_warning
    try:
        code = app(standalone_mode=False)
    except _USAGE_ERROR as error:  # a bad option or argument: one line, and where to look
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `featx`: the help, as asked
            typer.echo(error.format_message())
            raise SystemExit(0) from None
        where = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        _fail(f"error: {error.format_message()}{where}", 2)
    except _CLICK_EXCEPTION as error:
        _fail(f"error: {error.format_message()}", error.exit_code)
    except typer.Abort:
        _fail("interrupted; finished work is kept, and rerunning the same command resumes.", 130)
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
    if isinstance(code, int) and code:
        raise SystemExit(code)


_WARNED: set[str] = set()


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, file: Any = None, line: str | None = None) -> None:
    """A warning as one ``warning:`` line: no source path, no source line, no class name;
    each text once per command."""
    text = " ".join(str(message).split())
    if text not in _WARNED:
        _WARNED.add(text)
        warn(text)


def _fail(message: str, code: int) -> None:
    typer.secho(" ".join(message.split()), err=True, fg=typer.colors.RED)
    raise SystemExit(code) from None


__all__ = ["app", "main"]
