"""Embedding tables from disk: a featx store, a pooled table, or any wide feature table.

``featx evaluate`` takes one table per extractor; :func:`embedding_sources` names
them, :func:`read_embeddings` reads each as an ID-indexed matrix, and
:func:`source_provenance` says what produced it (the store's provenance).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from featx._io import read_table
from featx.embed.store import provenance
from featx.errors import DataError, StoreError
from featx.wsi.tiling import TILE_TABLE_COLUMNS

#: Columns of a featx store file or pooled table (``featx pool``) that describe a
#: tile, slide or patient rather than embed it.
TILE_METADATA = (*TILE_TABLE_COLUMNS, "patient_id", "stain_status", "extractor", "n_slides",
                 "n_tiles")
#: ID columns tried in order when none is named.
ID_COLUMNS = ("patient_id", "patient", "slide_id", "sample", "tile_id", "file")


def read_embeddings(path: str | Path, *, id_column: str | None = None) -> pd.DataFrame:
    """Read one extractor's embeddings (Parquet file or folder) as an ID-indexed matrix.

    Accepts a featx store (an ``embedding`` list column plus tile metadata, e.g. a
    ``<store>/extractor=NAME`` folder), a pooled table from ``featx pool``
    (patient_id, n_slides, n_tiles, f0000...) or any wide table of numeric features.

    Parameters
    ----------
    path : str or Path
        Parquet file, or folder of Parquet files of one extractor.
    id_column : str, optional
        Column holding the row ID. Default: the first of :data:`ID_COLUMNS` present,
        else the table's index.

    Returns
    -------
    pandas.DataFrame
        float features indexed by ID (several rows per ID stay: pool them with
        :func:`mean_by_patient`).
    """
    path = Path(path)
    table = read_table(path, what="embedding table")
    if id_column is None:
        id_column = next((c for c in ID_COLUMNS if c in table.columns), None)
    if id_column is not None:
        if id_column not in table.columns:
            raise DataError(str(path), f"no column {id_column!r} (columns: "
                            f"{list(table.columns[:8])})", "Name the ID column with --id-column")
        table = table.set_index(id_column)
    table.index = table.index.astype(str)
    if "embedding" in table.columns:
        matrix = np.stack(table["embedding"].to_numpy()).astype(np.float64)
        return pd.DataFrame(matrix, index=table.index,
                            columns=[f"f{i:04d}" for i in range(matrix.shape[1])])
    features = table.drop(columns=[c for c in TILE_METADATA if c in table.columns])
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise DataError(str(path), f"non-numeric columns {non_numeric[:5]}",
                        "Keep only the ID and the feature columns, or name the ID column")
    features.columns = features.columns.astype(str)
    return features.astype(np.float64)


def embedding_sources(paths: list[str | Path]) -> dict[str, Path]:
    """Name each extractor's Parquet source.

    ``NAME=path`` names it explicitly; a file is named by its stem; a folder holding
    ``extractor=NAME`` sub-folders (a featx store) gives one extractor per sub-folder;
    any other folder gives one extractor per ``*.parquet`` file in it.
    """
    sources: dict[str, Path] = {}
    for item in paths:
        name, _, rest = str(item).partition("=") if "=" in str(item) and not Path(
            str(item)).exists() else ("", "", str(item))
        path = Path(rest)
        if name:
            found = {name: path}
        elif path.is_dir() and any(path.glob("extractor=*")):
            found = {p.name.split("=", 1)[1]: p for p in sorted(path.glob("extractor=*"))}
        elif path.is_dir():
            found = {p.stem: p for p in sorted(path.glob("*.parquet"))}
        else:
            found = {path.stem: path}
        for key, value in found.items():
            if key in sources:
                raise DataError("embeddings", f"two sources named {key!r}",
                                "Name them explicitly: NAME=path")
            sources[key] = value
    if not sources:
        raise DataError("embeddings", f"no Parquet tables in {paths}",
                        "Pass Parquet files, a folder of them, or a featx store")
    return sources


def source_provenance(path: str | Path) -> dict[str, object]:
    """What produced an embedding source: the featx store's provenance of its first file
    (extractor, weights sha256, stain fit, tile spec), or just the path for other tables."""
    path = Path(path)
    first = next(iter(sorted(path.rglob("*.parquet"))), None) if path.is_dir() else path
    record: dict[str, object] = {"path": str(path)}
    if first is not None and first.is_file():
        try:
            stored = provenance(first)
        except StoreError:
            return record
        # tile_folder: a labelled tile set's source (its caveats, e.g. LC25000's near-copies)
        record.update({key: stored.get(key) for key in ("extractor", "stain", "tile_spec",
                                                         "tile_folder") if key in stored})
    return record
