"""``featx info``: a slide's size, levels, vendor and microns per pixel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import SlideMppOption, app, warn


@app.command()
def info(
    slide: Annotated[Path, typer.Argument(
        help="Slide file: an OpenSlide format, OME-TIFF, plain TIFF or DICOM WSI.")],
    slide_mpp: SlideMppOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a slide's size, pyramid levels, vendor and microns per pixel.

    A slide whose metadata has no microns per pixel is shown with slide_mpp "unknown".

    \b
    Example:
      featx info CMU-1-Small-Region.svs
    """
    import json

    from featx.errors import MissingMppError
    from featx.wsi import open_slide

    try:
        with open_slide(slide, slide_mpp=slide_mpp) as opened:
            details = opened.info.config
    except MissingMppError:
        # The slide a user most wants to inspect: show what it has, and how to give the mpp.
        with open_slide(slide, slide_mpp=1.0) as opened:
            details = {**opened.info.config, "slide_mpp": "unknown", "slide_mpp_source": "none"}
        warn("the slide records no microns per pixel; pass it to other commands with "
             "--slide-mpp (e.g. --slide-mpp 0.25 for a 40x scan, 0.5 for 20x)")
    if as_json:
        typer.echo(json.dumps(details, indent=2))
        return
    for key, value in details.items():
        typer.echo(f"{key:>18}: {value}")
