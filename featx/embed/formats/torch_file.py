"""Tensors saved by ``torch.save`` read without PyTorch, and without trusting the file.

The zip format of torch >= 1.6 holds ``data.pkl`` (a pickle naming
``torch._utils._rebuild_tensor_v2`` over persistent storage ids) and the storages'
bytes under ``data/<key>``. :func:`read_torch_tensor` unpickles with a restricted
unpickler that knows only that rebuild function and the storage types, so any other
global in the file is refused before it runs. slideflow's feature bags are such files
(:mod:`featx.embed.formats.slideflow`).

Nothing in the file is believed before it is checked against the bytes it holds:

- an archive member is read only up to the size it declares, only if that fits in
  memory, and only if it does not expand more than :data:`MAX_EXPANSION` times
  (``torch.save`` stores members uncompressed; a deflate bomb is refused unread);
- a storage must hold the bytes its element count needs;
- a tensor's offset, sizes and strides must be non-negative integers whose every
  element lies inside its storage, and it may not hold more elements than its storage
  (no stride-0 repetition into a huge array), so no view ever reads memory it does
  not own.

Any failure is a :class:`~featx.errors.DataError` naming the file, so a folder import
fails that file and goes on.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featx._validate import fits_in_memory
from featx.errors import DataError, DataNotFoundError, FeatxError

#: torch storage classes (as pickled) and their NumPy element types.
_TORCH_STORAGES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bf16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}
#: Most an archive member may expand when decompressed (float features compress ~1.1:1).
MAX_EXPANSION = 20
#: Largest ``data.pkl`` read: a tensor's pickle is under a kilobyte.
MAX_PICKLE_BYTES = 16 * 2**20
#: Most dimensions a tensor may have.
MAX_DIMS = 8


# What the file does that is not a plain tensor: raised as pickle's own error, becomes a
# DataError naming the file.
_Refused = pickle.UnpicklingError


@dataclass(frozen=True)
class _Storage:
    name: str


def read_member(archive: zipfile.ZipFile, name: str, *, n_bytes: int | None = None) -> bytes:
    """An archive member's bytes (its first ``n_bytes``), checked before it is decompressed.

    Raises :class:`pickle.UnpicklingError` for a member that is absent, shorter than
    ``n_bytes``, or expands more than :data:`MAX_EXPANSION` times, and
    :class:`~featx.errors.MemoryBudgetError` for one that would not fit in memory.
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise _Refused(f"it has no {name}") from None
    want = info.file_size if n_bytes is None else n_bytes
    if info.file_size < want:
        raise _Refused(f"{name} holds {info.file_size} bytes where its tensor needs {want}")
    if info.compress_type != zipfile.ZIP_STORED and (
            info.file_size > MAX_EXPANSION * info.compress_size + 65536):
        raise _Refused(f"{name} would expand from {info.compress_size} to {info.file_size} "
                       "bytes (a decompression bomb; torch.save stores members uncompressed)")
    fits_in_memory(f"{name} of {archive.filename}", want, fix="this bag is too large to import")
    with archive.open(info) as handle:
        data = handle.read(want)
    if len(data) != want:
        raise _Refused(f"{name} ends after {len(data)} of its {want} bytes")
    return data


def _ints(values: Any) -> tuple[int, ...] | None:
    """A tuple of Python ints, or None if ``values`` is anything else."""
    if not isinstance(values, (tuple, list)) or len(values) > MAX_DIMS:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return tuple(values)


def tensor_view(storage: np.ndarray, offset: Any, size: Any, stride: Any) -> np.ndarray:
    """The tensor ``storage[offset]`` with ``size`` and ``stride``, copied, after every check.

    Every element the view addresses lies in ``storage``: offset, sizes and strides are
    non-negative ints, ``offset + sum((size - 1) * stride)`` is inside it, and the view
    holds no more elements than the storage.
    """
    shape, steps = _ints(size), _ints(stride)
    if shape is None or steps is None or len(shape) != len(steps) or _ints([offset]) is None:
        raise _Refused(f"a tensor with size {size!r:.60}, stride {stride!r:.60} and offset "
                       f"{offset!r:.20} (expected up to {MAX_DIMS} ints each)")
    if offset < 0 or min(shape, default=0) < 0 or min(steps, default=0) < 0:
        raise _Refused(f"a tensor with negative offset, size or stride ({offset}, {shape}, "
                       f"{steps}); torch writes none")
    n = math.prod(shape)
    if n == 0:
        if offset > len(storage):
            raise _Refused(f"an empty tensor at offset {offset} past its storage of {len(storage)}")
        return np.zeros(shape, storage.dtype)
    last = offset + sum((k - 1) * s for k, s in zip(shape, steps))
    if last >= len(storage):
        raise _Refused(f"a tensor of size {shape}, stride {steps} at offset {offset} reaches "
                       f"element {last} of a storage of {len(storage)}")
    if n > len(storage):
        raise _Refused(f"a tensor of {n} elements repeating a storage of {len(storage)} "
                       "(stride 0); a feature bag holds each value once")
    # A dimension of size 1 never moves: its stride is irrelevant (and may be anything).
    strides = [0 if k == 1 else s * storage.itemsize for k, s in zip(shape, steps)]
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=shape, strides=strides,
                                           writeable=False)
    return np.ascontiguousarray(view)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> np.ndarray:
    if not isinstance(storage, np.ndarray):
        raise _Refused(f"a tensor over {type(storage).__name__}, not a storage")
    return tensor_view(storage, offset, size, stride)


