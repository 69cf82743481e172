"""Tile labels from annotations: label masks, binary masks, or QuPath GeoJSON.

The multi-stage paper's rule: a tile is tumour (1) if more than 20% of its
pixels are annotated tumour, normal (0) if more than 80% are normal, otherwise
unlabelled (-1: kept on the grid, given no loss). Both thresholds are options.

Annotations are rasterised to a coarse label mask (``downsample`` level-0
pixels per mask pixel); a tile's fractions are then its footprint's share of
each label, counted with a summed-area table so every tile costs O(1).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from featx._validate import fraction, positive_float, positive_int
from featx.errors import InvalidParameterError
from featx.wsi.qupath import read_qupath
from featx.wsi.tile_grid import grid_indices, tile_extent_l0
from featx.wsi.tissue import summed_area_table

#: Label-mask values (also those of :meth:`featx.wsi.synthetic.SyntheticSlide.label_mask`).
BACKGROUND, NORMAL, TUMOUR = 0, 1, 2
#: The same values by name.
MASK_LABELS = {"background": BACKGROUND, "normal": NORMAL, "tumour": TUMOUR}
#: Tile label values.
TILE_TUMOUR, TILE_NORMAL, TILE_UNLABELLED = 1, 0, -1

#: Default mapping of QuPath classification names (lower-cased) to a label-mask value.
DEFAULT_CLASSES: dict[str, int] = {
    "tumor": TUMOUR, "tumour": TUMOUR, "tumor region": TUMOUR, "carcinoma": TUMOUR,
    "normal": NORMAL, "non-tumor": NORMAL, "non-tumour": NORMAL, "healthy": NORMAL,
}


def tile_label_fractions(
    coords: pd.DataFrame,
    mask: np.ndarray,
    *,
    downsample: float,
    tumour_values: Sequence[int] = (TUMOUR,),
    normal_values: Sequence[int] = (NORMAL,),
    level_downsamples: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Fraction of each tile's footprint annotated tumour and normal.

    Parameters
    ----------
    coords : pandas.DataFrame
        Tile table (``x``, ``y`` at level 0, ``read_px``, ``level``, ``row``, ``col``).
    mask : numpy.ndarray
        2-D label mask (ints: 0 background, 1 normal, 2 tumour by default) or a
        boolean tumour mask (True tumour, False normal).
    downsample : float
        Level-0 pixels per mask pixel.
    tumour_values, normal_values : sequence of int
        Mask values counted as tumour and as normal (ignored for boolean masks).
    level_downsamples : sequence of float, optional
        The slide's level downsamples, needed when tiles were read above level 0.

    Returns
    -------
    pandas.DataFrame
        Columns ``tumour_fraction`` and ``normal_fraction``, one row per tile.
    """
    downsample = positive_float("downsample", downsample)
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise InvalidParameterError("mask", "a non-empty 2-D label or boolean mask", mask.shape)
    if mask.dtype == bool:
        tumour, normal = mask, ~mask
    elif np.issubdtype(mask.dtype, np.integer):
        tumour, normal = np.isin(mask, tumour_values), np.isin(mask, normal_values)
    else:
        raise InvalidParameterError("mask", "an integer label mask or a boolean mask", mask.dtype)
    grid_indices(coords)  # validates the table
    size = tile_extent_l0(coords, level_downsamples=level_downsamples) / downsample
    x0 = coords["x"].to_numpy(dtype=np.float64) / downsample
    y0 = coords["y"].to_numpy(dtype=np.float64) / downsample
    h, w = mask.shape
    # Footprint in whole mask pixels, at least one pixel so tiny tiles still get a label.
    c0 = np.clip(np.round(x0).astype(np.int64), 0, w - 1)
    r0 = np.clip(np.round(y0).astype(np.int64), 0, h - 1)
    c1 = np.clip(np.maximum(np.round(x0 + size).astype(np.int64), c0 + 1), 1, w)
    r1 = np.clip(np.maximum(np.round(y0 + size).astype(np.int64), r0 + 1), 1, h)
    area = ((r1 - r0) * (c1 - c0)).astype(np.float64)

    def share(m: np.ndarray) -> np.ndarray:
        t = summed_area_table(m)
        return (t[r1, c1] - t[r0, c1] - t[r1, c0] + t[r0, c0]) / area

    return pd.DataFrame({"tumour_fraction": share(tumour), "normal_fraction": share(normal)},
                        index=coords.index)


