"""Keep or exclude tiles by the class of the QuPath annotations they lie in.

A pathologist draws regions in QuPath (``Tumor``, ``Necrosis``, ``Pen marking``...)
and exports them as GeoJSON; :class:`RegionFilter` keeps the tiles lying in the
regions of the ``keep`` classes (all tiles when none is named) and drops those lying
in regions of the ``exclude`` classes, before any tile is read. "Lying in" means at
least ``min_fraction`` of the tile's footprint, counted on a mask rasterised at an
eighth of a tile (:func:`featx.wsi.annotations.rasterise_annotations`), so the
threshold means the same at any tile size. Class names match case-insensitively.

The filter's :attr:`~RegionFilter.config` (the file's sha256, the classes, the
threshold, the tiles dropped) goes into the provenance of what is made with it, so a
changed annotation file redoes the slide.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._io import file_sha256
from featx._validate import fraction
from featx.errors import DataError, DataNotFoundError
from featx.wsi.annotations import rasterise_annotations, read_geojson, tile_label_fractions
from featx.wsi.tile_grid import tile_extent_l0

_KEEP, _EXCLUDE = 1, 2


@dataclass(frozen=True)
class RegionFilter:
    """Which annotated regions tiles are taken from.

    Parameters
    ----------
    annotations : Path, optional
        The slide's QuPath GeoJSON file (set per slide with :meth:`for_file`).
    keep : tuple of str
        Classes whose regions tiles must lie in; empty: anywhere not excluded.
    exclude : tuple of str
        Classes whose regions tiles must not lie in (wins over ``keep``).
    min_fraction : float, default 0.5
        Share of a tile's footprint that must be allowed for it to be kept.
    """

    annotations: Path | None = None
    keep: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_fraction: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep", tuple(str(c) for c in self.keep))
        object.__setattr__(self, "exclude", tuple(str(c) for c in self.exclude))
        fraction("min_fraction", self.min_fraction)
        if self.annotations is not None:
            object.__setattr__(self, "annotations", Path(self.annotations))
        if not self.keep and not self.exclude:
            raise DataError("region filter", "no class to keep or exclude",
                            "Name classes with --keep-class or --exclude-class")

    def for_file(self, annotations: str | Path) -> RegionFilter:
        """The same filter reading ``annotations``."""
        return replace(self, annotations=Path(annotations))

    @property
    def config(self) -> dict[str, Any]:
        """JSON identity: the classes, the threshold, and the annotation file and its sha256."""
        path = self.annotations
        return {"keep": list(self.keep), "exclude": list(self.exclude),
                "min_fraction": self.min_fraction,
                "annotations": None if path is None else str(path),
                "annotations_sha256": None if path is None or not path.is_file()
                else file_sha256(path)}

    def allowed_fraction(self, coords: pd.DataFrame, *, width_px: int, height_px: int,
                         level_downsamples: Any = None) -> np.ndarray:
        """Share of each tile's footprint inside kept and outside excluded regions."""
        if not len(coords):
            return np.zeros(0)
        if self.annotations is None:
            raise DataNotFoundError("the slide's annotation file",
                                    "Give one per slide (manifest column 'annotations') or "
                                    "--annotations FILE.")
        regions = read_geojson(self.annotations)
        keep, exclude = {c.lower() for c in self.keep}, {c.lower() for c in self.exclude}
        chosen = [a for a in regions if a.classification.lower() in keep | exclude]
        named = {a.classification.lower() for a in regions}
        if keep and not keep & named:
            raise DataError(f"annotations {self.annotations}",
                            f"no region of the classes to keep {sorted(keep)} (its classes: "
                            f"{sorted(named) or 'none'})", "Check the class names, or the file")
        side = np.median(tile_extent_l0(coords, level_downsamples=level_downsamples))
        downsample = max(1.0, float(side) / 8)
        mask = rasterise_annotations(chosen, width_px=width_px, height_px=height_px,
                                     downsample=downsample,
                                     classes={**{c: _KEEP for c in keep},
                                              **{c: _EXCLUDE for c in exclude}})
        allowed = mask == _KEEP if keep else mask != _EXCLUDE
        shares = tile_label_fractions(coords, allowed, downsample=downsample,
                                      level_downsamples=level_downsamples)
        return shares["tumour_fraction"].to_numpy()

    def select(self, coords: pd.DataFrame, *, width_px: int, height_px: int,
               level_downsamples: Any = None) -> pd.DataFrame:
        """The rows of a tile table whose allowed share reaches ``min_fraction``."""
        if not len(coords):
            return coords
        share = self.allowed_fraction(coords, width_px=width_px, height_px=height_px,
                                      level_downsamples=level_downsamples)
        return coords[share >= self.min_fraction - 1e-9]


__all__ = ["RegionFilter"]
