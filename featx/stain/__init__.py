"""Macenko stain normalisation, batched over tiles and safe on background.

:class:`MacenkoNormalizer` (scikit-learn's transformer contract) fits a target's
stains and maps tiles to them, per tile or with one fit per slide;
:func:`normalize_folder` and :func:`normalize_slide` run it over a folder of tiles
or a slide's tiles and write the normalised tiles, a status table and a
before/after montage (``featx normalize``).
"""

from featx.stain.macenko import (
    STATUS_BACKGROUND,
    STATUS_FAINT,
    STATUS_OK,
    MacenkoNormalizer,
    macenko_stain_matrix,
    tissue_pixels,
)
from featx.stain.normalize_tiles import (
    NormalizedTiles,
    montage,
    normalize_folder,
    normalize_slide,
    read_rgb,
)

__all__ = ["STATUS_BACKGROUND", "STATUS_FAINT", "STATUS_OK", "MacenkoNormalizer",
           "NormalizedTiles", "macenko_stain_matrix", "montage", "normalize_folder",
           "normalize_slide", "read_rgb", "tissue_pixels"]
