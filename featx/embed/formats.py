"""Embeddings other tools wrote, read as featx tile tables, and featx's written back out as h5.

Readers for the formats the people we build for already hold:

- **TRIDENT** h5 (``features`` (N, D), ``coords`` (N, 2) level-0 top-left corners;
  ``coords`` attributes ``patch_size``, ``patch_size_level0``, ``level0_magnification``,
  ``target_magnification``, ``overlap``);
- **CLAM** h5 (``features``, ``coords`` level-0 top-left; attributes, when the patch
  file's were kept, ``patch_level``, ``patch_size`` at that level, ``downsample``);
- **slideflow** feature bags (``<slide>.pt``: a torch tensor (N, D); ``<slide>.index.npz``:
  tile *centres* at level 0; ``bags_config.json`` beside them with ``tile_px``,
  ``tile_um``), read without PyTorch (:func:`read_torch_tensor`);
- **tables** (CSV/TSV/Parquet with a slide column, optional level-0 ``x``/``y``, and
  numeric feature columns).

Each gives :class:`ForeignSlide` records whose ``coords`` have the store's tile
columns: ``x``, ``y`` are level-0 top-left corners whatever the source wrote, ``tile_mpp`` is
the tile's microns per pixel when the source (or ``slide_mpp``) says it, else NaN.
How the geometry was derived is kept in ``geometry``, the source's own attributes in
``attributes``. :func:`write_h5` writes a store file in the CLAM/TRIDENT layout, with
featx's columns and provenance beside it so that importing it gives the file back
bit for bit.

(Over 450 lines because it holds each foreign format's reader beside the others, so
their shared coordinate and tile-size rules stay in one place.)
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._io import atomic_path, read_table
from featx._optional import require
from featx.errors import DataError, DataNotFoundError, InvalidParameterError

#: Source formats :func:`read_foreign` understands ("auto" picks one from the file).
FORMATS = ("trident", "clam", "slideflow", "table", "featx-h5")
H5_SUFFIXES = (".h5", ".hdf5")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")
#: Stain status of imported tiles: featx did not normalise them; the source tool may have.
IMPORTED_STAIN = "external"
#: Root attribute of an h5 written by :func:`write_h5` holding the store file's provenance.
FEATX_H5_ATTR = "featx_provenance"
#: Columns stored beside ``features`` and ``coords`` in featx's h5 (group ``featx``).
_H5_COLUMNS = ("patient_id", "level", "read_px", "tile_mpp", "tile_px", "tissue_fraction",
               "stain_status", "col", "row")


@dataclass(frozen=True)
class ForeignSlide:
    """One slide's embeddings from another tool, in featx's tile-table terms.

    Attributes
    ----------
    slide_id : str
    coords : pandas.DataFrame
        Store tile columns: x, y (level-0 top-left), level, read_px, tile_mpp, tile_px,
        tissue_fraction (NaN: unknown), col, row, stain_status.
    features : ndarray, shape (n_tiles, n_features)
    source_format : str
        One of :data:`FORMATS`.
    attributes : dict
        The source's own attributes (h5 attributes, bags_config.json), JSON-ready.
    geometry : dict
        How coordinates and tile size were derived (``"attribute"``, ``"argument"``,
        ``"coordinate spacing"``), the level-0 tile side and the tile size in microns.
    patient_id : str, optional
    verbatim : dict, optional
        The provenance of a store file exported by featx, restored as it was.
    """

    slide_id: str
    coords: pd.DataFrame
    features: np.ndarray
    source_format: str
    attributes: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, Any] = field(default_factory=dict)
    patient_id: str | None = None
    verbatim: dict[str, Any] | None = None


# --------------------------------------------------------------------------- helpers


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


def _scalar(value: Any) -> float | None:
    """The first number of an attribute (CLAM stores ``downsample`` as a pair)."""
    if value is None:
        return None
    array = np.ravel(np.asarray(value, dtype=object))
    try:
        return float(array[0]) if array.size else None
    except (TypeError, ValueError):
        return None


def grid_spacing(values: np.ndarray) -> float | None:
    """The smallest positive step between distinct coordinates (the grid's stride), or None."""
    steps = np.diff(np.unique(np.asarray(values, dtype=np.float64)))
    steps = steps[steps > 0]
    return float(steps.min()) if steps.size else None


def _spacing(xy: np.ndarray, path: Path) -> float:
    if not len(xy):  # a slide without tissue: no tile, no size to know
        return 1.0
    found = [s for s in (grid_spacing(xy[:, 0]), grid_spacing(xy[:, 1])) if s is not None]
    if not found:
        raise DataError(str(path), "the tile size is not in its attributes and one tile "
                        "gives no grid spacing to infer it from", "Pass --patch-px (the tile "
                        "side in level-0 pixels) or --tile-um with --slide-mpp")
    return min(found)


def _tile_table(xy: np.ndarray, *, side0: float, stride0: float, level: int, read_px: int,
                tile_px: int, tile_mpp: float | None) -> pd.DataFrame:
    x, y = np.rint(xy[:, 0]).astype(np.int64), np.rint(xy[:, 1]).astype(np.int64)
    n = len(x)
    return pd.DataFrame({
        "x": x, "y": y, "level": np.full(n, level, np.int64),
        "read_px": np.full(n, read_px, np.int64),
        "tile_mpp": np.full(n, np.nan if tile_mpp is None else tile_mpp),
        "tile_px": np.full(n, tile_px, np.int64), "tissue_fraction": np.full(n, np.nan),
        "col": np.rint(x / stride0).astype(np.int64), "row": np.rint(y / stride0).astype(np.int64),
        "stain_status": np.full(n, IMPORTED_STAIN, dtype=object),
    })


def _features(array: np.ndarray, path: Path) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[1] == 1:  # some exports keep a singleton bag axis
        array = array[:, 0]
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise DataError(str(path), f"features of shape {array.shape} and dtype {array.dtype}",
                        "Expected a numeric (n_tiles, n_features) array")
    return array


def _coords_xy(coords: np.ndarray, n: int, path: Path) -> np.ndarray:
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] < 2 or len(coords) != n:
        raise DataError(str(path), f"coords of shape {coords.shape} for {n} feature rows",
                        "Expected an (n_tiles, 2) array of x, y, one row per feature row")
    return coords[:, :2].astype(np.float64)


