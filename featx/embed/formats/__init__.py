"""Embeddings other tools wrote, read as featx tile tables, and featx's written back out as h5.

One module per tool the people we build for already use:

- :mod:`~featx.embed.formats.h5`: **TRIDENT** and **CLAM** h5 (``features``, level-0
  ``coords`` and their attributes), and :func:`write_h5`, featx's store files in
  their layout;
- :mod:`~featx.embed.formats.slideflow`: **slideflow** feature bags (``<slide>.pt``,
  tile centres in ``<slide>.index.npz``, ``bags_config.json``), their tensors read
  without PyTorch by :mod:`~featx.embed.formats.torch_file`;
- :mod:`~featx.embed.formats.tables`: **tables** (CSV/TSV/Parquet with a slide
  column, optional level-0 ``x``/``y``, numeric feature columns).

Each gives :class:`ForeignSlide` records whose ``coords`` have the store's tile
columns (:mod:`~featx.embed.formats.foreign_slide`: the coordinate and tile-size
rules they share); :func:`read_foreign` (:mod:`~featx.embed.formats.dispatch`) picks
the reader from the file.
"""

from featx.embed.formats.dispatch import FORMATS, SOURCE_SUFFIXES, detect_format, read_foreign
from featx.embed.formats.foreign_slide import ForeignSlide, grid_spacing
from featx.embed.formats.h5 import h5_provenance, read_h5, write_h5
from featx.embed.formats.slideflow import read_slideflow_bag
from featx.embed.formats.tables import read_feature_table
from featx.embed.formats.torch_file import read_torch_tensor

__all__ = ["FORMATS", "SOURCE_SUFFIXES", "ForeignSlide", "detect_format", "grid_spacing",
           "h5_provenance", "read_feature_table", "read_foreign", "read_h5",
           "read_slideflow_bag", "read_torch_tensor", "write_h5"]
