"""``featx info``: a slide's size, levels, vendor and microns per pixel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import MppOption, app


@app.command()
def info(
    slide: Annotated[Path, typer.Argument(
        help="Slide file: an OpenSlide format, OME-TIFF, plain TIFF or DICOM WSI.")],
    mpp: MppOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a slide's size, pyramid levels, vendor and microns per pixel.

    Example: `featx info CMU-1-Small-Region.svs`
    """
    import json

    from featx.wsi import open_slide

    with open_slide(slide, mpp=mpp) as opened:
        details = opened.info.config
    if as_json:
        typer.echo(json.dumps(details, indent=2))
        return
    for key, value in details.items():
        typer.echo(f"{key:>18}: {value}")
