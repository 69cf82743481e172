"""A tiny extractor with no neural network: colour statistics of a tile.

It keeps tests, examples and dry runs free of TensorFlow, and is a baseline
that any learned extractor should beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from featx._validate import positive_int, rgb_batch


class ColorStatsExtractor:
    """Per-channel mean, standard deviation and an intensity histogram.

    Parameters
    ----------
    bins : int, default 8
        Histogram bins per channel. ``n_features = 3 * (2 + bins)``.
    input_px : int, default 224
        Nominal tile size; any size is accepted since statistics do not depend on it.
    """

    name = "COLORSTATS"

    def __init__(self, *, bins: int = 8, input_px: int = 224) -> None:
        self.bins = positive_int("bins", bins)
        self.input_px = positive_int("input_px", input_px)
        self.n_features = 3 * (2 + self.bins)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable identity of this extractor."""
        return {"name": self.name, "bins": self.bins, "input_px": self.input_px,
                "n_features": self.n_features, "weights_sha256": None}

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """Embed a uint8 batch (N, H, W, 3) into float32 (N, n_features)."""
        tiles = rgb_batch("tiles", tiles)
        pixels = tiles.reshape(len(tiles), -1, 3).astype(np.float32) / 255.0
        mean, std = pixels.mean(axis=1), pixels.std(axis=1)
        n, per_tile = len(tiles), pixels.shape[1]
        idx = np.minimum((pixels * self.bins).astype(np.int64), self.bins - 1)
        # One bincount for the whole batch: offset each (tile, channel) into its own bins.
        offsets = (np.arange(n)[:, None, None] * 3 + np.arange(3)) * self.bins
        counts = np.bincount((idx + offsets).ravel(), minlength=n * 3 * self.bins)
        hist = counts.reshape(n, 3 * self.bins).astype(np.float32) / per_tile
        return np.concatenate([mean, std, hist], axis=1).astype(np.float32)
