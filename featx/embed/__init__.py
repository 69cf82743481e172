"""Slides to stored embeddings: the pipeline, the Parquet store, batch runs, pooling.

::

    slide --(pipeline: tiles -> stain -> extractor)--> SlideEmbeddings
          --(store)--> <root>/extractor=<NAME>/<slide_id>.parquet
          --(pooling)--> one mean embedding per patient or slide

:func:`run_batch` runs the pipeline over a manifest's slides, resumably and on Dask
if asked (``featx extract``), with :class:`ExtractionSettings` (what to extract and
how) and :class:`ClusterSettings` (where); :func:`import_embeddings` brings in what
TRIDENT, CLAM and slideflow wrote (``featx import``) and :func:`export_embeddings`
writes the store as their h5 (``featx export``). Downloads live in :mod:`featx.downloads`.
"""

from featx.embed.batch import read_status, run_batch
from featx.embed.interop import export_embeddings, import_embeddings
from featx.embed.pipeline import SlideEmbeddings, embed_slide
from featx.embed.pooling import pool_embeddings, pooled_matrix
from featx.embed.settings import ClusterSettings, ExtractionSettings
from featx.embed.slides import slide_table
from featx.embed.store import (
    dataset,
    list_extractors,
    list_slides,
    provenance,
    read_slide,
    read_store,
    write_slide_embeddings,
)

__all__ = ["ClusterSettings", "ExtractionSettings", "SlideEmbeddings", "dataset", "embed_slide",
           "export_embeddings", "import_embeddings", "list_extractors", "list_slides",
           "pool_embeddings", "pooled_matrix", "provenance", "read_slide", "read_status",
           "read_store", "run_batch", "slide_table", "write_slide_embeddings"]
