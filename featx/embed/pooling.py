"""Slide- and patient-level mean embeddings from the store.

The papers represent a patient by the mean of all its tiles (over all its
slides, so a slide with more tissue weighs more). The store is read one slide
file at a time and only sums and counts are kept, so memory does not grow with
the number of tiles. A slide file that cannot be read (truncated, not written by
featx, another embedding width) is left out and named in ``table.attrs["skipped"]``
and a warning; the other slides are pooled.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from featx._validate import one_of
from featx.embed.store import embedding_matrix, list_slides, slide_path
from featx.errors import DataNotFoundError, StoreError

ID_COLUMNS = {"slide": ["slide_id", "patient_id", "n_tiles"],
              "patient": ["patient_id", "n_slides", "n_tiles"]}


def feature_columns(n_features: int, *, prefix: str = "f") -> list[str]:
    """Return the feature column names ``f0000, f0001, ...`` of a pooled table."""
    width = max(4, len(str(n_features - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(n_features)]


def _slide_sums(path: Path) -> tuple[str, str, int, np.ndarray]:
    """slide_id, patient_id, tile count and embedding sum of one store file.

    Raises
    ------
    StoreError
        The file is truncated or damaged, or not a featx store file.
    """
    try:
        table = pq.read_table(path, columns=["slide_id", "patient_id", "embedding"])
    except pa.ArrowInvalid as error:
        if "column" in str(error).lower() or "field" in str(error).lower():
            raise StoreError(path, "a Parquet file that featx did not write (no slide_id, "
                             "patient_id and embedding columns); move it out of the store"
                             ) from None
        raise StoreError(path, f"cannot be read ({str(error).splitlines()[0][:120]}): "
                         "truncated or damaged; delete it and run `featx extract` again "
                         "to redo the slide") from None
    except (pa.ArrowException, OSError) as error:
        raise StoreError(path, f"cannot be read ({type(error).__name__}: {error}); delete "
                         "it and run `featx extract` again") from None
    embedding = table.schema.field("embedding").type
    if not pa.types.is_fixed_size_list(embedding):
        raise StoreError(path, "its embedding column is not a fixed-size list, so featx did "
                         "not write it; move it out of the store")
    n_features = embedding.list_size
    if table.num_rows == 0:
        return path.stem, "", 0, np.zeros(n_features)
    matrix = embedding_matrix(table, dtype=np.float64)
    return (table.column("slide_id")[0].as_py(), table.column("patient_id")[0].as_py(),
            table.num_rows, matrix.sum(axis=0))


def pool_embeddings(
    root: str | Path,
    *,
    extractor: str,
    level: Literal["patient", "slide"] = "patient",
    slide_ids: Iterable[str] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Return mean embeddings per patient or per slide as one tidy table.

    Parameters
    ----------
    root : path
        The store's root folder.
    extractor : str
        Whose embeddings.
    level : {"patient", "slide"}
        ``"patient"``: the mean over all tiles of all a patient's slides;
        ``"slide"``: the mean over each slide's tiles.
    slide_ids : iterable of str, optional
        Only these slides (default: all slides in the store for ``extractor``).
    progress : bool
        Show a progress bar over slides.

    Returns
    -------
    DataFrame
        One row per patient (``patient_id, n_slides, n_tiles, f0000...``) or per
        slide (``slide_id, patient_id, n_tiles, f0000...``), sorted by id. Slides
        without tissue (no tiles) are left out rather than given NaN means.
        ``attrs["skipped"]`` maps each slide whose file could not be read to why.
    """
    from tqdm.auto import tqdm

    one_of("level", level, ("patient", "slide"))
    ids = list(slide_ids) if slide_ids is not None else list_slides(root, extractor=extractor)
    if not ids:
        raise DataNotFoundError(f"slides of extractor {extractor!r} in {root}",
                                "Run `featx extract` first, or check the extractor name.")
    records: list[tuple[str, str, int]] = []
    sums: list[np.ndarray] = []
    skipped: dict[str, str] = {}
    for slide_id in tqdm(ids, unit="slide", disable=not progress, desc="pooling"):
        path = slide_path(root, extractor=extractor, slide_id=slide_id)
        if not path.is_file():
            raise DataNotFoundError(f"embeddings of slide {slide_id!r} ({path})",
                                    "Run `featx extract` for it, or drop it from slide_ids.")
        try:
            sid, patient, n, total = _slide_sums(path)
            if sums and n and len(total) != len(sums[0]):
                raise StoreError(path, f"{len(total)} features where the other slides have "
                                 f"{len(sums[0])}: from another extractor; move it out")
        except StoreError as error:  # one bad file: recorded, the others are pooled
            skipped[slide_id] = str(error)
            continue
        if n:
            records.append((sid, patient, n))
            sums.append(total)
    if skipped:
        warnings.warn(f"{len(skipped)} slide file(s) left out of the pooling: "
                      + "; ".join(skipped.values()), stacklevel=2)
    if not records:
        raise DataNotFoundError(f"tiles of extractor {extractor!r} in {root}",
                                "Every selected slide was empty (no tissue)" +
                                (f" or unreadable ({len(skipped)})." if skipped else "."))
    meta = pd.DataFrame(records, columns=["slide_id", "patient_id", "n_tiles"])
    totals = np.stack(sums)
    names = feature_columns(totals.shape[1])
    if level == "slide":
        order = np.argsort(meta["slide_id"].to_numpy(), kind="stable")
        means = totals[order] / meta["n_tiles"].to_numpy()[order, None]
        out = meta.iloc[order].reset_index(drop=True)
    else:
        codes, patients = pd.factorize(meta["patient_id"], sort=True)
        grouped = np.zeros((len(patients), totals.shape[1]))
        np.add.at(grouped, codes, totals)
        n_tiles = np.bincount(codes, weights=meta["n_tiles"].to_numpy(), minlength=len(patients))
        means = grouped / n_tiles[:, None]
        out = pd.DataFrame({"patient_id": patients, "n_slides": np.bincount(codes),
                            "n_tiles": n_tiles.astype(np.int64)})
    features = pd.DataFrame(means.astype(np.float32), columns=names)
    table = pd.concat([out, features], axis=1)
    table.attrs["skipped"] = skipped
    return table


def pooled_matrix(table: pd.DataFrame) -> np.ndarray:
    """Return the feature columns of a pooled table as a float32 matrix (rows as in ``table``)."""
    names = [c for c in table.columns if c not in {"slide_id", "patient_id", "n_slides",
                                                    "n_tiles"}]
    return table[names].to_numpy(dtype=np.float32)
