"""Feature files as TRIDENT, CLAM and slideflow write them, for the import tests.

The slideflow bag is written in torch's own zip format (``torch.save``) without
PyTorch: ``archive/data.pkl`` pickles ``torch._utils._rebuild_tensor_v2`` over a
persistent storage id, the storage bytes are ``archive/data/0``. Stand-in ``torch``
modules exist only while pickling, so the pickle names the real globals.
"""

from __future__ import annotations

import io
import json
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np

SIDE0 = 512  # tile side at level 0 (40x), 256 px at 20x = 128 um at 0.25 um/px


class _Tensor:
    def __init__(self, storage: np.ndarray, shape: tuple[int, ...], stride: tuple[int, ...]):
        self.storage, self.shape, self.stride = storage, shape, stride


def write_torch_tensor(path: Path, array: np.ndarray, *, transposed: bool = False) -> Path:
    """Write ``array`` as ``torch.save`` does (zip format, protocol 2, little-endian)."""
    array = np.asarray(array, dtype=np.float32)
    if transposed:  # a non-contiguous view: column-major storage with swapped strides
        storage, stride = np.ascontiguousarray(array.T).ravel(), (1, array.shape[0])
    else:
        storage, stride = np.ascontiguousarray(array).ravel(), (array.shape[1], 1)
    return write_torch_archive(path, storage, shape=array.shape, stride=stride)


def write_torch_archive(path: Path, storage: np.ndarray, *, shape: tuple, stride: tuple,
                        offset: object = 0, numel: int | None = None,
                        kind: str = "FloatStorage", payload: bytes | None = None,
                        call_storage: bool = False, compress: bool = False,
                        storage_bytes: int | None = None) -> Path:
    """A ``torch.save`` archive of one tensor whose every field the caller chooses.

    ``storage`` is written as ``archive/data/0`` (``storage_bytes`` zero bytes instead,
    written in chunks, for a large member); the pickle rebuilds a tensor of ``shape`` and
    ``stride`` at ``offset`` over a storage of ``numel`` elements (default: its length).
    ``payload`` replaces the pickle; ``call_storage`` makes it call the storage class (a
    constructor call, as a hostile file might); ``compress`` deflates every member.
    """
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - never called, only named
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", (
        "_rebuild_tensor_v2")
    storage_class = type(kind, (), {"__module__": "torch"})
    setattr(torch, kind, storage_class)
    torch._utils, utils._rebuild_tensor_v2 = utils, _rebuild_tensor_v2
    n = len(storage) if storage_bytes is None else storage_bytes // 4
    numel = n if numel is None else numel

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, np.ndarray):
                return ("storage", storage_class, "0", "cpu", numel)
            return None

        def reducer_override(self, obj):
            if isinstance(obj, _Tensor):
                source = _Call(storage_class, (numel,)) if call_storage else obj.storage
                return _rebuild_tensor_v2, (source, offset, obj.shape, obj.stride, False,
                                            OrderedDict())
            if isinstance(obj, _Call):
                return obj.func, obj.args
            return NotImplemented

    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        buffer = io.BytesIO()
        Pickler(buffer, protocol=2).dump(_Tensor(storage, shape, stride))
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue() if payload is None else payload)
        archive.writestr("archive/byteorder", "little")
        if storage_bytes is None:
            archive.writestr("archive/data/0", np.asarray(storage).tobytes())
        else:
            with archive.open("archive/data/0", "w", force_zip64=True) as member:
                for start in range(0, storage_bytes, 1 << 24):
                    member.write(bytes(min(1 << 24, storage_bytes - start)))
        archive.writestr("archive/version", "3\n")
    return path


class _Call:
    def __init__(self, func, args):
        self.func, self.args = func, args


def grid(n_cols: int = 4, n_rows: int = 3) -> np.ndarray:
    """Level-0 top-left corners of a tile grid with a 512 px stride, away from the origin."""
    cols, rows = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
    return np.stack([1024 + cols.ravel() * SIDE0, 2048 + rows.ravel() * SIDE0], 1).astype(
        np.int64)


def write_trident(path: Path, features: np.ndarray, coords: np.ndarray) -> Path:
    """TRIDENT: level-0 corners, 256 px tiles at 20x read from 512 px at 40x."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("features", data=features)
        dataset = handle.create_dataset("coords", data=coords)
        dataset.attrs.update({"patch_size": 256, "patch_size_level0": SIDE0,
                              "level0_magnification": 40, "target_magnification": 20,
                              "overlap": 0, "name": path.stem, "savetodir": "/trident/out"})
    return path


def write_clam(path: Path, features: np.ndarray, coords: np.ndarray, *, attrs: bool = True
               ) -> Path:
    """CLAM: level-0 corners of 256 px patches read at level 1 (downsample 2)."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("features", data=features)
        dataset = handle.create_dataset("coords", data=coords)
        if attrs:
            dataset.attrs.update({"patch_level": 1, "patch_size": 256,
                                  "downsample": np.array([2.0, 2.0]),
                                  "level_dim": np.array([8192, 6144]),
                                  "downsampled_level_dim": np.array([4096, 3072])})
    return path


def write_slideflow(folder: Path, slide_id: str, features: np.ndarray, coords: np.ndarray, *,
                    config: bool = True) -> Path:
    """slideflow: ``<slide>.pt``, tile centres in ``<slide>.index.npz``, bags_config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    path = write_torch_tensor(folder / f"{slide_id}.pt", features, transposed=True)
    np.savez(folder / f"{slide_id}.index.npz", coords + SIDE0 // 2)
    if config:
        (folder / "bags_config.json").write_text(json.dumps(
            {"extractor": {"class": "slideflow.model.extractors.uni.UNIFeatures"},
             "normalizer": None, "tile_px": 256, "tile_um": 128}))
    return path