# --------------------------------------------------------------------------- h5 (TRIDENT, CLAM)


def _h5py() -> Any:
    return require("h5py", extra="import", purpose="to read and write h5 feature files")


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
        features = _features(handle["features"][()], path)
        xy = _coords_xy(handle["coords"][()], len(features), path) * float(coords_downsample)
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
    side0 = float(patch_px or _scalar(attrs["patch_size_level0"]))
    tile_px = int(_scalar(attrs.get("patch_size")) or side0)
    overlap = float(_scalar(attrs.get("overlap")) or 0.0) * side0 / tile_px
    tile_mpp = slide_mpp * side0 / tile_px if slide_mpp else None
    table = _tile_table(xy, side0=side0, stride0=side0 - overlap, level=0, read_px=int(side0),
                        tile_px=tile_px, tile_mpp=tile_mpp)
    geometry = {"side_level0_px": side0, "side_from": "argument" if patch_px else "attribute",
                "tile_um": None if tile_mpp is None else tile_mpp * tile_px,
                "level0_magnification": _scalar(attrs.get("level0_magnification")),
                "target_magnification": _scalar(attrs.get("target_magnification"))}
    return ForeignSlide(slide_id, table, features, "trident", attributes, geometry)


def _clam(path: Path, slide_id: str, features: np.ndarray, xy: np.ndarray,
          attrs: dict[str, Any], attributes: dict[str, Any], slide_mpp: float | None,
          patch_px: int | None) -> ForeignSlide:
    level = int(_scalar(attrs.get("patch_level")) or 0)
    size = _scalar(attrs.get("patch_size"))
    downsample = _scalar(attrs.get("downsample")) or (1.0 if level == 0 else None)
    if patch_px:
        side0, source = float(patch_px), "argument"
    elif size and downsample:
        side0, source = size * downsample, "attribute"
    else:
        side0, source = _spacing(xy, path), "coordinate spacing"
    size = size or side0 / (downsample or 1.0)
    downsample = side0 / size
    tile_mpp = slide_mpp * downsample if slide_mpp else None
    table = _tile_table(xy, side0=side0, stride0=side0, level=level, read_px=int(round(size)),
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


# --------------------------------------------------------------------------- slideflow


#: torch storage classes (as pickled) and their NumPy element types.
_TORCH_STORAGES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bf16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


@dataclass(frozen=True)
class _Storage:
    name: str


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...], *_: Any) -> np.ndarray:
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset
    if offset < 0 or (all(size) and last >= len(storage)):
        raise pickle.UnpicklingError("tensor view outside its storage")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=[s * storage.itemsize for s in stride])
    return np.ascontiguousarray(view)


