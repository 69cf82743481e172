"""Tiny synthetic slides and an embed function for the batch tests.

``embed`` is :func:`featx.embed.pipeline.embed_slide` once that exists; until then a
private stand-in with the same signature built from the foundation (open_slide,
detect_tissue, grid_coords, iter_tile_batches; no stain normalisation). The
module is importable by Dask worker processes (as ``tests.embed._batch_helpers``, the
project root being on ``sys.path``), so its functions go to them by reference.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from featx.wsi import synthetic
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords, iter_tile_batches
from featx.wsi.tissue import detect_tissue

try:
    from featx.embed.pipeline import embed_slide as _embed_slide
except ImportError:
    _embed_slide = None

WIDTH, HEIGHT, MPP = 1500, 1200, 0.5
# Slides are cached per version of the generator, so a change to it is never masked.
_GENERATOR = hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()[:12]
_CACHE = Path(tempfile.gettempdir()) / f"featx-test-slides-{os.getuid()}" / _GENERATOR


def make_spec() -> TileSpec:
    """Tiles of 64 px at 2 mpp: 256 level-0 px, a dozen tissue tiles per slide."""
    return TileSpec(tile_px=64, tile_mpp=2.0, overlap_px=0, min_tissue=0.5)


def write_slide(path: Path, *, tissue: bool = True, seed: int = 0) -> Path:
    """Write a tiny synthetic slide (copied from a per-machine cache); blank if not tissue."""
    cached = _CACHE / f"{'tissue' if tissue else 'blank'}-{seed}.tiff"
    if not cached.is_file():
        _CACHE.mkdir(parents=True, exist_ok=True)
        regions = [Region(x=100 + 30 * seed, y=100, width=1200, height=950, shape="ellipse",
                          label="tumour" if seed % 2 else "normal")] if tissue else []
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp.tiff")
        write_synthetic_slide(tmp, width_px=WIDTH, height_px=HEIGHT, slide_mpp=MPP, regions=regions,
                              fmt="tiff", seed=seed)
        os.replace(tmp, cached)
    shutil.copyfile(cached, path)
    return Path(path)


def _stand_in(path, extractor, *, spec, normalizer=None, batch_size=64, tissue=None,
              progress=False):
    with open_slide(path) as slide:
        mask = tissue if tissue is not None else detect_tissue(slide)
        coords = grid_coords(slide, spec, tissue=mask)
        features = [extractor(tiles) for _, tiles in
                    iter_tile_batches(slide, coords, batch_size=batch_size)]
    coords = coords.assign(stain_status="none")
    features = (np.concatenate(features) if features
                else np.zeros((0, extractor.n_features), np.float32))
    return SimpleNamespace(coords=coords, features=features, provenance={"stand_in": True})


def embed(path, extractor, *, spec, normalizer=None, batch_size=64, tissue=None,
          progress=False, slide_mpp=None):
    """featx.embed.pipeline.embed_slide, or its stand-in.

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
    options = {"slide_mpp": slide_mpp} if slide_mpp is not None else {}
    run = _embed_slide if _embed_slide is not None else _stand_in
    return run(path, extractor, spec=spec, normalizer=normalizer, batch_size=batch_size,
               tissue=tissue, progress=progress, **options)
