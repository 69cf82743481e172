"""Any foreign feature file to :class:`~featx.embed.formats.foreign_slide.ForeignSlide` records.

:func:`detect_format` tells the tool from the suffix and, for h5, the attributes;
:func:`read_foreign` calls that tool's reader with the options it takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featx.embed.formats.foreign_slide import ForeignSlide, checked_slide
from featx.embed.formats.h5 import H5_SUFFIXES, h5_format, read_h5
from featx.embed.formats.slideflow import SLIDEFLOW_SUFFIXES, read_slideflow_bag
from featx.embed.formats.tables import TABLE_SUFFIXES, read_feature_table
from featx.errors import DataError, DataNotFoundError, FeatxError, InvalidParameterError

#: Source formats :func:`read_foreign` understands ("auto" picks one from the file).
FORMATS = ("trident", "clam", "slideflow", "table", "featx-h5")
#: File suffixes of every format.
SOURCE_SUFFIXES = (*H5_SUFFIXES, *SLIDEFLOW_SUFFIXES, *TABLE_SUFFIXES)


def detect_format(path: str | Path) -> str:
    """The source format of a file from its suffix and, for h5, its attributes."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SLIDEFLOW_SUFFIXES:
        return "slideflow"
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in H5_SUFFIXES:
        return h5_format(path)
    raise InvalidParameterError("source", "an .h5 (TRIDENT, CLAM), .pt (slideflow) or "
                                ".csv/.tsv/.parquet table", str(path))


def read_foreign(path: str | Path, *, source_format: str = "auto", **options: Any,
                 ) -> list[ForeignSlide]:
    """Read one source file into :class:`ForeignSlide` records (a table may hold many slides).

    ``options`` go to the reader: ``slide_mpp``, ``patch_px`` for all; ``tile_um``
    (slideflow), ``coords_downsample`` (h5), ``slide_column``, ``feature_prefix`` (tables).
    Every slide read passes :func:`~featx.embed.formats.foreign_slide.checked_slide`.
    """
    try:
        slides = _read(path, source_format, options)
    except FeatxError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, ZeroDivisionError,
            OSError) as error:  # a damaged file's attributes: that file fails, not the run
        raise DataError(str(path), f"cannot be read ({type(error).__name__}: {error!s:.200})",
                        "Check the file, or pass --format, --patch-px or --slide-mpp") from None
    return [checked_slide(slide, Path(path)) for slide in slides]


def _read(path: str | Path, source_format: str, options: dict[str, Any]) -> list[ForeignSlide]:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"embedding file {path}", "Check the path.")
    kind = detect_format(path) if source_format == "auto" else source_format
    if kind not in FORMATS:
        raise InvalidParameterError("format", f"'auto' or one of {list(FORMATS)}", kind)
    common = {k: options.get(k) for k in ("slide_mpp", "patch_px")}
    if kind == "table":
        return read_feature_table(path, slide_column=options.get("slide_column") or "slide_id",
                                  feature_prefix=options.get("feature_prefix"), **common)
    if kind == "slideflow":
        return [read_slideflow_bag(path, tile_um=options.get("tile_um"), **common)]
    found = read_h5(path, coords_downsample=options.get("coords_downsample") or 1.0, **common)
    if kind != found.source_format and not (kind == "clam" and found.source_format == "trident"):
        raise DataError(str(path), f"looks like {found.source_format}, not {kind}",
                        "Use --format auto")
    return [found]


__all__ = ["FORMATS", "SOURCE_SUFFIXES", "detect_format", "read_foreign"]