class _TorchUnpickler(pickle.Unpickler):
    """Rebuilds tensors as NumPy arrays; refuses every other global (no code runs)."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, byteorder: str) -> None:
        super().__init__(file)
        self.archive, self.prefix, self.byteorder = archive, prefix, byteorder

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _TORCH_STORAGES:
            return _Storage(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a plain tensor")

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"
                and isinstance(pid[1], _Storage)):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.80}")
        code = _TORCH_STORAGES[pid[1].name]
        raw = self.archive.read(f"{self.prefix}data/{pid[2]}")
        if code == "bf16":  # bfloat16 is the top half of a float32
            halves = np.frombuffer(raw, dtype=f"{'<' if self.byteorder == 'little' else '>'}u2")
            return (halves.astype(np.uint32) << 16).view(np.float32)
        dtype = np.dtype(code)
        if self.byteorder == "big" and dtype.itemsize > 1:
            dtype = dtype.newbyteorder(">")
        return np.frombuffer(raw, dtype=dtype)


def read_torch_tensor(path: str | Path) -> np.ndarray:
    """Read a tensor saved by ``torch.save`` (the zip format of torch >= 1.6) without PyTorch.

    The archive's ``data.pkl`` is unpickled by a restricted unpickler that knows only
    ``torch._utils._rebuild_tensor_v2`` and the storage types, so no code from the file
    runs; the storages are read from ``data/<key>``. A dict holding one tensor (or a
    ``features`` entry) gives that tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"tensor file {path}", "Check the path of the slideflow bag.")
    try:
        with zipfile.ZipFile(path) as archive:
            pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            if pkl is None:
                raise zipfile.BadZipFile("no data.pkl")
            prefix = pkl[: -len("data.pkl")]
            names = set(archive.namelist())
            order = (archive.read(f"{prefix}byteorder").decode().strip()
                     if f"{prefix}byteorder" in names else "little")
            with archive.open(pkl) as handle:
                value = _TorchUnpickler(handle, archive, prefix, order).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, KeyError, EOFError, ValueError) as error:
        raise DataError(str(path), f"not a tensor saved by torch.save ({error})",
                        "Pass a .pt bag written by slideflow (torch >= 1.6 zip format)") from None
    if isinstance(value, dict):
        arrays = {k: v for k, v in value.items() if isinstance(v, np.ndarray)}
        value = arrays.get("features", next(iter(arrays.values())) if len(arrays) == 1 else None)
    if not isinstance(value, np.ndarray):
        raise DataError(str(path), "holds no single tensor", "Pass a slideflow feature bag")
    return value


def _bag_config(path: Path) -> dict[str, Any]:
    config = path.parent / "bags_config.json"
    if not config.is_file():
        return {}
    try:
        return dict(json.loads(config.read_text()))
    except (ValueError, TypeError):
        raise DataError(str(config), "is not a JSON object", "Fix or remove it") from None


def read_slideflow_bag(path: str | Path, *, slide_id: str | None = None,
                       slide_mpp: float | None = None, patch_px: int | None = None,
                       tile_um: float | None = None) -> ForeignSlide:
    """Read a slideflow feature bag: ``<slide>.pt`` and its ``<slide>.index.npz`` of tile centres.

    Parameters
    ----------
    path : path
        The ``.pt`` file.
    slide_id : str, optional
        Default: the file's stem.
    slide_mpp : float, optional
        Level-0 microns per pixel: with ``tile_um`` it gives the tile side at level 0.
    patch_px : int, optional
        Tile side in level-0 pixels (default: ``tile_um / slide_mpp``, else the grid spacing
        of the tile centres).
    tile_um : float, optional
        Tile side in microns (default: ``bags_config.json`` beside the bag).
    """
    path = Path(path)
    features = _features(read_torch_tensor(path), path)
    index = path.with_name(f"{path.stem}.index.npz")
    if not index.is_file():
        raise DataNotFoundError(f"tile locations {index}", "slideflow writes <slide>.index.npz "
                                "beside each bag; copy it with the .pt file")
    with np.load(index, allow_pickle=False) as saved:
        key = "arr_0" if "arr_0" in saved.files else ("locations" if "locations" in saved.files
                                                     else saved.files[0])
        centres = _coords_xy(saved[key], len(features), index)
    config = _bag_config(path)
    tile_um = tile_um or _scalar(config.get("tile_um"))
    tile_px = _scalar(config.get("tile_px"))
    if patch_px:
        side0, source = float(patch_px), "argument"
    elif tile_um and slide_mpp:
        side0, source = tile_um / slide_mpp, "tile_um / slide_mpp"
    else:
        side0, source = _spacing(centres, path), "coordinate spacing"
    tile_px = int(tile_px or round(side0))
    tile_mpp = tile_um / tile_px if tile_um else (slide_mpp * side0 / tile_px if slide_mpp else None)
    table = _tile_table(centres - side0 / 2, side0=side0, stride0=side0, level=0,
                        read_px=int(round(side0)), tile_px=tile_px, tile_mpp=tile_mpp)
    geometry = {"side_level0_px": side0, "side_from": source, "locations": "centres",
                "tile_um": None if tile_mpp is None else tile_mpp * tile_px}
    return ForeignSlide(slide_id or path.stem, table, features, "slideflow",
                        {"bags_config": config, "index_key": key}, geometry)