def labels_from_fractions(
    fractions: pd.DataFrame, *, tumour_min: float = 0.2, normal_min: float = 0.8
) -> np.ndarray:
    """Apply the tile-labelling rule to per-tile fractions.

    Returns
    -------
    numpy.ndarray of int8
        1 tumour (tumour fraction > ``tumour_min``), else 0 normal (normal
        fraction > ``normal_min``), else -1 unlabelled.
    """
    tumour_min = fraction("tumour_min", tumour_min)
    normal_min = fraction("normal_min", normal_min)
    labels = np.full(len(fractions), TILE_UNLABELLED, dtype=np.int8)
    labels[fractions["normal_fraction"].to_numpy() > normal_min] = TILE_NORMAL
    labels[fractions["tumour_fraction"].to_numpy() > tumour_min] = TILE_TUMOUR  # tumour wins
    return labels


def tile_labels_from_mask(
    coords: pd.DataFrame,
    mask: np.ndarray,
    *,
    downsample: float,
    tumour_min: float = 0.2,
    normal_min: float = 0.8,
    tumour_values: Sequence[int] = (TUMOUR,),
    normal_values: Sequence[int] = (NORMAL,),
    level_downsamples: Sequence[float] | None = None,
) -> np.ndarray:
    """Label tiles tumour (1), normal (0) or unlabelled (-1) from a mask image.

    Parameters
    ----------
    coords : pandas.DataFrame
        One slide's tile table from :func:`featx.wsi.tiling.grid_coords`.
    mask : numpy.ndarray
        Label mask (0 background, 1 normal, 2 tumour) or boolean tumour mask,
        covering the slide at ``downsample`` level-0 pixels per mask pixel.
    downsample : float
        Level-0 pixels per mask pixel.
    tumour_min : float, default 0.2
        A tile is tumour if more than this fraction of it is tumour.
    normal_min : float, default 0.8
        Otherwise it is normal if more than this fraction of it is normal.
    tumour_values, normal_values : sequence of int
        Mask values that mean tumour and normal.
    level_downsamples : sequence of float, optional
        The slide's level downsamples, when tiles were read above level 0.

    Returns
    -------
    numpy.ndarray of int8, shape (n_tiles,)

    Examples
    --------
    >>> labels = tile_labels_from_mask(coords, synthetic.label_mask(16), downsample=16)
    """
    fractions = tile_label_fractions(
        coords, mask, downsample=downsample, tumour_values=tumour_values,
        normal_values=normal_values, level_downsamples=level_downsamples,
    )
    return labels_from_fractions(fractions, tumour_min=tumour_min, normal_min=normal_min)


@dataclass(frozen=True)
class Annotation:
    """One annotated polygon, in level-0 pixel coordinates.

    Attributes
    ----------
    classification : str
        QuPath class name (``properties.classification.name``), "" when absent.
    exterior : numpy.ndarray
        (n, 2) float array of x, y vertices.
    holes : tuple of numpy.ndarray
        Interior rings, each (m, 2).
    """

    classification: str
    exterior: np.ndarray
    holes: tuple[np.ndarray, ...] = ()


def read_geojson(source: str | Path | Mapping[str, Any] | list) -> list[Annotation]:
    """Read QuPath-style GeoJSON annotations, one :class:`Annotation` per polygon.

    Accepts a FeatureCollection, a single Feature, or a bare list of features
    (older QuPath exports), as :func:`featx.wsi.qupath.read_qupath` reads them;
    points and lines carry no area and are skipped.

    Parameters
    ----------
    source : path, dict or list
        A ``.geojson``/``.json`` file, or the parsed JSON.

    Returns
    -------
    list of Annotation
    """
    return [Annotation(obj.classification, rings[0], tuple(rings[1:]))
            for obj in read_qupath(source) for rings in obj.polygons]


