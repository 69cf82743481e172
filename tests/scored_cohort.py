"""A small scored cohort with known answers: slides, slide-score outputs and a store.

Two generated slides; on each, tiles right of the middle get tumour probability 0.9 and
the others 0.1, and their embeddings lie in one of two well-separated clouds by the
same rule, so every overlay, export and cluster has a right answer to check against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from featx.embed.store import write_slide_embeddings
from featx.wsi import TileSpec, grid_coords, open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide

EXTRACTOR = "TOY-8"


@dataclass(frozen=True)
class ScoredCohort:
    """Where everything lies, and each slide's tiles with their true side."""

    slides: Path
    slidescores: Path
    store: Path
    tiles: pd.DataFrame  # slide_id, tile columns, prob, right (bool)
    widths: dict[str, int]


def make_scored_cohort(root: Path, *, width_px: int = 4000, height_px: int = 2400) -> ScoredCohort:
    slides, scores, store = root / "slides", root / "scores", root / "store"
    for folder in (slides, scores, store):
        folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    tables, widths = [], {}
    for k, slide_id in enumerate(("S-A", "S-B")):
        regions = [Region(int(0.1 * width_px), int(0.15 * height_px), int(0.8 * width_px),
                          int(0.7 * height_px), "rect", "normal")]
        path = write_synthetic_slide(slides / f"{slide_id}.svs", width_px=width_px,
                                     height_px=height_px, slide_mpp=0.5, regions=regions,
                                     seed=k).path
        with open_slide(path) as slide:
            coords = grid_coords(slide, TileSpec(tile_px=128, tile_mpp=1.0, min_tissue=0.5))
        right = (coords["x"] + 128) > width_px / 2  # tile centre right of the middle
        coords = coords.assign(prob=np.where(right, 0.9, 0.1), right=right.to_numpy())
        features = rng.normal(0, 0.3, (len(coords), 8)).astype(np.float32)
        features[:, 0] += np.where(right, 4.0, -4.0)
        write_slide_embeddings(store, coords.drop(columns=["prob", "right"]), features,
                               extractor=EXTRACTOR, slide_id=slide_id, patient_id=f"P{k}")
        tables.append(coords)
        widths[slide_id] = width_px
    tiles = pd.concat(tables, ignore_index=True)
    tiles.drop(columns=["right"]).to_parquet(scores / "tile_probabilities.parquet")
    grids = {}
    for slide_id, group in tiles.groupby("slide_id"):
        grid = np.full((group["row"].max() + 1, group["col"].max() + 1), np.nan)
        grid[group["row"], group["col"]] = group["prob"] * 0.5  # a "smoothed" map: half of it
        grids[slide_id] = grid
    np.savez(scores / "heatmaps.npz", **grids)
    pd.DataFrame({"slide_id": ["S-A", "S-B"], "topk_score": [0.9, 0.7], "label": [1, 0]}).to_csv(
        scores / "slide_scores.csv", index=False)
    return ScoredCohort(slides, scores, store, tiles, widths)
