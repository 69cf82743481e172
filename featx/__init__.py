"""featx: whole-slide images to tile embeddings, and the statistics to compare them.

The subpackages follow the data, one way (see ``featx/ARCHITECTURE.md``)::

    wsi -> stain -> extractors -> embed -> evaluation -> slidescore -> report -> cli

``featx.wsi`` (slides, tissue, tiles), ``featx.stain`` (Macenko), ``featx.extractors``
(Xception, FTX-2048, any Keras model), ``featx.embed`` (pipeline, Parquet store, batch
runs, manifests, downloads, pooling), ``featx.evaluation`` (the three experiments on
identical folds, paired tests), ``featx.slidescore`` (heatmaps, slide scores, U-Net),
``featx.report`` (HTML reports) and ``featx.cli`` (the ``featx`` command). Every error
featx raises derives from :class:`featx.errors.FeatxError`.

Importing :mod:`featx` is light: TensorFlow is imported only by the modules that
build or run a model.
"""

__version__ = "0.1.0"

from featx.errors import FeatxError

__all__ = ["FeatxError", "__version__"]