# --------------------------------------------------------------------------- tables

#: Columns of an imported table that are not features.
_TABLE_METADATA = ("slide_id", "patient_id", "x", "y", "level", "read_px", "tile_mpp", "tile_px",
                   "tissue_fraction", "col", "row", "stain_status", "extractor")


def read_feature_table(path: str | Path, *, slide_column: str = "slide_id",
                       feature_prefix: str | None = None, slide_mpp: float | None = None,
                       patch_px: int | None = None) -> list[ForeignSlide]:
    """Read a CSV/TSV/Parquet table: a slide column, optional level-0 ``x``/``y``, features.

    Rows without coordinates (one per slide, say) get ``x = y = -1`` and ``col`` = their
    row number within the slide.

    Parameters
    ----------
    path : path
        The table.
    slide_column : str, default "slide_id"
        The column naming each row's slide.
    feature_prefix : str, optional
        Features are the columns starting with it; default every numeric column that is
        not tile metadata (x, y, level, patient_id, ...).
    slide_mpp : float, optional
        The slides' level-0 microns per pixel; the rows' tiles are level-0 pixels, so it is
        also their ``tile_mpp``.
    patch_px : int, optional
        Tile side in level-0 pixels (default: the spacing of ``x``/``y``).

    Returns
    -------
    list of ForeignSlide
        One per slide, in sorted order.
    """
    path = Path(path)
    frame = read_table(path, what="feature table")
    if slide_column not in frame.columns:
        raise DataError(str(path), f"no slide column {slide_column!r} (columns: "
                        f"{list(frame.columns)[:8]})", "Name it with --slide-column")
    if feature_prefix:
        names = [c for c in frame.columns if str(c).startswith(feature_prefix)]
    else:
        names = [c for c in frame.columns if c not in (*_TABLE_METADATA, slide_column)
                 and pd.api.types.is_numeric_dtype(frame[c])]
    if not names:
        raise DataError(str(path), "no numeric feature columns", "Pass --feature-prefix")
    bad = [c for c in names if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(str(path), f"non-numeric feature columns {bad[:5]}",
                        "Choose --feature-prefix so that it selects only features")
    has_xy = {"x", "y"} <= set(frame.columns)
    out = []
    for slide, rows in frame.groupby(frame[slide_column].astype(str), sort=True):
        features = rows[names].to_numpy()
        if has_xy:
            xy = rows[["x", "y"]].to_numpy(np.float64)
            side0 = float(patch_px) if patch_px else (
                _spacing(xy, path) if len(rows) > 1 else 1.0)
            table = _tile_table(xy, side0=side0, stride0=side0, level=0, read_px=int(side0),
                                tile_px=int(side0), tile_mpp=slide_mpp)
        else:
            side0 = 1.0
            table = _tile_table(np.full((len(rows), 2), -1.0), side0=1.0, stride0=1.0, level=0,
                                read_px=0, tile_px=0, tile_mpp=None)
            table["col"], table["row"] = np.arange(len(rows)), 0
        patients = rows["patient_id"].astype(str).unique() if "patient_id" in rows else []
        out.append(ForeignSlide(str(slide), table, features, "table",
                                {"columns": [str(c) for c in names]},
                                {"side_level0_px": side0 if has_xy else None,
                                 "coordinates": "level-0 x, y columns" if has_xy else "none"},
                                patient_id=str(patients[0]) if len(patients) == 1 else None))
    return out


# --------------------------------------------------------------------------- dispatch


def detect_format(path: str | Path) -> str:
    """The source format of a file from its suffix and, for h5, its attributes."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pt":
        return "slideflow"
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in H5_SUFFIXES:
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
    raise InvalidParameterError("source", "an .h5 (TRIDENT, CLAM), .pt (slideflow) or "
                                ".csv/.tsv/.parquet table", str(path))


def read_foreign(path: str | Path, *, source_format: str = "auto", **options: Any,
                 ) -> list[ForeignSlide]:
    """Read one source file into :class:`ForeignSlide` records (a table may hold many slides).

    ``options`` go to the reader: ``slide_mpp``, ``patch_px`` for all; ``tile_um``
    (slideflow), ``coords_downsample`` (h5), ``slide_column``, ``feature_prefix`` (tables).
    """
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


__all__ = ["FORMATS", "ForeignSlide", "detect_format", "grid_spacing", "h5_provenance",
           "read_feature_table",
           "read_foreign", "read_h5", "read_slideflow_bag", "read_torch_tensor", "write_h5"]
