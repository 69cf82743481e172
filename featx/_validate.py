"""Argument checks shared by the public API and every command.

Each check raises :class:`~featx.errors.InvalidParameterError` naming the argument, what it
must be and why. Sizes and resolutions have one set of bounds here, so every command that
cuts tiles or reads slides refuses the same values for the same reason
(:data:`MPP_RANGE`, :data:`TILE_PX_RANGE`, :data:`MAX_TILE_UM`), and an allocation an input
asks for is estimated and checked against the free memory before it is made
(:func:`fits_in_memory`, raising :class:`~featx.errors.MemoryBudgetError`).
"""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Collection
from pathlib import PurePosixPath

import numpy as np

from featx.errors import InvalidParameterError, MemoryBudgetError

#: Microns per pixel of a slide or a tile: 0.05 is finer than any light microscope scans
#: (a 100x oil objective gives about 0.1), 50 coarser than a slide's own thumbnail.
MPP_RANGE = (0.05, 50.0)
#: Tile sides in pixels: under 16 a tile holds a nucleus or two; over 8192 one RGB tile is
#: 200 MB, past any extractor's input.
TILE_PX_RANGE = (16, 8192)
#: Longest tile side in microns: 5 mm, a whole TMA core or a needle biopsy.
MAX_TILE_UM = 5_000.0
#: Share of the memory free now that one allocation an input asks for may take.
MEMORY_SHARE = 0.75
# Below this an allocation is not checked: asking the system costs more than it saves.
_UNCHECKED_BYTES = 64 * 2**20


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InvalidParameterError(name, "a positive int", value)
    return int(value)


def non_negative_int(name: str, value: object) -> int:
    """Return ``value`` as an int if it is an integer >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InvalidParameterError(name, "an int >= 0", value)
    return int(value)


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(name, "a positive number", value)
    if not np.isfinite(value) or value <= 0:
        raise InvalidParameterError(name, "a positive finite number", value)
    return float(value)


def non_negative_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            np.isfinite(value) and value >= 0):
        raise InvalidParameterError(name, "a number >= 0", value)
    return float(value)


def fraction(name: str, value: object) -> float:
    """Return ``value`` as a float if it lies in [0, 1], else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise InvalidParameterError(name, "a number in [0, 1]", value)
    return float(value)


def one_of(name: str, value: object, options: Collection[object]) -> object:
    """Return ``value`` if it is one of ``options``, else raise listing them."""
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise InvalidParameterError(name, f"one of {listed}", value)
    return value


def rgb_batch(name: str, value: object) -> np.ndarray:
    """Return ``value`` if it is a uint8 array of shape (N, H, W, 3), else raise."""
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8:
        got = getattr(value, "dtype", type(value).__name__)
        raise InvalidParameterError(name, "a uint8 NumPy array of shape (N, H, W, 3)", got)
    if value.ndim != 4 or value.shape[-1] != 3:
        raise InvalidParameterError(name, "a uint8 array of shape (N, H, W, 3)", value.shape)
    return value


# Names that become folder and file names: characters safe on every filesystem.
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def file_name(name: str, value: object) -> str:
    """Return ``value`` if it can name a file or folder on any filesystem, else raise."""
    if not isinstance(value, str) or not _FILE_NAME.match(value):
        raise InvalidParameterError(
            name, "a non-empty name of letters, digits and . _ + - (it becomes a file or "
            "folder name) not starting with . _ + -", value)
    return value


def relative_path(name: str, value: object, *, one_part: bool = False) -> str:
    """Return ``value`` if, joined to a folder, it stays inside that folder; else raise.

    For names a manifest or a server supplies (``featx fetch``, ``featx gdc``): an
    absolute path, a ``..`` part, a backslash (a Windows separator), a NUL or an empty
    name would write somewhere else. With ``one_part`` it must be a plain file name.
    """
    path = PurePosixPath(value) if isinstance(value, str) else None
    if (path is None or not value.strip() or "\x00" in value or "\\" in value
            or path.is_absolute() or ".." in path.parts or path.parts in ((), (".",))
            or (one_part and len(path.parts) != 1)):
        shape = "a plain file name" if one_part else "a relative path"
        raise InvalidParameterError(name, f"{shape} that stays inside the destination folder "
                                    "(no leading /, no .. and no backslash)", value)
    return value


def in_range(name: str, value: object, low: float, high: float, *, why: str,
             integer: bool = False) -> float:
    """Return ``value`` if it is a finite number in [low, high], else raise saying ``why``."""
    kind = "an int" if integer else "a number"
    number_type = numbers.Integral if integer else numbers.Real
    if (isinstance(value, bool) or not isinstance(value, number_type)
            or not np.isfinite(value) or not low <= value <= high):
        raise InvalidParameterError(name, f"{kind} in [{low:g}, {high:g}] ({why})", value)
    return int(value) if integer else float(value)


def mpp(name: str, value: object) -> float:
    """Return ``value`` if it is a resolution in :data:`MPP_RANGE` (microns per pixel), else raise."""
    return in_range(name, value, *MPP_RANGE, why="microns per pixel: 0.05 is finer than any "
                    "scanner, 50 coarser than a thumbnail")


def tile_px(name: str, value: object) -> int:
    """Return ``value`` if it is a tile side in :data:`TILE_PX_RANGE` (pixels), else raise."""
    return int(in_range(name, value, *TILE_PX_RANGE, integer=True,
                        why="a tile side in pixels: under 16 a tile holds a nucleus or two, "
                        "over 8192 one tile is 200 MB"))


def tile_side_um(tile_px: int, tile_mpp: float) -> float:
    """Return the tile side in microns if it is at most :data:`MAX_TILE_UM`, else raise."""
    side = tile_px * tile_mpp
    if side > MAX_TILE_UM:
        raise InvalidParameterError(
            "tile_px * tile_mpp", f"at most {MAX_TILE_UM:g} microns (a tile that big fits "
            "on no biopsy; lower --tile-px or --tile-mpp)", f"{side:g} microns")
    return side


def available_memory() -> int:
    """Bytes of memory free for new allocations now (free plus reclaimable caches)."""
    try:
        import psutil  # installed with dask.distributed

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil ships with distributed
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def fits_in_memory(what: str, n_bytes: float, *, fix: str) -> None:
    """Raise :class:`MemoryBudgetError` before an allocation of ``n_bytes`` that would not fit.

    Parameters
    ----------
    what : str
        What would be allocated, as the message shows it.
    n_bytes : float
        The estimate (it may overflow any integer type: it is compared as a float).
    fix : str
        Which value to lower, as the message shows it.
    """
    if n_bytes <= _UNCHECKED_BYTES:
        return
    budget = available_memory() * MEMORY_SHARE
    if n_bytes > budget:
        raise MemoryBudgetError(what, int(min(n_bytes, 2**62)), int(budget), fix)
