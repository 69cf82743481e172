"""A byte-bounded LRU cache of decoded tiles, strips or frames, shared by reader threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

#: Decoded pixels a reader keeps: enough for a row of tiles across a wide striped
#: image, small beside the ~2 GB a whole extraction takes.
CACHE_BYTES = 128 << 20


class DecodedCache:
    """Least-recently-used arrays, evicted once their total size passes ``max_bytes``."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> np.ndarray | None:
        """The array under ``key`` (now the most recent), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: np.ndarray) -> None:
        """Keep ``value``; drop the least recent arrays beyond the budget (never the newest)."""
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= 0 if old is None else old.nbytes
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes
