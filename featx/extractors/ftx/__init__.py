"""FTX-2048: the paper's two-step fine-tuning of ImageNet Xception, and the extractor it makes.

:class:`XceptionFineTuner` trains the network of :mod:`~featx.extractors.ftx.model`
on a class-per-folder tile set (:mod:`~featx.extractors.ftx.data`);
:class:`FineTunedXception` reads the saved model back as an extractor.
"""

from featx.extractors.ftx.data import TileDataset, load_tile, read_tile_folder, stratified_split
from featx.extractors.ftx.extractor import FineTunedXception
from featx.extractors.ftx.model import build_ftx_model
from featx.extractors.ftx.tuner import XceptionFineTuner

__all__ = ["FineTunedXception", "TileDataset", "XceptionFineTuner", "build_ftx_model",
           "load_tile", "read_tile_folder", "stratified_split"]
