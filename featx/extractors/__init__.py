"""Tile feature extractors: a small protocol and its implementations.

Only the protocol and the TensorFlow-free :class:`ColorStatsExtractor` load with
this package; the Keras extractors import TensorFlow, so they load on first use::

    from featx.extractors import ImagenetXception   # imports TensorFlow now
"""

from __future__ import annotations

from typing import Any

from featx.extractors.base import Extractor
from featx.extractors.colorstats import ColorStatsExtractor

_LAZY = {
    "ImagenetXception": "featx.extractors.xception",
    "KerasExtractor": "featx.extractors.keras_model",
    "FineTunedXception": "featx.extractors.finetuned",
    "resolve_xception_weights": "featx.extractors.weights",
}

__all__ = ["ColorStatsExtractor", "Extractor", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'featx.extractors' has no attribute {name!r}")
