"""TRIDENT and CLAM feature files (h5), and featx's store files written back out in their layout.

- **TRIDENT** h5: ``features`` (N, D), ``coords`` (N, 2) level-0 top-left corners;
  ``coords`` attributes ``patch_size``, ``patch_size_level0``, ``level0_magnification``,
  ``target_magnification``, ``overlap``.
- **CLAM** h5: ``features``, ``coords`` level-0 top-left; attributes, when the patch
  file's were kept, ``patch_level``, ``patch_size`` at that level, ``downsample``.

:func:`read_h5` tells them apart by ``patch_size_level0``. :func:`write_h5` writes a
store file in the layout both read, with featx's columns and provenance beside it, so
that reading it back gives the store file bit for bit (source format ``featx-h5``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._io import atomic_path
from featx._optional import require
from featx._validate import fits_in_memory
from featx.embed.formats.foreign_slide import (
    ForeignSlide,
    coords_xy,
    feature_array,
    first_number,
    level0_side,
    tile_side,
    tile_table,
)
from featx.errors import DataError

H5_SUFFIXES = (".h5", ".hdf5")
#: Root attribute of an h5 written by :func:`write_h5` holding the store file's provenance.
FEATX_H5_ATTR = "featx_provenance"
#: Columns stored beside ``features`` and ``coords`` in featx's h5 (group ``featx``).
_H5_COLUMNS = ("patient_id", "level", "read_px", "tile_mpp", "tile_px", "tissue_fraction",
               "stain_status", "col", "row")


def _json_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_json_attr(v) for v in value.tolist()] if value.dtype.kind in "OS" else (
            value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _attrs(node: Any) -> dict[str, Any]:
    return {str(k): _json_attr(v) for k, v in node.attrs.items()}


def _h5py() -> Any:
    return require("h5py", extra="import", purpose="to read and write h5 feature files")


def _read_dataset(handle: Any, name: str, path: Path) -> np.ndarray:
    """A dataset's values, once its declared shape is known to fit in memory."""
    dataset = handle[name]
    if not hasattr(dataset, "shape") or dataset.shape is None:
        raise DataError(str(path), f"'{name}' is not a dataset", "Pass a TRIDENT or CLAM file")
    n_bytes = float(np.prod(dataset.shape, dtype=np.float64)) * dataset.dtype.itemsize
    fits_in_memory(f"'{name}' of {path} ({dataset.shape})", n_bytes,
                   fix="this file is too large to import here")
    return dataset[()]


def read_h5(path: str | Path, *, slide_id: str | None = None, slide_mpp: float | None = None,
            patch_px: int | None = None, coords_downsample: float = 1.0) -> ForeignSlide:
    """Read a TRIDENT or CLAM feature file (or one :func:`write_h5` wrote).

    Parameters
    ----------
    path : path
        The ``.h5`` file with ``features`` and ``coords`` datasets.
    slide_id : str, optional
        Default: the file's stem.
    slide_mpp : float, optional
        Microns per pixel of the slide's level 0; gives the tiles' tile_mpp and size in microns.
    patch_px : int, optional
        Tile side in level-0 pixels, for files whose attributes do not say it
        (default: their attributes, else the grid spacing of the coordinates).
    coords_downsample : float, default 1.0
        Factor taking the file's coordinates to level 0 (both tools write level 0).
    """
    path = Path(path)
    h5py = _h5py()
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DataError(str(path), f"cannot be opened as HDF5 ({error})",
                        "Pass a TRIDENT or CLAM .h5 feature file") from None
    with handle:
        if "features" not in handle or "coords" not in handle:
            raise DataError(str(path), f"no 'features' and 'coords' datasets (found "
                            f"{sorted(handle)})", "Pass a TRIDENT or CLAM feature file (h5 with "
                            "features and coords)")
        features = feature_array(_read_dataset(handle, "features", path), path)
        xy = coords_xy(_read_dataset(handle, "coords", path), len(features), path,
                       scale=coords_downsample)
        attributes = {"root": _attrs(handle), "features": _attrs(handle["features"]),
                      "coords": _attrs(handle["coords"])}
        if FEATX_H5_ATTR in handle.attrs:
            return _featx_slide(handle, path, features, xy, slide_id)
    coord_attrs = {**attributes["root"], **attributes["features"], **attributes["coords"]}
    slide_id = slide_id or path.stem
    if "patch_size_level0" in coord_attrs:
        return _trident(path, slide_id, features, xy, coord_attrs, attributes, slide_mpp, patch_px)
    return _clam(path, slide_id, features, xy, coord_attrs, attributes, slide_mpp, patch_px)


def _trident(path: Path, slide_id: str, features: np.ndarray, xy: np.ndarray,
             attrs: dict[str, Any], attributes: dict[str, Any], slide_mpp: float | None,
             patch_px: int | None) -> ForeignSlide:
    side0 = level0_side(patch_px or attrs["patch_size_level0"], path)
    tile_px = int(level0_side(attrs.get("patch_size") or side0, path))
    overlap = float(first_number(attrs.get("overlap")) or 0.0) * side0 / tile_px
    tile_mpp = slide_mpp * side0 / tile_px if slide_mpp else None
    table = tile_table(xy, side0=side0, stride0=side0 - overlap, level=0, read_px=int(side0),
                       tile_px=tile_px, tile_mpp=tile_mpp)
    geometry = {"side_level0_px": side0, "side_from": "argument" if patch_px else "attribute",
                "tile_um": None if tile_mpp is None else tile_mpp * tile_px,
                "level0_magnification": first_number(attrs.get("level0_magnification")),
                "target_magnification": first_number(attrs.get("target_magnification"))}
    return ForeignSlide(slide_id, table, features, "trident", attributes, geometry)


