"""Tiles per second of featx's tiling stage against bare OpenSlide read_region, in one run.

    python benchmarks/bench_tiling.py [--slide PATH] [--tile-px 224] [--tile-mpp 0.5]

The tiling stage is tissue detection + grid + reading every tile as uint8 RGB at the
target resolution (resizing included). The baseline reads the same level-0 regions with
``openslide.OpenSlide.read_region`` and does nothing else. Without ``--slide`` a synthetic
slide at 0.25 mpp is written (so tiles are read at 448 px and resized to 224), and
CMU-1-Small-Region is added when the public data folder has it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import openslide

from featx.data_folder import data_file
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords, iter_tile_batches


def bare_rate(path: Path, coords) -> float:
    handle = openslide.OpenSlide(str(path))
    start = time.perf_counter()
    for x, y, level, size in zip(coords["x"], coords["y"], coords["level"], coords["read_px"]):
        handle.read_region((int(x), int(y)), int(level), (int(size), int(size)))
    elapsed = time.perf_counter() - start
    handle.close()
    return len(coords) / elapsed


def featx_rate(path: Path, spec: TileSpec, num_workers: int) -> tuple[float, float, int]:
    """Rates of the whole stage (open, tissue, grid, read) and of the tile reading alone."""
    start = time.perf_counter()
    with open_slide(path) as slide:
        coords = grid_coords(slide, spec)
        reading = time.perf_counter()
        n = sum(len(tiles) for _, tiles in iter_tile_batches(slide, coords, batch_size=64,
                                                             num_workers=num_workers))
    end = time.perf_counter()
    return n / (end - start), n / (end - reading), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slide", type=Path, action="append")
    parser.add_argument("--tile-px", type=int, default=224)
    parser.add_argument("--tile-mpp", type=float, default=0.5)
    args = parser.parse_args()
    spec = TileSpec(tile_px=args.tile_px, tile_mpp=args.tile_mpp)
    with tempfile.TemporaryDirectory() as tmp:
        slides = args.slide or [write_synthetic_slide(Path(tmp) / "bench.svs", width_px=8192,
                                                      height_px=6144, slide_mpp=0.25, seed=5).path]
        cmu = data_file("wsi", "CMU-1-Small-Region.svs")
        if not args.slide and cmu is not None:
            slides.append(cmu)
        print("tiles/s; 'stage' includes opening, tissue detection and the grid, 'read' is the "
              "tile reading alone; ratios are against bare read_region")
        print(f"{'slide':<22}{'tiles':>6}{'bare':>8}{'stage 1 thr':>12}{'ratio':>7}"
              f"{'read 1 thr':>11}{'ratio':>7}{'read 2 thr':>11}{'ratio':>7}")
        for path in slides:
            with open_slide(path) as slide:
                coords = grid_coords(slide, spec)
            bare_rate(path, coords)  # warm the OS file cache so neither side pays for it
            bare = bare_rate(path, coords)
            stage, read1, n = featx_rate(path, spec, 1)
            _, read2, _ = featx_rate(path, spec, 2)
            print(f"{path.stem[:21]:<22}{n:>6}{bare:>8.1f}{stage:>12.1f}{stage / bare:>7.2f}"
                  f"{read1:>11.1f}{read1 / bare:>7.2f}{read2:>11.1f}{read2 / bare:>7.2f}")


if __name__ == "__main__":
    main()
