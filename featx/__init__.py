"""featx: whole-slide images to tile embeddings, and the statistics to compare them.

The package is flat, one concept per module, and data flows one way through it::

    slide -> tissue -> tiling -> stain -> extractors -> store -> pooling
          -> models/stats -> slidescore -> report

Importing :mod:`featx` is light: TensorFlow is imported only by the modules that
build or run a model.
"""

__version__ = "0.1.0"

from featx.errors import FeatxError

__all__ = ["FeatxError", "__version__"]
