"""QuPath's GeoJSON objects, both ways: read what QuPath exports, write what it imports.

QuPath (0.4 and later) exports objects with *File > Export objects as GeoJSON* and
reads them back with *File > Import objects*: a ``FeatureCollection`` whose features
carry, in level-0 pixel coordinates with the origin top-left, a ``Polygon`` or
``MultiPolygon`` and the properties ``objectType`` (``"annotation"``, ``"detection"``,
``"tile"``...), ``classification`` (``{"name", "color"}``) and ``measurements``
(``{name: number}``; QuPath 0.2 wrote a list of ``{"name", "value"}``, read too).
A bare list of features (older exports) and a single feature are read as well;
points and lines carry no area and are skipped.

:func:`tile_detections` turns a tile table into detection objects (one square per
tile) and :func:`tile_regions` merges chosen tiles into annotation polygons (with
shapely, the ``qupath`` extra).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._io import write_text
from featx._optional import require
from featx.errors import DataNotFoundError, InvalidParameterError
from featx.wsi.tile_grid import tile_extent_l0

#: Colours QuPath shows for featx's classes (any other name gets a colour from its hash).
CLASS_COLOURS = {"Tumor": (200, 0, 0), "Non-tumor": (0, 150, 70), "Tissue": (80, 80, 200)}

Ring = np.ndarray  # (n, 2) float x, y in level-0 pixels, first point not repeated


@dataclass(frozen=True, eq=False)  # arrays inside: objects compare by identity
class QuPathObject:
    """One QuPath object: its polygons, what kind it is, its class and its measurements.

    Attributes
    ----------
    polygons : tuple of tuple of ndarray
        Each polygon is its rings, exterior first, then holes; each ring an (n, 2)
        float array of level-0 x, y (not closed: the first point is not repeated).
    object_type : str
        ``"annotation"``, ``"detection"``, ``"tile"``...
    classification : str
        The class name ("" for none).
    measurements : dict of str to float
    name : str
    object_id : str
        QuPath's ``id`` (a UUID; made up when absent).
    """

    polygons: tuple[tuple[Ring, ...], ...]
    object_type: str = "annotation"
    classification: str = ""
    measurements: dict[str, float] = field(default_factory=dict)
    name: str = ""
    object_id: str = ""

    def feature(self) -> dict[str, Any]:
        """The GeoJSON feature QuPath imports."""
        rings = [[_closed(ring) for ring in polygon] for polygon in self.polygons]
        geometry = ({"type": "Polygon", "coordinates": rings[0]} if len(rings) == 1 else
                    {"type": "MultiPolygon", "coordinates": rings})
        properties: dict[str, Any] = {"objectType": self.object_type}
        if self.classification:
            properties["classification"] = {"name": self.classification,
                                            "color": list(class_colour(self.classification))}
        if self.name:
            properties["name"] = self.name
        if self.measurements:
            properties["measurements"] = {k: _number(v) for k, v in self.measurements.items()}
        return {"type": "Feature", "id": self.object_id or str(uuid.uuid4()),
                "geometry": geometry, "properties": properties}


def _closed(ring: Ring) -> list[list[float]]:
    points = np.asarray(ring, float).tolist()
    return points + points[:1]


def _number(value: Any) -> float | int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None  # QuPath shows an empty cell (NaN is not JSON)
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def class_colour(name: str) -> tuple[int, int, int]:
    """The colour a class is shown in: featx's own, else one derived from the name."""
    if name in CLASS_COLOURS:
        return CLASS_COLOURS[name]
    code = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little") * 2654435761
    return ((code >> 8) % 200 + 30, (code >> 16) % 200 + 30, (code >> 24) % 200 + 30)


# --------------------------------------------------------------------------- reading


def _classification(properties: Mapping[str, Any]) -> str:
    cls = properties.get("classification")
    if isinstance(cls, Mapping):
        return str(cls.get("name", ""))
    if isinstance(cls, str):
        return cls
    return str(properties.get("name", "")) if properties.get("name") else ""


def _measurements(properties: Mapping[str, Any]) -> dict[str, float]:
    raw = properties.get("measurements") or {}
    if isinstance(raw, list):  # QuPath 0.2: [{"name": ..., "value": ...}]
        raw = {m.get("name"): m.get("value") for m in raw if isinstance(m, Mapping)}
    return {str(k): (float("nan") if v is None else float(v)) for k, v in raw.items()}


def _polygons(geometry: Mapping[str, Any]) -> Iterable[list]:
    kind = geometry.get("type")
    if kind == "Polygon":
        yield geometry["coordinates"]
    elif kind == "MultiPolygon":
        yield from geometry["coordinates"]
    elif kind == "GeometryCollection":
        for sub in geometry.get("geometries", []):
            yield from _polygons(sub)


def _rings(rings: list) -> tuple[Ring, ...]:
    out = []
    for ring in rings:
        points = np.asarray(ring, dtype=np.float64)[:, :2]
        if len(points) > 1 and np.array_equal(points[0], points[-1]):
            points = points[:-1]  # GeoJSON closes rings; featx keeps each point once
        out.append(points)
    return tuple(out)


