"""The small protocol every feature extractor follows.

An extractor maps a batch of uint8 RGB tiles to float32 embeddings. Anything
with these attributes works with the pipeline, the store and the statistics, so
a user can plug in their own Keras model (see :mod:`featx.extractors.keras_model`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Extractor(Protocol):
    """A tile feature extractor.

    Attributes
    ----------
    name : str
        Stable identifier written into every file it produced (e.g. ``"IMGNET-2048"``).
    n_features : int
        Length of one embedding.
    input_px : int
        Tile side the model expects; other sizes are resized to it.
    config : dict
        JSON-serialisable identity: name, weights sha256, preprocessing, input size.
    """

    name: str
    n_features: int
    input_px: int

    @property
    def config(self) -> dict[str, Any]: ...

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """Embed a uint8 batch of shape (N, H, W, 3); return float32 (N, n_features)."""
        ...
