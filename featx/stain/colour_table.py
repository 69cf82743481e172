"""The per-slide colour map: with one source fit, an output pixel depends only on its colour.

A table over all 2^24 RGB colours (64 MiB, filled on demand) holds each colour's
mapped colour and whether it is tissue, so once a slide's palette has been seen a
tile costs two memory passes. Filling marks slots in place, so one writer at a time
holds the table's lock; readers need none, because a filled slot always holds its
final value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np

FILLED = 1 << 24  # bit 24: the entry holds a mapped colour
TISSUE = 1 << 25  # bit 25: the colour is tissue (no higher bit is ever set)


def colour_keys(tiles: np.ndarray) -> np.ndarray:
    """``r | g << 8 | b << 16`` of every pixel of a uint8 (N, H, W, 3) batch, (N * H, W) uint32.

    OpenCV's RGB -> RGBA packs the pixels four bytes apart in one pass (3x faster than a
    NumPy channel copy); the alpha byte is then masked off.
    """
    n, h, w, _ = tiles.shape
    rgba = cv2.cvtColor(np.ascontiguousarray(tiles).reshape(n * h, w, 3), cv2.COLOR_RGB2RGBA)
    keys = rgba.view("<u4")[..., 0]
    return np.bitwise_and(keys, (1 << 24) - 1, out=keys)


def distinct_unfilled(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Distinct values of ``keys``, all unfilled colours of ``table``, without sorting.

    Each key's table slot briefly holds the position (+1) of the last occurrence
    written to it; the positions that read back their own number are one per
    colour. The slots are all filled right after, so the marks never persist.
    """
    if keys.size >= FILLED:  # a single tile of 16 megapixels or more
        return np.unique(keys)
    order = np.arange(1, keys.size + 1, dtype="<u4")  # < 2^24: never looks filled
    table[keys] = order
    return keys[table[keys] == order]


class ColourTable:
    """Colour -> (mapped colour, tissue) for one source fit, filled by ``mapper`` on demand.

    Parameters
    ----------
    mapper : callable
        ``mapper(rgb)`` with ``rgb`` uint8 (K, 3) returns (mapped uint8 (K, 3), tissue bool (K,)).
    """

    def __init__(self, mapper: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
        self._mapper = mapper
        self._table: np.ndarray | None = None
        self._lock = threading.Lock()

    def lookup(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mapped colours (N, H, W, 3) and tissue flags (N, H, W) of a uint8 batch."""
        keys = colour_keys(tiles)
        values = None if self._table is None else np.take(self._table, keys)
        if values is None or values.min() < FILLED:  # cheaper than a full comparison
            with self._lock:
                if self._table is None:
                    self._table = np.zeros(1 << 24, dtype="<u4")
                if values is None:
                    values = np.take(self._table, keys)
                missing = np.flatnonzero(values < FILLED)
                # Read the missing slots again under the lock: another writer may have filled them.
                todo = keys.reshape(-1)[missing]
                todo = todo[np.take(self._table, todo) < FILLED]
                if todo.size:
                    self._fill(distinct_unfilled(self._table, todo))
                values.reshape(-1)[missing] = np.take(self._table, keys.reshape(-1)[missing])
        n, h, w, _ = tiles.shape
        mapped = cv2.cvtColor(values.view(np.uint8).reshape(n * h, w, 4), cv2.COLOR_RGBA2RGB)
        return mapped.reshape(tiles.shape), (values >= TISSUE).reshape(n, h, w)

    def _fill(self, keys: np.ndarray) -> None:
        for start in range(0, keys.size, 1 << 20):  # bounded temporaries
            chunk = keys[start : start + (1 << 20)]
            rgb = np.stack([chunk & 255, (chunk >> 8) & 255, chunk >> 16], axis=-1).astype(np.uint8)
            mapped, tissue = self._mapper(rgb)
            mapped = mapped.astype("<u4")
            flags = (1 | (tissue.astype("<u4") << 1)) << 24
            self._table[chunk] = mapped[:, 0] | (mapped[:, 1] << 8) | (mapped[:, 2] << 16) | flags
