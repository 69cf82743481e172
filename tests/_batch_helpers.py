"""Tiny slides and an embed function for the batch tests.

Uses featx's own synthetic slides and pipeline when they exist; until then a
private stand-in with the same signature as ``featx.pipeline.embed_slide`` (a
plain RGB TIFF read with Pillow, a grid of tiles, tissue = non-white pixels).
The module is importable by Dask worker processes (the tests folder is on
``sys.path``), so its functions can be sent to them by reference.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from PIL import Image

try:
    from featx.pipeline import embed_slide as _embed_slide
    from featx.synthetic import Region, write_synthetic_slide

    FOUNDATION = True
except ImportError:
    FOUNDATION = False
try:
    from featx.tiling import TileSpec
except ImportError:
    TileSpec = None

WIDTH, HEIGHT, MPP = 1500, 1200, 0.5


@dataclass(frozen=True)
class _Spec:
    tile_px: int = 64
    mpp: float = 2.0
    min_tissue: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


def make_spec():
    """Tiles of 64 px at 2 mpp: 256 level-0 px, about 20 tiles on a full slide."""
    if TileSpec is not None:
        return TileSpec(tile_px=64, mpp=2.0, overlap_px=0, min_tissue=0.5)
    return _Spec()


def write_slide(path: Path, *, tissue: bool = True, seed: int = 0) -> Path:
    """Write a tiny slide; with ``tissue=False`` it is blank glass."""
    if FOUNDATION:
        regions = [Region(x=150 + 40 * seed, y=120, width=1100, height=900, shape="ellipse",
                          label="tumour" if seed % 2 else "normal")] if tissue else []
        return Path(write_synthetic_slide(path, width_px=WIDTH, height_px=HEIGHT, mpp=MPP,
                                          regions=regions, fmt="tiff", seed=seed).path)
    rng = np.random.default_rng(seed)
    image = np.full((HEIGHT, WIDTH, 3), 242, np.uint8)
    if tissue:
        yy, xx = np.mgrid[:HEIGHT, :WIDTH]
        inside = ((xx - 750 - 20 * seed) / 600) ** 2 + ((yy - 600) / 480) ** 2 <= 1
        pink = np.array([200 - 10 * (seed % 3), 110, 170], np.uint8)
        noise = rng.integers(0, 40, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        image[inside] = pink + noise[inside]
    Image.fromarray(image).save(path, format="TIFF")
    return Path(path)


def embed(path, extractor, *, spec, normalizer=None, batch_size=64, tissue=None,
          progress=False):
    """featx.pipeline.embed_slide, or its stand-in.

    Test hooks: ``FEATX_TEST_SLOW_S`` sleeps per slide; with ``FEATX_TEST_DIE_ONCE`` set
    to a file path, the process dies (like a worker killed by the OOM killer) the
    first time it reaches a slide named ``dies_once``.
    """
    time.sleep(float(os.environ.get("FEATX_TEST_SLOW_S", "0")))
    marker = os.environ.get("FEATX_TEST_DIE_ONCE")
    if marker and Path(path).stem == "dies_once":
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            pass
        else:
            os._exit(1)
    if FOUNDATION:
        return _embed_slide(path, extractor, spec=spec, normalizer=normalizer,
                            batch_size=batch_size, tissue=tissue, progress=progress)
    with Image.open(path) as handle:
        image = np.asarray(handle.convert("RGB"))
    read_px = round(spec.tile_px * spec.mpp / MPP)
    rows, tiles = [], []
    for row in range(image.shape[0] // read_px):
        for col in range(image.shape[1] // read_px):
            tile = image[row * read_px:(row + 1) * read_px, col * read_px:(col + 1) * read_px]
            frac = float((tile.mean(axis=-1) < 220).mean())
            if frac >= spec.min_tissue:
                rows.append({"slide_id": Path(path).stem, "col": col, "row": row,
                             "x": col * read_px, "y": row * read_px, "level": 0,
                             "read_px": read_px, "tile_px": spec.tile_px, "mpp": spec.mpp,
                             "tissue_fraction": frac, "stain_status": "none"})
                small = Image.fromarray(tile).resize((spec.tile_px, spec.tile_px))
                tiles.append(np.asarray(small))
    coords = pd.DataFrame(rows, columns=["slide_id", "col", "row", "x", "y", "level",
                                         "read_px", "tile_px", "mpp", "tissue_fraction",
                                         "stain_status"])
    features = (extractor(np.stack(tiles)) if tiles
                else np.zeros((0, extractor.n_features), np.float32))
    return SimpleNamespace(coords=coords, features=features, provenance={"stand_in": True})