class _TorchUnpickler(pickle.Unpickler):
    """Rebuilds tensors as NumPy arrays; refuses every other global (no code runs)."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, byteorder: str) -> None:
        super().__init__(file)
        self.archive, self.prefix, self.byteorder = archive, prefix, byteorder
        self.storages: dict[str, np.ndarray] = {}  # tensors may share one

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _TORCH_STORAGES:
            return _Storage(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise _Refused(f"{module}.{name} is not part of a plain tensor")

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _Storage) and isinstance(pid[2], str)
                and _ints([pid[4]]) is not None and pid[4] >= 0):
            raise _Refused(f"unknown persistent id {pid!r:.80}")
        key, numel = pid[2], pid[4]
        cache_key = f"{pid[1].name}/{key}"
        if cache_key not in self.storages:
            self.storages[cache_key] = self._storage(pid[1].name, key, numel)
        storage = self.storages[cache_key]
        if len(storage) != numel:
            raise _Refused(f"storage {key} read as {len(storage)} and {numel} elements")
        return storage

    def _storage(self, kind: str, key: str, numel: int) -> np.ndarray:
        code = _TORCH_STORAGES[kind]
        itemsize = 2 if code == "bf16" else np.dtype(code).itemsize
        raw = read_member(self.archive, f"{self.prefix}data/{key}", n_bytes=numel * itemsize)
        if code == "bf16":  # bfloat16 is the top half of a float32
            halves = np.frombuffer(raw, dtype=f"{'<' if self.byteorder == 'little' else '>'}u2")
            return (halves.astype(np.uint32) << 16).view(np.float32)
        dtype = np.dtype(code)
        if self.byteorder == "big" and dtype.itemsize > 1:
            dtype = dtype.newbyteorder(">")
        return np.frombuffer(raw, dtype=dtype)


def _load(archive: zipfile.ZipFile) -> Any:
    pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
    if pkl is None:
        raise _Refused("it has no data.pkl")
    prefix = pkl[: -len("data.pkl")]
    order = "little"
    if f"{prefix}byteorder" in archive.namelist():
        order = read_member(archive, f"{prefix}byteorder").decode(errors="replace").strip()
        if order not in ("little", "big"):
            raise _Refused(f"byteorder {order!r:.20}")
    if archive.getinfo(pkl).file_size > MAX_PICKLE_BYTES:
        raise _Refused(f"{pkl} holds {archive.getinfo(pkl).file_size} bytes; a tensor's "
                       f"pickle needs under {MAX_PICKLE_BYTES}")
    data = read_member(archive, pkl)
    return _TorchUnpickler(io.BytesIO(data), archive, prefix, order).load()


def read_torch_tensor(path: str | Path) -> np.ndarray:
    """Read a tensor saved by ``torch.save`` (the zip format of torch >= 1.6) without PyTorch.

    The archive's ``data.pkl`` is unpickled by a restricted unpickler that knows only
    ``torch._utils._rebuild_tensor_v2`` and the storage types, so no code from the file
    runs; the storages are read from ``data/<key>``, and every tensor is checked against
    its storage before a byte of it is copied (see the module docstring). A dict holding
    one tensor (or a ``features`` entry) gives that tensor.

    Raises
    ------
    DataNotFoundError
        No such file.
    DataError
        Not a plain tensor of torch's zip format, or one whose structure does not fit the
        bytes it holds.
    MemoryBudgetError
        A storage that would not fit in the free memory.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"tensor file {path}", "Check the path of the slideflow bag.")
    try:
        with zipfile.ZipFile(path) as archive:
            value = _load(archive)
    except FeatxError:
        raise
    except _Refused as error:
        raise DataError(str(path), f"refused: {error}", "Pass a .pt bag written by slideflow "
                        "(torch.save of one tensor); nothing of this file was imported") from None
    except Exception as error:  # noqa: BLE001 - a hostile pickle can raise anything
        raise DataError(str(path), f"not a tensor saved by torch.save ({type(error).__name__}: "
                        f"{error!s:.200})", "Pass a .pt bag written by slideflow (torch >= 1.6 "
                        "zip format)") from None
    if isinstance(value, dict):
        arrays = {k: v for k, v in value.items() if isinstance(v, np.ndarray)}
        value = arrays.get("features", next(iter(arrays.values())) if len(arrays) == 1 else None)
    if not isinstance(value, np.ndarray):
        raise DataError(str(path), "holds no single tensor", "Pass a slideflow feature bag")
    return value


__all__ = ["MAX_EXPANSION", "MAX_PICKLE_BYTES", "read_member", "read_torch_tensor",
           "tensor_view"]
