"""Clusters of tile embeddings, comparable across slides: one k-means over a store's tiles.

The viewer's cluster overlay and the QuPath export's ``cluster`` measurement need each
tile's cluster, with cluster 3 meaning the same thing on every slide. So one
:class:`~sklearn.cluster.KMeans` is fitted on tiles sampled evenly from the slides
(at most ``max_tiles``, read slide by slide, so memory stays bounded by the sample),
then each slide's tiles are assigned to its nearest centre when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from featx._validate import positive_int
from featx.embed.store import embedding_matrix, list_slides, read_slide
from featx.errors import DataNotFoundError
from featx.wsi.tiling import spread_indices

#: Store columns kept beside each tile's cluster.
TILE_COLUMNS = ("slide_id", "col", "row", "x", "y", "level", "read_px", "tile_mpp",
                "tissue_fraction")


def fit_tile_clusters(root: Any, *, extractor: str, slide_ids: Sequence[str] | None = None,
                      n_clusters: int = 8, max_tiles: int = 20000, seed: int = 0) -> Any:
    """Fit k-means on tiles spread over a store's slides.

    Parameters
    ----------
    root : path
        The store.
    extractor : str
        Whose embeddings.
    slide_ids : sequence of str, optional
        The slides to sample (default: all of the extractor's).
    n_clusters : int, default 8
    max_tiles : int, default 20000
        Tiles fitted on, taken evenly from each slide.
    seed : int, default 0

    Returns
    -------
    sklearn.cluster.KMeans
        Fitted; ``n_clusters`` is lowered to the number of tiles when there are fewer.
    """
    from sklearn.cluster import KMeans

    positive_int("n_clusters", n_clusters)
    positive_int("max_tiles", max_tiles)
    slides = list(slide_ids) if slide_ids is not None else list_slides(root, extractor=extractor)
    if not slides:
        raise DataNotFoundError(f"slides of extractor {extractor!r} in {root}",
                                "Run `featx extract` or `featx import` first.")
    per_slide = max(1, max_tiles // len(slides))
    sample = []
    for slide_id in slides:
        embeddings = read_slide(root, slide_id, extractor=extractor, as_="numpy")
        sample.append(embeddings[spread_indices(len(embeddings), per_slide)])
    x = np.concatenate(sample).astype(np.float32, copy=False)
    if not len(x):
        raise DataNotFoundError(f"tiles of extractor {extractor!r} in {root}",
                                "The slides hold no tiles (no tissue was found).")
    model = KMeans(n_clusters=min(n_clusters, len(x)), n_init=4, random_state=seed)
    return model.fit(x)


def slide_tile_clusters(root: Any, model: Any, *, extractor: str, slide_id: str) -> pd.DataFrame:
    """One slide's tiles with their cluster: the :data:`TILE_COLUMNS` and ``cluster``."""
    table = read_slide(root, slide_id, extractor=extractor, as_="arrow")
    embeddings = embedding_matrix(table)
    columns = [c for c in TILE_COLUMNS if c in table.column_names]
    tiles = table.select(columns).to_pandas()
    tiles["cluster"] = model.predict(embeddings) if len(tiles) else np.zeros(0, np.int64)
    return tiles


__all__ = ["TILE_COLUMNS", "fit_tile_clusters", "slide_tile_clusters"]
