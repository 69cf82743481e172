"""Tensors saved by ``torch.save`` read without PyTorch, and without running code from the file.

The zip format of torch >= 1.6 holds ``data.pkl`` (a pickle naming
``torch._utils._rebuild_tensor_v2`` over persistent storage ids) and the storages'
bytes under ``data/<key>``. :func:`read_torch_tensor` unpickles with a restricted
unpickler that knows only that rebuild function and the storage types, so any other
global in the file is refused before it runs. slideflow's feature bags are such files
(:mod:`featx.embed.formats.slideflow`).
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featx.errors import DataError, DataNotFoundError

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


__all__ = ["read_torch_tensor"]
