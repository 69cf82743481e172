"""``featx export --format geojson``: a store's tiles as QuPath objects, with what was learnt.

One ``<out>/<extractor>/<slide_id>.geojson`` per slide, which QuPath's *File > Import
objects* reads onto the slide (:mod:`featx.wsi.qupath`):

- every tile a **detection** (its level-0 square) with the measurements ``tissue
  fraction``, and when given ``tumour probability``, ``heatmap score`` and ``cluster``
  (one k-means over the extractor's tiles, :mod:`featx.embed.clusters`); classified
  ``Tumor``/``Non-tumor`` by the probability, else ``Cluster <k>``;
- with probabilities, the slide-score **regions** as **annotations**: the tiles at or
  above ``threshold`` merged into ``Tumor`` polygons, the others into ``Non-tumor``
  ones, each with its mean probability, tile count, area in µm² and the slide's scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._validate import fraction, non_negative_int
from featx.embed.clusters import fit_tile_clusters, slide_tile_clusters
from featx.embed.store import (
    list_extractors,
    list_slides,
    provenance,
    read_slide,
    slide_geometry,
    slide_path,
)
from featx.errors import DataNotFoundError
from featx.wsi.qupath import QuPathObject, tile_detections, tile_regions, write_qupath

#: The tile columns read from the store.
_COLUMNS = ["slide_id", "x", "y", "level", "read_px", "col", "row", "tile_mpp",
            "tissue_fraction"]


def export_geojson(root: str | Path, out: str | Path, *, extractor: str | None = None,
                   probabilities: pd.DataFrame | None = None,
                   slide_scores: pd.DataFrame | None = None,
                   heatmaps: Mapping[str, np.ndarray] | None = None, n_clusters: int = 8,
                   threshold: float = 0.5) -> list[Path]:
    """Write every slide's tiles (and regions) as QuPath GeoJSON.

    Parameters
    ----------
    root : path
        The store.
    out : path
        Output folder; files go to ``<out>/<extractor>/<slide_id>.geojson``.
    extractor : str, optional
        Only this extractor (default: every one).
    probabilities : pandas.DataFrame, optional
        ``featx slidescore``'s ``tile_probabilities`` (slide_id, x, y, prob).
    slide_scores : pandas.DataFrame, optional
        Its ``slide_scores`` (slide_id and score columns), put on the regions.
    heatmaps : mapping of slide_id to [row, col] array, optional
        Its ``heatmaps.npz``.
    n_clusters : int, default 8
        Clusters of the ``cluster`` measurement; 0 leaves it out.
    threshold : float, default 0.5
        Tumour probability from which a tile is ``Tumor``.

    Returns
    -------
    list of Path
    """
    non_negative_int("n_clusters", n_clusters)
    fraction("threshold", threshold)
    root, out = Path(root), Path(out)
    names = [extractor] if extractor is not None else list_extractors(root)
    written = []
    for name in names:
        slides = list_slides(root, extractor=name)
        if not slides:
            raise DataNotFoundError(f"slides of extractor {name!r} in {root}",
                                    f"Extractors in the store: {list_extractors(root)}")
        model = (fit_tile_clusters(root, extractor=name, n_clusters=n_clusters)
                 if n_clusters else None)
        for slide_id in slides:
            objects = _slide_objects(root, name, slide_id, model, probabilities, slide_scores,
                                     heatmaps, threshold)
            target = out / name / f"{slide_id}.geojson"
            target.parent.mkdir(parents=True, exist_ok=True)
            written.append(write_qupath(target, objects))
    return written


def _slide_objects(root: Path, extractor: str, slide_id: str, model: Any,
                   probabilities: pd.DataFrame | None, slide_scores: pd.DataFrame | None,
                   heatmaps: Mapping[str, np.ndarray] | None,
                   threshold: float) -> list[QuPathObject]:
    if model is not None:
        tiles = slide_tile_clusters(root, model, extractor=extractor, slide_id=slide_id)
    else:
        tiles = read_slide(root, slide_id, extractor=extractor, columns=_COLUMNS)
    record = provenance(slide_path(root, extractor=extractor, slide_id=slide_id))
    downsamples, slide_mpp = slide_geometry(record, tiles)
    measurements: dict[str, np.ndarray] = {"tissue fraction": tiles["tissue_fraction"].to_numpy()}
    prob = None
    if probabilities is not None:
        mine = probabilities[probabilities["slide_id"].astype(str) == slide_id]
        prob = tiles[["x", "y"]].merge(mine[["x", "y", "prob"]], on=["x", "y"], how="left"
                                       )["prob"].to_numpy(float)
        measurements["tumour probability"] = prob
    if heatmaps is not None and slide_id in heatmaps:
        grid = np.asarray(heatmaps[slide_id], float)
        rows, cols = tiles["row"].to_numpy(), tiles["col"].to_numpy()
        inside = (rows < grid.shape[0]) & (cols < grid.shape[1])
        score = np.full(len(tiles), np.nan)
        score[inside] = grid[rows[inside], cols[inside]]
        measurements["heatmap score"] = score
    if "cluster" in tiles:
        measurements["cluster"] = tiles["cluster"].to_numpy()
    classes = (np.where(prob >= threshold, "Tumor", "Non-tumor") if prob is not None else
               [f"Cluster {c}" for c in tiles["cluster"]] if "cluster" in tiles else None)
    objects = tile_detections(tiles, measurements=measurements, classes=classes,
                              level_downsamples=downsamples)
    if prob is not None:
        objects += _regions(tiles, prob, threshold, downsamples, slide_mpp,
                            _scores_of(slide_scores, slide_id))
    return objects


def _scores_of(slide_scores: pd.DataFrame | None, slide_id: str) -> dict[str, float]:
    if slide_scores is None:
        return {}
    rows = slide_scores[slide_scores["slide_id"].astype(str) == slide_id]
    if not len(rows):
        return {}
    row = rows.iloc[0]
    return {c: float(row[c]) for c in slide_scores.columns
            if c != "slide_id" and pd.api.types.is_number(row[c])}


def _regions(tiles: pd.DataFrame, prob: np.ndarray, threshold: float, downsamples: Any,
             slide_mpp: float | None, scores: Mapping[str, float]) -> list[QuPathObject]:
    """Tumour and non-tumour regions: each edge-connected piece of tiles one annotation."""
    objects = []
    scored = ~np.isnan(prob)
    for name, chosen in (("Tumor", scored & (prob >= threshold)),
                         ("Non-tumor", scored & (prob < threshold))):
        pieces = _pieces(tiles, chosen)
        for piece in range(1, pieces.max(initial=0) + 1):
            inside = pieces == piece
            for region in tile_regions(tiles, inside, classification=name,
                                       level_downsamples=downsamples):
                measured = {"mean tumour probability": float(np.mean(prob[inside])),
                            "tiles": int(inside.sum()), **scores}
                if slide_mpp:
                    measured["area µm^2"] = _area(region) * slide_mpp ** 2
                objects.append(QuPathObject(region.polygons, "annotation", name, measured))
    return objects


def _pieces(tiles: pd.DataFrame, chosen: np.ndarray) -> np.ndarray:
    """Each chosen tile's piece: edge-connected components on the grid (0: not chosen)."""
    from scipy import ndimage

    if not chosen.any():
        return np.zeros(len(tiles), np.int64)
    rows, cols = tiles["row"].to_numpy(), tiles["col"].to_numpy()
    grid = np.zeros((rows.max() + 1, cols.max() + 1), bool)
    grid[rows[chosen], cols[chosen]] = True
    labels, _ = ndimage.label(grid)  # edge neighbours only: as the merged squares join
    return np.where(chosen, labels[rows, cols], 0)


def _area(region: QuPathObject) -> float:
    def shoelace(ring: np.ndarray) -> float:
        x, y = ring[:, 0], ring[:, 1]
        return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2

    return sum(shoelace(rings[0]) - sum(shoelace(h) for h in rings[1:])
               for rings in region.polygons)


__all__ = ["export_geojson"]
