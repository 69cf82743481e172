"""The readers' decoded-pixel cache stays within its byte budget, least recent out first."""

from __future__ import annotations

import numpy as np

from featx.wsi._cache import DecodedCache


def test_budget_and_order():
    cache = DecodedCache(max_bytes=3000)
    for i in range(5):
        cache.put(i, np.zeros(1000, np.uint8))
        assert cache.nbytes <= 3000
    assert [cache.get(i) is None for i in range(5)] == [True, True, False, False, False]
    cache.get(2)  # now the most recent: 3 goes next
    cache.put(5, np.zeros(1000, np.uint8))
    assert cache.get(3) is None and cache.get(2) is not None
    cache.put(9, np.zeros(5000, np.uint8))  # larger than the budget: kept alone
    assert cache.get(9) is not None and cache.nbytes == 5000
    cache.clear()
    assert cache.nbytes == 0 and cache.get(9) is None
