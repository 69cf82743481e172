"""The ``featx`` Typer app and what every command shares: ``--slide-mpp``, ``KEY=VALUE`` parsing.

Each command lives in its own module of :mod:`featx.cli`, parses its options,
imports the library function that does the work (lazily, so ``featx --help``
stays fast and TensorFlow loads only when a model runs) and prints where its
output went.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from featx import __version__

# TensorFlow's C++ start-up chatter is noise on a terminal; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

class _Command(typer.core.TyperCommand):
    """A command whose arguments read in the ordinary style: ``featx import [OPTIONS] SOURCES...``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument" and param.metavar is None:
                param.metavar = (param.name or "").upper()

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                pieces.extend(param.get_usage_pieces(ctx))
                continue
            name = param.metavar if param.required else f"[{param.metavar}]"
            pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


class _Typer(typer.Typer):
    """featx's app: every command (and every sub-app's) uses :class:`_Command`."""

    def command(self, *args: Any, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or _Command, **kwargs)


def sub_app(**kwargs: Any) -> typer.Typer:
    """A group of subcommands (``featx targets ...``) whose commands read like the others."""
    return _Typer(**kwargs)


app = _Typer(
    name="featx",
    help=(
        "Whole-slide images to Macenko-normalised tile embeddings, and the statistics "
        "to compare extractors.\n\n"
        "Start with `featx demo`, then `featx info SLIDE` and `featx tile SLIDE`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: The slide's level-0 resolution. featx's only other mpp option is the tiles' ``--tile-mpp``.
SlideMppOption = Annotated[
    float | None,
    typer.Option(
        "--slide-mpp",
        help="Microns per pixel of the slide's level 0, for slides whose metadata lacks it "
        "(overrides the metadata).",
    ),
]


#: The arithmetic of a Keras extractor's forward pass (featx.extractors.precision).
PrecisionOption = Annotated[
    str,
    typer.Option(
        "--precision",
        help="Arithmetic of the model: float32 (default), bfloat16 (CPUs with AVX512_BF16 or "
        "AMX, about 1.5x), float16 (GPUs), or auto (picks by machine and says which). Half "
        "precision names the extractor NAME-BF16 or NAME-FP16, so its embeddings are stored "
        "apart from float32 ones.",
    ),
]


def precision_kwargs(precision: str, extractor: str, kwargs: dict[str, Any], *,
                     remote: bool = False) -> str:
    """Add ``--precision`` to the extractor's keyword arguments; return its store name.

    float32 passes nothing (every extractor runs in float32). ``auto`` is resolved on
    this machine to say which it picks; with ``remote`` workers, each picks on its own.
    """
    from featx.extractors.precision import NAME_SUFFIXES, PRECISIONS, resolve_precision
    from featx.extractors.registry import ExtractorFactory

    if precision not in PRECISIONS:
        raise typer.BadParameter(f"one of {', '.join(PRECISIONS)}, not {precision}",
                                 param_hint="--precision")
    if "precision" in kwargs:
        raise typer.BadParameter("give the precision once, as --precision",
                                 param_hint="--extractor-arg precision=...")
    name = extractor if ":" not in extractor else "NAME"
    if precision == "float32":
        return name
    build = ExtractorFactory.of(extractor, **kwargs).resolve()
    if "precision" not in inspect.signature(build).parameters:
        if precision == "auto":
            typer.echo(f"precision: float32 (auto: {extractor} has no other precision)")
            return name
        raise typer.BadParameter(f"applies to Keras extractors (IMGNET-2048, FTX-2048, "
                                 f"keras:<Name>), not {extractor}", param_hint="--precision")
    kwargs["precision"] = precision
    if remote and precision == "auto":
        typer.echo("precision: auto, picked by each Dask worker on its own machine")
        return name
    choice = resolve_precision(precision)
    typer.echo(f"precision: {choice.precision} ({choice.reason})")
    return name + NAME_SUFFIXES[choice.precision]


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


#: Table formats featx writes (``featx._io.write_table``).
TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")


def output_dir(path: Path, *, option: str = "--out") -> Path:
    """Create an output folder now, so a bad path fails before any work, in one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise typer.BadParameter(f"cannot create the folder {str(path)!r} "
                                 f"({error.strerror or error}); pick a folder you can write to",
                                 param_hint=option) from None
    if not os.access(path, os.W_OK):
        raise typer.BadParameter(f"the folder {str(path)!r} is not writable; pick one you can "
                                 "write to", param_hint=option)
    return path


def output_table(path: Path, *, option: str = "--out") -> Path:
    """Refuse, before any work, a table name featx cannot write (``p.xlsx``)."""
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise typer.BadParameter(f"featx writes tables as {', '.join(TABLE_SUFFIXES)}, not "
                                 f"{path.suffix or 'a name without extension'!r}; name the "
                                 f"file e.g. {path.with_suffix('.parquet').name}",
                                 param_hint=option)
    output_dir(path.parent if str(path.parent) else Path("."), option=option)
    return path


def warn(message: str) -> None:
    """One warning line on stderr."""
    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)
