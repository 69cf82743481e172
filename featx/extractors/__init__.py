"""Tile feature extractors: a small protocol, the built-in ones, and the registry of names.

An extractor maps a uint8 batch of tiles (N, H, W, 3) to float32 embeddings
(N, n_features) and has a ``config`` (its JSON identity). Built in:

- :class:`ColorStatsExtractor` (``COLORSTATS``): colour statistics, no network;
- :class:`ImagenetXception` (``IMGNET-2048``): the frozen ImageNet Xception;
- :class:`FineTunedXception` (``FTX-2048``): a fine-tuned Xception's head
  (train one with :class:`XceptionFineTuner`, in :mod:`featx.extractors.ftx`);
- :class:`KerasExtractor`: any layer of any Keras model;
- :class:`KerasApplication` (``keras:<Name>``): any ``keras.applications`` backbone;
- :class:`OnnxExtractor` (``onnx:<model.onnx>``): any ONNX image model, via onnxruntime.

Importing this package does not import TensorFlow: the Keras extractors load it
when one is built.
"""

from featx.extractors.base import Extractor
from featx.extractors.colorstats import ColorStatsExtractor
from featx.extractors.ftx import FineTunedXception, XceptionFineTuner
from featx.extractors.keras_apps import KerasApplication
from featx.extractors.keras_model import KerasExtractor
from featx.extractors.onnx_model import OnnxExtractor
from featx.extractors.registry import (
    KNOWN_EXTRACTORS,
    ExtractorFactory,
    describe_extractors,
    get_extractor,
)
from featx.extractors.weights import resolve_xception_weights
from featx.extractors.xception import ImagenetXception

__all__ = ["KNOWN_EXTRACTORS", "ColorStatsExtractor", "Extractor", "ExtractorFactory",
           "FineTunedXception", "ImagenetXception", "KerasApplication", "KerasExtractor",
           "OnnxExtractor", "XceptionFineTuner", "describe_extractors", "get_extractor",
           "resolve_xception_weights"]
