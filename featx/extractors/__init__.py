"""Tile feature extractors: a small protocol and its implementations."""

from featx.extractors.base import Extractor
from featx.extractors.colorstats import ColorStatsExtractor

__all__ = ["ColorStatsExtractor", "Extractor"]