def _clam(path: Path, slide_id: str, features: np.ndarray, xy: np.ndarray,
          attrs: dict[str, Any], attributes: dict[str, Any], slide_mpp: float | None,
          patch_px: int | None) -> ForeignSlide:
    level = int(first_number(attrs.get("patch_level")) or 0)
    size = first_number(attrs.get("patch_size"))
    downsample = first_number(attrs.get("downsample")) or (1.0 if level == 0 else None)
    if patch_px:
        side0, source = float(patch_px), "argument"
    elif size and downsample:
        side0, source = size * downsample, "attribute"
    else:
        side0, source = tile_side(xy, path), "coordinate spacing"
    side0 = level0_side(side0, path)
    size = level0_side(size or side0 / (downsample or 1.0), path)
    downsample = side0 / size
    tile_mpp = slide_mpp * downsample if slide_mpp else None
    table = tile_table(xy, side0=side0, stride0=side0, level=level, read_px=int(round(size)),
                       tile_px=int(round(size)), tile_mpp=tile_mpp)
    geometry = {"side_level0_px": side0, "side_from": source, "downsample": downsample,
                "tile_um": None if tile_mpp is None else tile_mpp * size}
    return ForeignSlide(slide_id, table, features, "clam", attributes, geometry)


def _featx_slide(handle: Any, path: Path, features: np.ndarray, xy: np.ndarray,
                 slide_id: str | None) -> ForeignSlide:
    stored = json.loads(handle.attrs[FEATX_H5_ATTR])
    group = handle["featx"]
    columns = {name: group[name][()] for name in _H5_COLUMNS}
    for name in ("patient_id", "stain_status"):
        columns[name] = np.array([_json_attr(v) for v in columns[name]], dtype=object)
    table = pd.DataFrame({"x": xy[:, 0].astype(np.int64), "y": xy[:, 1].astype(np.int64),
                          **{k: v for k, v in columns.items() if k != "patient_id"}})
    patients = set(columns["patient_id"].tolist())
    patient = patients.pop() if len(patients) == 1 else None
    stored_slide = str(_json_attr(handle.attrs.get("slide_id", path.stem)))
    return ForeignSlide(slide_id or stored_slide, table, features, "featx-h5",
                        {"root": {k: v for k, v in _attrs(handle).items() if k != FEATX_H5_ATTR}},
                        {"side_from": "featx columns"}, patient_id=patient, verbatim=stored)


def write_h5(path: str | Path, table: Any, features: np.ndarray, *, slide_id: str,
             provenance: dict[str, Any]) -> Path:
    """Write one store file as a CLAM/TRIDENT-style h5, atomically.

    ``features`` (N, D) in the store's dtype and ``coords`` (N, 2) int64 level-0
    top-left corners, as MIL tools read them; ``coords`` attributes ``patch_size``,
    ``patch_level`` (and ``patch_size_level0`` for level-0 tiles); featx's other
    columns in the group ``featx`` and its provenance as the root attribute
    :data:`FEATX_H5_ATTR`.

    Parameters
    ----------
    path : path
        The ``.h5`` file to write.
    table : pyarrow.Table or pandas.DataFrame
        The store file's rows (its tile columns are used; ``embedding`` is ignored).
    features : ndarray, shape (n_tiles, n_features)
        The embeddings, in the dtype to store.
    slide_id : str
        Written as the root attribute ``slide_id``.
    provenance : dict
        The store file's provenance, restored as is by :func:`read_h5`.
    """
    h5py = _h5py()
    frame = table.drop(columns=["embedding"]).to_pandas() if hasattr(table, "to_pandas") else table
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs[FEATX_H5_ATTR] = json.dumps(provenance, sort_keys=True)
        handle.attrs["slide_id"] = slide_id
        handle.create_dataset("features", data=features)
        coords = handle.create_dataset("coords", data=np.stack(
            [frame["x"].to_numpy(np.int64), frame["y"].to_numpy(np.int64)], axis=1)
            if len(frame) else np.zeros((0, 2), np.int64))
        if len(frame):
            coords.attrs["patch_size"] = int(frame["tile_px"].iloc[0])
            coords.attrs["patch_level"] = int(frame["level"].iloc[0])
            if int(frame["level"].iloc[0]) == 0:
                coords.attrs["patch_size_level0"] = int(frame["read_px"].iloc[0])
        group = handle.create_group("featx")
        for name in _H5_COLUMNS:
            values = frame[name].to_numpy()
            if values.dtype == object:
                values = values.astype(str).astype(h5py.string_dtype())
            group.create_dataset(name, data=values)
    return Path(path)


def h5_provenance(path: str | Path) -> dict[str, Any] | None:
    """The store provenance an h5 written by :func:`write_h5` carries, or None."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as handle:
            return json.loads(handle.attrs[FEATX_H5_ATTR]) if FEATX_H5_ATTR in handle.attrs else None
    except (OSError, ValueError):
        return None


def h5_format(path: Path) -> str:
    """Which tool wrote an h5 feature file: ``featx-h5``, ``trident`` or ``clam``."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as handle:
            if FEATX_H5_ATTR in handle.attrs:
                return "featx-h5"
            coords = handle["coords"].attrs if "coords" in handle else {}
            return "trident" if "patch_size_level0" in coords else "clam"
    except OSError as error:
        raise DataError(str(path), f"cannot be opened as HDF5 ({error})",
                        "Pass a TRIDENT or CLAM .h5 feature file") from None


__all__ = ["FEATX_H5_ATTR", "H5_SUFFIXES", "h5_format", "h5_provenance", "read_h5", "write_h5"]
