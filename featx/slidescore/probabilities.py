"""Tile tumour probabilities: from tiles (embed, then classify) or from stored embeddings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from featx.errors import InvalidParameterError
from featx.wsi.tiling import iter_tile_batches


def tile_probabilities(
    slide: Any,
    coords: pd.DataFrame,
    extractor: Any,
    classifier: Any,
    *,
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """Tumour probability of each tile: read tiles, embed them, classify them.

    Parameters
    ----------
    slide : featx.wsi.slide.Slide
        The open slide.
    coords : pandas.DataFrame
        Its tile table (:func:`featx.wsi.tiling.grid_coords`).
    extractor : featx.extractors.Extractor
        Embeds uint8 tile batches.
    classifier : scikit-learn classifier
        Fitted on embeddings with ``predict_proba``; the tumour class is label 1
        (or the last class when the labels are not 0/1).
    batch_size : int, default 64
        Tiles per batch; memory is bounded by one batch.
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    numpy.ndarray of float64, shape (n_tiles,)
    """
    out = [embedding_probabilities(classifier, extractor(tiles))
           for _, tiles in iter_tile_batches(slide, coords, batch_size=batch_size,
                                             progress=progress)]
    return np.concatenate(out) if out else np.zeros(0)


def embedding_probabilities(classifier: Any, embeddings: np.ndarray) -> np.ndarray:
    """Tumour probability of each embedding from a fitted scikit-learn classifier.

    The tumour class is label 1 (or the last class when the labels are not 0/1).

    Returns
    -------
    numpy.ndarray of float64, shape (n_tiles,)
    """
    if not hasattr(classifier, "predict_proba"):
        raise InvalidParameterError("classifier", "a fitted classifier with predict_proba",
                                    type(classifier).__name__)
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise InvalidParameterError("embeddings", "a 2-D array (n_tiles, n_features)",
                                    embeddings.shape)
    classes = list(getattr(classifier, "classes_", [0, 1]))
    column = classes.index(1) if 1 in classes else len(classes) - 1
    return np.asarray(classifier.predict_proba(embeddings)[:, column], dtype=np.float64)