def read_qupath(source: str | Path | Mapping[str, Any] | list) -> list[QuPathObject]:
    """QuPath GeoJSON objects with an area, in file order.

    Parameters
    ----------
    source : path, dict or list
        A ``.geojson``/``.json`` file, or its parsed JSON (FeatureCollection, Feature or
        list of features).

    Raises
    ------
    DataNotFoundError
        No such file.
    InvalidParameterError
        Not GeoJSON features.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise DataNotFoundError(f"annotation file {path}",
                                    "Export annotations from QuPath as GeoJSON.")
        try:
            source = json.loads(path.read_text())
        except ValueError as error:
            raise InvalidParameterError("annotations", "a GeoJSON file", f"{path} ({error})"
                                        ) from None
    if isinstance(source, Mapping) and source.get("type") == "FeatureCollection":
        features = source.get("features", [])
    elif isinstance(source, Mapping) and source.get("type") == "Feature":
        features = [source]
    elif isinstance(source, list):
        features = source
    else:
        raise InvalidParameterError(
            "source", "a GeoJSON FeatureCollection, Feature or list of features",
            type(source).__name__ if not isinstance(source, Mapping) else source.get("type"))
    objects = []
    for feature in features:
        properties = feature.get("properties") or {}
        polygons = tuple(_rings(rings) for rings in _polygons(feature.get("geometry") or {})
                         if rings and len(rings[0]) >= 3)
        if polygons:
            objects.append(QuPathObject(
                polygons, str(properties.get("objectType", "annotation")),
                _classification(properties), _measurements(properties),
                str(properties.get("name", "") or ""), str(feature.get("id", "") or "")))
    return objects


def write_qupath(path: str | Path, objects: Iterable[QuPathObject]) -> Path:
    """Write objects as the FeatureCollection QuPath's *Import objects* reads (atomically)."""
    collection = {"type": "FeatureCollection", "features": [o.feature() for o in objects]}
    return write_text(Path(path), json.dumps(collection, separators=(",", ":")))


# --------------------------------------------------------------------------- from tiles


def _squares(coords: pd.DataFrame, level_downsamples: Sequence[float] | None) -> np.ndarray:
    sides = tile_extent_l0(coords, level_downsamples=level_downsamples)
    x, y = coords["x"].to_numpy(float), coords["y"].to_numpy(float)
    return np.stack([x, y, x + sides, y + sides], axis=1)


def tile_detections(coords: pd.DataFrame, *, measurements: Mapping[str, Sequence[Any]] | None = None,
                    classes: Sequence[str] | None = None,
                    level_downsamples: Sequence[float] | None = None) -> list[QuPathObject]:
    """Each tile as a square detection object with its measurements and class.

    Parameters
    ----------
    coords : pandas.DataFrame
        A tile table (``x``, ``y`` at level 0, ``level``, ``read_px``).
    measurements : mapping of name to per-tile values, optional
    classes : sequence of str, optional
        Each tile's class name.
    level_downsamples : sequence of float, optional
        The slide's, when tiles were read above level 0.
    """
    boxes = _squares(coords, level_downsamples)
    columns = {k: np.asarray(v) for k, v in (measurements or {}).items()}
    for name, values in columns.items():
        if len(values) != len(coords):
            raise InvalidParameterError(f"measurement {name!r}", f"{len(coords)} values",
                                        len(values))
    objects = []
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        square = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        objects.append(QuPathObject(((square,),), "detection",
                                    classes[i] if classes is not None else "",
                                    {k: v[i].item() for k, v in columns.items()}))
    return objects


def tile_regions(coords: pd.DataFrame, chosen: Sequence[bool], *, classification: str,
                 measurements: Mapping[str, float] | None = None,
                 level_downsamples: Sequence[float] | None = None) -> list[QuPathObject]:
    """The chosen tiles merged into annotation polygons (one per connected piece).

    Needs shapely (``pip install featx[qupath]``). Holes (unchosen tiles inside a
    region) are kept as interior rings.
    """
    shapely = require("shapely", extra="qupath", purpose="to merge tiles into QuPath regions")
    from shapely.geometry import box

    boxes = _squares(coords, level_downsamples)[np.asarray(chosen, bool)]
    if not len(boxes):
        return []
    merged = shapely.unary_union([box(*b) for b in boxes])
    pieces = list(getattr(merged, "geoms", [merged]))
    return [QuPathObject(((_ring(p.exterior), *(_ring(h) for h in p.interiors)),), "annotation",
                         classification, dict(measurements or {}))
            for p in pieces if p.area > 0]


def _ring(ring: Any) -> Ring:
    return np.asarray(ring.coords, float)[:-1]


__all__ = ["CLASS_COLOURS", "QuPathObject", "class_colour", "read_qupath", "tile_detections",
           "tile_regions", "write_qupath"]
