"""The options ``featx tile`` and ``featx extract`` share to tile only annotated regions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

AnnotationsOption = Annotated[Path | None, typer.Option(
    "--annotations", help="QuPath GeoJSON annotations (File > Export objects as GeoJSON): "
    "a file, or a folder of <slide_id>.geojson files. With --keep-class/--exclude-class.",
    exists=True)]
KeepClassOption = Annotated[list[str] | None, typer.Option(
    "--keep-class", help="Tile only inside annotations of this class (repeatable; "
    "case-insensitive).")]
ExcludeClassOption = Annotated[list[str] | None, typer.Option(
    "--exclude-class", help="Leave out tiles inside annotations of this class (repeatable; "
    "wins over --keep-class).")]
MinAnnotatedOption = Annotated[float, typer.Option(
    "--min-annotated", help="Share of a tile that must lie in the kept (and outside the "
    "excluded) regions.", min=0.0, max=1.0)]


def region_filter(keep: list[str] | None, exclude: list[str] | None,
                  min_fraction: float) -> Any:
    """A :class:`~featx.wsi.regions.RegionFilter`, or None when no class is named."""
    if not keep and not exclude:
        return None
    from featx.wsi.regions import RegionFilter

    return RegionFilter(keep=tuple(keep or ()), exclude=tuple(exclude or ()),
                        min_fraction=min_fraction)


def annotation_file(annotations: Path | None, slide_id: str) -> Path:
    """A slide's file: ``annotations`` itself, or ``annotations/<slide_id>.geojson``."""
    if annotations is None:
        raise typer.BadParameter("--keep-class and --exclude-class need the annotations: pass "
                                 "--annotations FILE_OR_FOLDER", param_hint="--annotations")
    return annotations / f"{slide_id}.geojson" if annotations.is_dir() else annotations