def rasterise_annotations(
    annotations: Sequence[Annotation],
    *,
    width_px: int,
    height_px: int,
    downsample: float,
    classes: Mapping[str, int] | None = None,
) -> np.ndarray:
    """Draw annotations into a coarse label mask.

    Normal polygons are drawn first and tumour polygons over them, so where
    they overlap the pixel is tumour; holes are cut back to background.

    Parameters
    ----------
    annotations : sequence of Annotation
        From :func:`read_geojson`.
    width_px, height_px : int
        Level-0 size of the slide.
    downsample : float
        Level-0 pixels per mask pixel.
    classes : mapping, optional
        Class name (case-insensitive) -> mask value (1 normal, 2 tumour).
        Default :data:`DEFAULT_CLASSES`. Classes not in it (e.g. "Stroma") are
        skipped with a warning naming them; map them explicitly to use them.

    Returns
    -------
    numpy.ndarray of uint8, shape (ceil(height/downsample), ceil(width/downsample))
    """
    width_px = positive_int("width_px", width_px)
    height_px = positive_int("height_px", height_px)
    downsample = positive_float("downsample", downsample)
    lookup = {k.lower(): int(v) for k, v in (DEFAULT_CLASSES if classes is None
                                            else classes).items()}
    bad = {v for v in lookup.values() if not 0 <= v <= 255}
    if bad:
        raise InvalidParameterError("classes", "mask values in 0..255", sorted(bad))
    size = (int(np.ceil(width_px / downsample)), int(np.ceil(height_px / downsample)))
    mask = np.full((size[1], size[0]), BACKGROUND, np.uint8)
    known = [(lookup[a.classification.lower()], a) for a in annotations
             if a.classification.lower() in lookup]
    skipped = {a.classification for a in annotations if a.classification.lower() not in lookup}
    # Paint in increasing label order so tumour (2) overwrites normal (1).
    for value, ann in sorted(known, key=lambda pair: pair[0]):
        _paint(mask, ann, value, downsample)
    if skipped:
        warnings.warn(
            f"annotation classes {sorted(skipped)} are not mapped to a label and were skipped; "
            "pass classes={'Stroma': 1, ...} to use them", UserWarning, stacklevel=2,
        )
    return mask


def _paint(mask: np.ndarray, ann: Annotation, value: int, downsample: float) -> None:
    """Set ``value`` inside one polygon (minus its holes), drawn within its bounding box.

    Holes leave whatever lay beneath (a hole in a tumour outline inside a normal
    area stays normal), which drawing holes as background would not.
    """
    exterior = ann.exterior / downsample
    h, w = mask.shape
    x0, y0 = np.clip(np.floor(exterior.min(axis=0)).astype(int) - 1, 0, [w, h])
    x1, y1 = np.clip(np.ceil(exterior.max(axis=0)).astype(int) + 2, 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return  # wholly outside the slide
    shape = Image.new("1", (int(x1 - x0), int(y1 - y0)), 0)
    draw = ImageDraw.Draw(shape)
    offset = np.array([x0, y0])
    draw.polygon([tuple(p) for p in exterior - offset], fill=1)
    for hole in ann.holes:
        if len(hole) >= 3:
            draw.polygon([tuple(p) for p in hole / downsample - offset], fill=0)
    mask[y0:y1, x0:x1][np.asarray(shape, dtype=bool)] = value


def tile_labels_from_geojson(
    coords: pd.DataFrame,
    source: str | Path | Mapping[str, Any] | list,
    *,
    width_px: int,
    height_px: int,
    downsample: float = 16.0,
    classes: Mapping[str, int] | None = None,
    tumour_min: float = 0.2,
    normal_min: float = 0.8,
    level_downsamples: Sequence[float] | None = None,
) -> np.ndarray:
    """Label tiles from QuPath GeoJSON polygons (rasterised at ``downsample``).

    Parameters
    ----------
    coords : pandas.DataFrame
        One slide's tile table.
    source : path, dict or list
        GeoJSON annotations in level-0 pixel coordinates (QuPath's export).
    width_px, height_px : int
        Level-0 slide size (``SlideInfo.width``, ``SlideInfo.height``).
    downsample : float, default 16
        Rasterisation scale: level-0 pixels per mask pixel. Keep it well below
        a tile's level-0 size so fractions are accurate.
    classes, tumour_min, normal_min, level_downsamples
        See :func:`rasterise_annotations` and :func:`tile_labels_from_mask`.

    Returns
    -------
    numpy.ndarray of int8, shape (n_tiles,): 1 tumour, 0 normal, -1 unlabelled.
    """
    mask = rasterise_annotations(read_geojson(source), width_px=width_px, height_px=height_px,
                                 downsample=downsample, classes=classes)
    return tile_labels_from_mask(coords, mask, downsample=downsample, tumour_min=tumour_min,
                                 normal_min=normal_min, level_downsamples=level_downsamples)
