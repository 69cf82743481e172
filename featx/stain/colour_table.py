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

import numpy as np

FILLED = 1 << 24  # bit 24: the entry holds a mapped colour; bit 25: the colour is tissue


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
        packed = np.zeros(tiles.shape[:3] + (4,), dtype=np.uint8)
        packed[..., :3] = tiles
        keys = packed.view("<u4")[..., 0]  # r | g << 8 | b << 16 on every platform
        values = None if self._table is None else self._table[keys]
        if values is None or (values < FILLED).any():
            with self._lock:
                if self._table is None:
                    self._table = np.zeros(1 << 24, dtype="<u4")
                values = self._table[keys]
                missing = values < FILLED
                if missing.any():
                    self._fill(distinct_unfilled(self._table, keys[missing]))
                    values = self._table[keys]
        mapped = values.view(np.uint8).reshape(tiles.shape[:3] + (4,))[..., :3]
        return mapped, ((values >> 25) & 1).astype(bool)

    def _fill(self, keys: np.ndarray) -> None:
        for start in range(0, keys.size, 1 << 20):  # bounded temporaries
            chunk = keys[start : start + (1 << 20)]
            rgb = np.stack([chunk & 255, (chunk >> 8) & 255, chunk >> 16], axis=-1).astype(np.uint8)
            mapped, tissue = self._mapper(rgb)
            mapped = mapped.astype("<u4")
            flags = (1 | (tissue.astype("<u4") << 1)) << 24
            self._table[chunk] = mapped[:, 0] | (mapped[:, 1] << 8) | (mapped[:, 2] << 16) | flags
