"""How cost grows with the cohort: extract, pool and evaluate at growing sizes.

    python benchmarks/bench_cohort.py [--slides 1 4 16 64] [--tiles-per-slide 1000]
        [--slide-tiles 1000 10000 100000] [--patients 125 250 500] [--genes 1000]
        [--lasso-genes 20] [--parts extract tiles evaluate]

Each size runs in a fresh process, so its peak memory (``ru_maxrss``, the process's
high-water mark, about 0.4 GB of it the imported libraries) is its own. Printed:

1. **extract + pool, by cohort size** (``--slides`` synthetic slides, each a grid of
   about 1.67 x ``--tiles-per-slide`` tiles of which the synthetic tissue keeps about
   38%: 616 tiles a slide for 1,000; 224 px at 0.5 mpp, read at 2x from a 0.25-mpp
   slide, Macenko per slide): ``run_batch`` in-process into the Parquet store, then
   ``pool_embeddings`` to patient means: seconds per tile of each, peak memory, store
   bytes per tile. The model is a stand-in with Xception's 2,048 outputs that costs
   nothing (a fixed random projection of the tile's 8 x 8 colour means, then ReLU), so
   the figures are featx's own cost: add the forward pass's seconds per tile
   (``bench_extract.py``; a constant per tile) for a real run. The slides are one file
   linked under many names, so the disk holds one.
2. **store + pool, by slide size** (one slide of ``--slide-tiles`` tiles of 2,048
   ReLU-like float32 features written with ``write_slide_embeddings``, then pooled):
   seconds per tile, peak memory, bytes per tile. ``embed_slide`` holds a slide's
   features in memory (8 KB a tile), as this does.
3. **evaluate, by patients**: one repetition of 5 folds of the SVR expression
   protocol over ``--genes`` genes and of inner-CV LASSO mutation prediction (the
   slowest default: 5 inner folds x 20 penalties) over ``--lasso-genes`` genes, on
   2,048 features, two extractors; seconds per repetition (x 50 for the paper's
   protocol; LASSO per gene, since each gene is its own fit: x 20 for 20 genes) and
   peak memory.

Last full run: see the README's "How cost grows" table (date, machine, load there).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

N_FEATURES = 2048
TILE_SPEC = {"tile_px": 224, "tile_mpp": 0.5, "min_tissue": 0.5}


class ProjectionExtractor:
    """A stand-in model with Xception's width and no cost: ReLU of a random projection."""

    name = "PROJECTION-2048"
    n_features = N_FEATURES
    input_px = 224

    def __init__(self) -> None:
        self._mix = np.random.default_rng(0).normal(size=(192, N_FEATURES)).astype(np.float32)

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.name, "n_features": N_FEATURES, "weights_sha256": None}

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        n, h, w, _ = tiles.shape
        means = tiles.reshape(n, 8, h // 8, 8, w // 8, 3).mean(axis=(2, 4), dtype=np.float32)
        return np.maximum(means.reshape(n, -1) / 128.0 - 1.0, 0.0) @ self._mix


class Clock:
    """Wall and process CPU seconds of a block (CPU time holds up on a busy machine).

    bench_models has the same; importing it would load scikit-learn into every size's
    process and into its peak memory.
    """

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def peak_gb() -> float:
    """This process's peak resident memory in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def store_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def one_extract(n_slides: int, tiles_per_slide: int, scratch: Path) -> dict[str, Any]:
    """run_batch + pool_embeddings over ``n_slides`` links to one synthetic slide."""
    from featx.embed import ExtractionSettings, run_batch
    from featx.embed.pooling import pool_embeddings
    from featx.extractors.registry import ExtractorFactory
    from featx.stain.macenko import MacenkoNormalizer
    from featx.wsi.slide import open_slide
    from featx.wsi.synthetic import write_synthetic_slide
    from featx.wsi.tiling import TileSpec, grid_coords, read_tiles

    source = scratch / f"slide-{tiles_per_slide}.svs"
    if not source.exists():  # a grid of ~1.67 x tiles_per_slide tiles; tissue keeps ~38%
        side = int(np.sqrt(tiles_per_slide / 0.6)) * 448
        write_synthetic_slide(source, width_px=side, height_px=side, slide_mpp=0.25, seed=0)
    folder = scratch / f"cohort-{n_slides}"
    folder.mkdir()
    for i in range(n_slides):  # TCGA-like names: one slide per patient
        (folder / f"TCGA-CH-{i:04d}-01Z-00-DX1.svs").symlink_to(source)
    spec = TileSpec(**TILE_SPEC)
    with open_slide(source) as slide:
        sample = read_tiles(slide, grid_coords(slide, spec).iloc[:8])
    normalizer = MacenkoNormalizer(mode="per_slide").fit(sample)
    manifest = pd.DataFrame({"path": sorted(str(p) for p in folder.iterdir())})
    settings = ExtractionSettings(ExtractorFactory.of("bench_cohort:ProjectionExtractor"),
                                  spec=spec, normalizer=normalizer, batch_size=64)
    store = scratch / f"store-{n_slides}"
    with Clock() as extract:
        status = run_batch(manifest, store, settings, cluster=_in_process())
    if (status["status"] != "done").any():
        raise RuntimeError(status.to_string())
    tiles = int(status["n_tiles"].sum())
    with Clock() as pool:
        pooled = pool_embeddings(store, extractor=ProjectionExtractor.name)
    return {"slides": n_slides, "tiles": tiles, "patients": len(pooled),
            "extract_cpu": 1e3 * extract.cpu / tiles, "extract_wall": 1e3 * extract.wall / tiles,
            "pool_cpu": 1e3 * pool.cpu / tiles, "pool_wall": 1e3 * pool.wall / tiles,
            "peak_gb": peak_gb(), "store_bytes_per_tile": store_bytes(store) / tiles}


def _in_process() -> Any:
    from featx.embed import ClusterSettings

    return ClusterSettings(workers=0, progress=False)


def one_slide_size(n_tiles: int, scratch: Path) -> dict[str, Any]:
    """Write one slide of ``n_tiles`` ReLU-like 2,048-float embeddings, then pool it."""
    from featx.embed.pooling import pool_embeddings
    from featx.embed.store import write_slide_embeddings

    rng = np.random.default_rng(0)
    features = np.maximum(rng.standard_normal((n_tiles, N_FEATURES), dtype=np.float32) - 0.5, 0)
    col = np.arange(n_tiles) % 1000
    coords = pd.DataFrame({"col": col, "row": np.arange(n_tiles) // 1000, "x": col * 448,
                           "y": (np.arange(n_tiles) // 1000) * 448, "level": 0, "read_px": 448,
                           **TILE_SPEC, "tissue_fraction": 0.9, "stain_status": "ok"}
                          ).drop(columns="min_tissue")
    store = scratch / f"big-{n_tiles}"
    with Clock() as write:
        write_slide_embeddings(store, coords, features, extractor="BENCH",
                               slide_id="TCGA-CH-0001-01Z-00-DX1")
    del features
    with Clock() as pool:
        pool_embeddings(store, extractor="BENCH")
    return {"tiles": n_tiles, "write_cpu": 1e3 * write.cpu / n_tiles,
            "write_wall": 1e3 * write.wall / n_tiles, "pool_cpu": 1e3 * pool.cpu / n_tiles,
            "pool_wall": 1e3 * pool.wall / n_tiles, "peak_gb": peak_gb(),
            "store_bytes_per_tile": store_bytes(store) / n_tiles}


def one_evaluate(n_patients: int, n_genes: int, n_lasso_genes: int) -> dict[str, Any]:
    """One repetition of 5 folds of SVR over ``n_genes`` and inner-CV LASSO over ``n_lasso_genes``."""
    from bench_models import embeddings

    from featx.evaluation.expression import regress_expression
    from featx.evaluation.mutation import predict_mutations

    rng = np.random.default_rng(0)
    factors = rng.normal(size=(n_patients, 40))
    ids = [f"TCGA-XX-{i:04d}" for i in range(n_patients)]
    feats = {name: pd.DataFrame(embeddings(n_patients, N_FEATURES, k, factors=factors),
                                index=ids) for k, name in enumerate(("A", "B"))}
    load = rng.normal(size=(40, n_genes)) * rng.uniform(0, 0.3, n_genes)
    expression = pd.DataFrame(np.exp(3 + factors @ load + rng.normal(size=(n_patients, n_genes))),
                              index=ids, columns=[f"g{i}" for i in range(n_genes)])
    risk = factors[:, :n_lasso_genes] + rng.normal(size=(n_patients, n_lasso_genes))
    mutations = pd.DataFrame((risk > 1.0).astype(int), index=ids,
                             columns=[f"m{i}" for i in range(n_lasso_genes)])
    with Clock() as svr:
        regress_expression(feats, expression, n_splits=5, n_repeats=1, seed=0)
    with Clock() as lasso:
        predict_mutations(feats, mutations, n_splits=5, n_repeats=1, seed=0)
    per_gene = 1 / n_lasso_genes  # genes are fitted one by one: the cost is a sum over genes
    return {"patients": n_patients, "svr_cpu": svr.cpu, "svr_wall": svr.wall,
            "lasso_cpu": lasso.cpu * per_gene, "lasso_wall": lasso.wall * per_gene,
            "peak_gb": peak_gb()}


def child(args: argparse.Namespace) -> None:
    """Run one size (in a fresh process) and print its figures as one JSON line."""
    scratch = Path(args.scratch)
    if args.one == "extract":
        result = one_extract(args.size, args.tiles_per_slide, scratch)
    elif args.one == "tiles":
        result = one_slide_size(args.size, scratch)
    else:
        result = one_evaluate(args.size, args.genes, args.lasso_genes)
    print(json.dumps(result))


def run_child(part: str, size: int, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", part, "--size", str(size), "--scratch",
               str(scratch), "--tiles-per-slide", str(args.tiles_per_slide), "--genes",
               str(args.genes), "--lasso-genes", str(args.lasso_genes)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{part} {size} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slides", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--tiles-per-slide", type=int, default=1000)
    parser.add_argument("--slide-tiles", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--patients", type=int, nargs="+", default=[125, 250, 500])
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--lasso-genes", type=int, default=20)
    parser.add_argument("--parts", nargs="+", default=["extract", "tiles", "evaluate"],
                        choices=("extract", "tiles", "evaluate"))
    parser.add_argument("--one", choices=("extract", "tiles", "evaluate"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        child(args)
        return
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if "extract" in args.parts:
            print(f"\n1. extract + pool by cohort size ({args.tiles_per_slide} tiles a slide, "
                  "stand-in model; ms per tile, CPU / wall):\n   slides    tiles        extract"
                  "           pool  peak GB  store B/tile", flush=True)
            for n in args.slides:
                r = run_child("extract", n, args, scratch)
                print(f"   {r['slides']:6d} {r['tiles']:8d} {r['extract_cpu']:6.2f} / "
                      f"{r['extract_wall']:6.2f} {r['pool_cpu']:6.3f} / {r['pool_wall']:6.3f} "
                      f"{r['peak_gb']:8.2f} {r['store_bytes_per_tile']:13.0f}", flush=True)
        if "tiles" in args.parts:
            print("\n2. store + pool by slide size (2,048 float32 features; ms per tile, "
                  "CPU / wall):\n     tiles            write             pool  peak GB  "
                  "store B/tile", flush=True)
            for n in args.slide_tiles:
                r = run_child("tiles", n, args, scratch)
                print(f"   {r['tiles']:7d} {r['write_cpu']:7.3f} / {r['write_wall']:6.3f} "
                      f"{r['pool_cpu']:7.3f} / {r['pool_wall']:6.3f} {r['peak_gb']:8.2f} "
                      f"{r['store_bytes_per_tile']:13.0f}", flush=True)
        if "evaluate" in args.parts:
            print(f"\n3. evaluate by patients (1 repetition x 5 folds, 2 extractors, 2,048 "
                  f"features; SVR over {args.genes} genes, inner-CV LASSO over "
                  f"{args.lasso_genes}; s per repetition, CPU / wall; LASSO per gene, so x 20 "
                  "for 20 genes):\n   patients              SVR   LASSO per gene  peak GB",
                  flush=True)
            for n in args.patients:
                r = run_child("evaluate", n, args, scratch)
                print(f"   {r['patients']:8d} {r['svr_cpu']:7.1f} / {r['svr_wall']:6.1f} "
                      f"{r['lasso_cpu']:7.1f} / {r['lasso_wall']:6.1f} {r['peak_gb']:8.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
