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
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - never called, only named
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", (
        "_rebuild_tensor_v2")
    float_storage = type("FloatStorage", (), {"__module__": "torch"})
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = float_storage, utils, (
        _rebuild_tensor_v2)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, np.ndarray):
                return ("storage", float_storage, "0", "cpu", obj.size)
            return None

        def reducer_override(self, obj):
            if isinstance(obj, _Tensor):
                return _rebuild_tensor_v2, (obj.storage, 0, obj.shape, obj.stride, False,
                                            OrderedDict())
            return NotImplemented

    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        buffer = io.BytesIO()
        Pickler(buffer, protocol=2).dump(_Tensor(storage, array.shape, stride))
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", storage.astype("<f4").tobytes())
        archive.writestr("archive/version", "3\n")
    return path


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
