"""Store write/read rates at 1 million rows, and `featx extract` rates against the bare model.

    python benchmarks/bench_store.py [--rows 1000000] [--features 2048]
        [--rows-per-slide 10000] [--slides 6] [--extractor COLORSTATS] [--skip-store]

Part 1 writes a store of ``--rows`` tiles (``--rows-per-slide`` per slide file, random
post-ReLU-like embeddings of ``--features`` values, ~70% zeros) as float32 and as
float16, and reports write rate, size on disk and the time to read one slide: through
``featx.embed.store.read_slide`` (opens that slide's file only), through a pyarrow dataset
filter, and through DuckDB with a ``WHERE slide_id = ...`` over the whole store (both
prune by file and row-group statistics but must open every footer).

Part 2 writes ``--slides`` synthetic slides and compares, in tiles per second: the bare
forward pass of the extractor on tiles already in memory, and the whole batch run
(open, tissue, grid, read, embed, write Parquet, status) in-process (``--workers 0``)
and on a local Dask cluster of 1 and 2 worker processes (cluster start-up excluded and
reported apart).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from featx.embed.batch import run_batch
from featx.embed.settings import ClusterSettings, ExtractionSettings
from featx.embed.store import read_slide, write_slide_embeddings
from featx.extractors.registry import ExtractorFactory, get_extractor
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords, iter_tile_batches
from featx.wsi.tissue import detect_tissue


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def bench_store(root: Path, *, rows: int, features: int, per_slide: int) -> None:
    n_slides = max(1, rows // per_slide)
    rng = np.random.default_rng(0)
    # Non-negative with ~70% zeros, like features after a ReLU; pure noise would hide
    # what compression does for real embeddings.
    base = np.maximum(rng.standard_normal((per_slide, features), dtype=np.float32) - 0.5, 0)
    col = np.arange(per_slide) % 100
    coords = pd.DataFrame({"col": col, "row": np.arange(per_slide) // 100, "x": col * 448,
                           "y": (np.arange(per_slide) // 100) * 448, "level": 0,
                           "read_px": 448, "tile_px": 224, "tile_mpp": 0.5, "tissue_fraction": 0.9,
                           "stain_status": "ok"})
    print(f"store: {n_slides} slides x {per_slide} rows = {n_slides * per_slide:,} rows, "
          f"{features} features")
    print(f"{'dtype':8s} {'write rows/s':>13s} {'write MB/s':>11s} {'disk GB':>8s} "
          f"{'read_slide ms':>14s} {'arrow filter ms':>16s} {'duckdb ms':>10s} "
          f"{'read rows/s':>12s}")
    for dtype in ("float32", "float16"):
        store = root / f"store-{dtype}"
        start = time.perf_counter()
        for i in range(n_slides):
            write_slide_embeddings(store, coords, base * np.float32(1 + i / n_slides),
                                   extractor="BENCH",
                                   slide_id=f"TCGA-BE-{i:04d}-01Z-00-DX1", dtype=dtype)
        write_s = time.perf_counter() - start
        size = _du(store)
        picks = [f"TCGA-BE-{i:04d}-01Z-00-DX1" for i in
                 rng.choice(n_slides, size=min(10, n_slides), replace=False)]
        start = time.perf_counter()
        for slide in picks:
            got = read_slide(store, slide, extractor="BENCH", as_="numpy")
        read_ms = (time.perf_counter() - start) / len(picks) * 1e3
        if got.shape != (per_slide, features):
            raise RuntimeError(f"read back {got.shape}")
        data = ds.dataset(store, format="parquet", partitioning="hive")
        start = time.perf_counter()
        for slide in picks[:3]:
            data.to_table(filter=ds.field("slide_id") == slide)
        arrow_ms = (time.perf_counter() - start) / 3 * 1e3
        duck_ms = float("nan")
        try:
            import duckdb

            glob = str(store / "**" / "*.parquet")
            start = time.perf_counter()
            for slide in picks[:3]:
                duckdb.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning=true) "
                           f"WHERE slide_id = '{slide}'").arrow()
            duck_ms = (time.perf_counter() - start) / 3 * 1e3
        except ImportError:
            pass
        total = n_slides * per_slide
        print(f"{dtype:8s} {total / write_s:13,.0f} {size / write_s / 1e6:11.1f} "
              f"{size / 1e9:8.2f} {read_ms:14.1f} {arrow_ms:16.1f} {duck_ms:10.1f} "
              f"{per_slide / (read_ms / 1e3):12,.0f}")
        shutil.rmtree(store)


def quick(n_slides: int = 60, per_slide: int = 500, features: int = 256,
          repeats: int = 21) -> dict[str, float]:
    """One slide read through ``read_slide`` against a pyarrow dataset filter, for the check.

    A store of ``n_slides`` slides; the two readers take turns ``repeats`` times on
    the same slides; the ratio is of the median CPU times (``read_slide`` opens one
    file, the filter must at least open every file's footer).
    """
    rng = np.random.default_rng(0)
    base = np.maximum(rng.standard_normal((per_slide, features), dtype=np.float32) - 0.5, 0)
    coords = pd.DataFrame({"col": np.arange(per_slide) % 100, "row": np.arange(per_slide) // 100,
                           "x": 0, "y": 0, "level": 0, "read_px": 448, "tile_px": 224, "tile_mpp": 0.5,
                           "tissue_fraction": 0.9, "stain_status": "ok"})
    ids = [f"TCGA-BE-{i:04d}-01Z-00-DX1" for i in range(n_slides)]
    times: dict[str, list[float]] = {"read_slide": [], "dataset filter": []}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        for i, slide in enumerate(ids):
            write_slide_embeddings(store, coords, base + np.float32(i), extractor="BENCH",
                                   slide_id=slide)
        picks = [ids[i] for i in rng.choice(n_slides, size=repeats)]
        for slide in picks:
            start = time.process_time()
            got = read_slide(store, slide, extractor="BENCH", as_="numpy")
            times["read_slide"].append(time.process_time() - start)
            start = time.process_time()
            data = ds.dataset(store, format="parquet", partitioning="hive")
            table = data.to_table(filter=ds.field("slide_id") == slide)
            times["dataset filter"].append(time.process_time() - start)
            if got.shape != (per_slide, features) or table.num_rows != per_slide:
                raise RuntimeError(f"read back {got.shape} and {table.num_rows} rows")
    return {"store per-slide read / dataset filter": float(
        np.median(times["dataset filter"]) / np.median(times["read_slide"]))}


def stand_in_embed(path, extractor, *, spec, normalizer=None, batch_size=64, tissue=None,
                   progress=False):
    """featx.embed.pipeline.embed_slide without stain normalisation, for when it is absent."""
    with open_slide(path) as slide:
        coords = grid_coords(slide, spec, tissue=tissue or detect_tissue(slide))
        feats = [extractor(t) for _, t in iter_tile_batches(slide, coords, batch_size=batch_size)]
    feats = np.concatenate(feats) if feats else np.zeros((0, extractor.n_features), np.float32)
    return SimpleNamespace(coords=coords.assign(stain_status="none"), features=feats,
                           provenance={})


def bench_extract(root: Path, *, n_slides: int, extractor: str, batch_size: int) -> None:
    try:
        from featx.embed.pipeline import embed_slide as embed

        label = "featx.embed.pipeline.embed_slide"
    except ImportError:
        embed, label = stand_in_embed, "stand-in embed (featx.embed.pipeline absent; no stain step)"
    folder = root / "slides"
    folder.mkdir()
    paths = [write_synthetic_slide(folder / f"TCGA-BE-{i:04d}-01Z-00-DX1.tiff", width_px=3000,
                                   height_px=2400, slide_mpp=0.5, fmt="tiff", seed=i).path
             for i in range(n_slides)]
    manifest = root / "manifest.csv"
    pd.DataFrame({"path": [str(p) for p in paths]}).to_csv(manifest, index=False)
    spec = TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.5)
    factory = ExtractorFactory.of(extractor)
    model = get_extractor(factory)

    tiles = []
    for path in paths:
        with open_slide(path) as slide:
            coords = grid_coords(slide, spec, tissue=detect_tissue(slide))
            tiles += [t for _, t in iter_tile_batches(slide, coords, batch_size=batch_size)]
    n_tiles = sum(len(t) for t in tiles)
    model(tiles[0])  # warm-up
    start = time.perf_counter()
    for batch in tiles:
        model(batch)
    bare = n_tiles / (time.perf_counter() - start)
    print(f"\nextract: {n_slides} slides, {n_tiles} tiles of {spec.tile_px} px, extractor "
          f"{model.name}, {os.cpu_count()} CPUs; {label}")
    print(f"{'mode':34s} {'tiles/s':>9s} {'vs bare':>8s} {'slides/s':>9s} {'startup s':>10s}")
    print(f"{'bare forward (tiles in memory)':34s} {bare:9.1f} {1.0:8.2f} {'':>9s} {'':>10s}")

    def timed(mode: str, **kw) -> None:
        out = root / f"store-{mode.replace(' ', '_')}"
        start = time.perf_counter()
        settings = ExtractionSettings(factory, spec=spec, embed=embed, batch_size=batch_size)
        status = run_batch(manifest, out, settings, cluster=ClusterSettings(**kw))
        wall = time.perf_counter() - start
        if (status["status"] != "done").any():
            raise RuntimeError(status.to_string())
        rate = status["n_tiles"].sum() / wall
        print(f"{mode:34s} {rate:9.1f} {rate / bare:8.2f} {n_slides / wall:9.2f} "
              f"{startup.get(mode, 0.0):10.1f}")

    startup: dict[str, float] = {}
    timed("in-process (--workers 0)", workers=0)
    from distributed import LocalCluster

    for n in (1, 2):
        mode = f"Dask LocalCluster, {n} worker{'s' if n > 1 else ''}"
        start = time.perf_counter()
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            startup[mode] = time.perf_counter() - start
            timed(mode, scheduler=cluster.scheduler_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--rows-per-slide", type=int, default=10_000)
    parser.add_argument("--slides", type=int, default=6)
    parser.add_argument("--extractor", default="COLORSTATS")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--tmp", type=Path, default=None, help="Scratch folder (needs ~13 GB "
                        "at the defaults).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if not args.skip_store:
            bench_store(Path(tmp), rows=args.rows, features=args.features,
                        per_slide=args.rows_per_slide)
        if not args.skip_extract:
            bench_extract(Path(tmp), n_slides=args.slides, extractor=args.extractor,
                          batch_size=args.batch_size)


if __name__ == "__main__":
    main()
