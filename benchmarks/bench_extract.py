"""Tiles per second of the bare Xception forward pass vs the whole extraction path, in one run.

    python benchmarks/bench_extract.py [--slide PATH] [--tile-px 224] [--max-tiles 256]
                                       [--batch-size 32] [--weights PATH|random]
                                       [--mixed-precision] [--repeats 3]

Bare forward: the extractor's fixed-shape ``tf.function`` on tiles already in memory
at its input size (no reading, no resizing, no stain step). Whole path:
``embed_slide`` on the same number of tiles: read from the slide at the target mpp,
Macenko-normalised (``featx.stain.macenko.MacenkoNormalizer``, per tile), resized if needed,
embedded; tissue detection and the grid are computed once beforehand and timed
apart. The sequential path (``prefetch_batches=0``) shows what the producer thread
buys. Measurements alternate (bare, overlapped, sequential) ``--repeats`` times and
the medians are printed with the ratio overlapped / bare (target >= 0.85).

Without ``--slide`` a synthetic 0.25-mpp slide is written, so tiles at 0.5 mpp are
read at 2x and reduced. ``--mixed-precision`` runs the model in float16 (GPU).
``--simulate 40 80`` replaces the model by a stand-in that sleeps n/rate seconds per
batch (no CPU), to see whether the producers keep up with an accelerator of that
speed. On a CPU the reader and Macenko share cores with TensorFlow, so the ratio
there measures contention; the target is meant for a GPU, where the model's work
moves off the cores the producers use.

Measured (2026-11-23, CPU only: 2 cores shared with other jobs, load ~3; no GPU was
lent to this task, so no GPU or mixed-precision figures yet), 117 tiles of 224 px,
batch 32, 2 producer threads, ImageNet weights, Macenko per tile::

    producer stages alone, one thread: read 79.8 tiles/s, Macenko 171.0 tiles/s
    bare forward                                    10.8 tiles/s
    slide->tiles->Macenko->features, overlapped      9.6 tiles/s   ratio 0.891
    slide->tiles->Macenko->features, sequential      8.2 tiles/s   ratio 0.760
    simulated model at 20 tiles/s: overlapped 0.882, sequential 0.768
    simulated model at 60 tiles/s: overlapped 0.622, sequential 0.511

On this loaded machine the ratio varies by about +-0.1 between runs (0.72-0.93 over
four runs). The producers (about 50 tiles/s per thread for read + Macenko) keep up
with models of a few tens of tiles/s; a GPU's Xception rate (hundreds to thousands
of tiles/s) needs many producer threads or a GPU Macenko to reach 0.85. Producer
threads scale about linearly (read + Macenko with no model, ``--simulate 5000``,
400 tiles: 96 tiles/s with one thread, 183 with two, on two cores), hence the
default of one producer per core (at most 8).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from featx.embed.pipeline import embed_slide
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords, read_tiles


def macenko(slide_tiles: np.ndarray) -> object:
    """A per-tile Macenko normaliser fitted to the first tissue tiles."""
    try:
        from featx.stain.macenko import MacenkoNormalizer
    except ImportError as error:
        raise SystemExit(f"featx.stain.macenko is needed for the Macenko step ({error}); "
                         "pass --no-macenko to time the path without it") from error
    return MacenkoNormalizer().fit(slide_tiles[:8])


def bare_rate(ext: object, tiles: np.ndarray) -> float:
    ready = ext.prepare(tiles)  # type: ignore[attr-defined]
    start = time.perf_counter()
    ext(ready)  # type: ignore[operator]
    return len(tiles) / (time.perf_counter() - start)


def path_rate(path: Path, ext: object, spec: TileSpec, coords: object, normalizer: object,
              batch_size: int, prefetch: int, workers: int) -> float:
    start = time.perf_counter()
    result = embed_slide(path, ext, spec=spec, coords=coords, normalizer=normalizer,  # type: ignore
                         batch_size=batch_size, prefetch_batches=prefetch, num_workers=workers)
    elapsed = time.perf_counter() - start
    return len(result) / elapsed


class SleepingModel:
    """Stands in for an accelerator: takes n / rate seconds per batch and no CPU."""

    def __init__(self, ext: object, rate: float) -> None:
        self.ext, self.rate = ext, rate
        self.name, self.n_features = "SIMULATED", ext.n_features  # type: ignore[attr-defined]
        self.input_px, self.prepare = ext.input_px, ext.prepare  # type: ignore[attr-defined]

    @property
    def config(self) -> dict:
        return {"name": self.name, "rate": self.rate}

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        time.sleep(len(tiles) / self.rate)
        return np.zeros((len(tiles), self.n_features), np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slide", type=Path, help="slide file (default: a synthetic slide)")
    parser.add_argument("--tile-px", type=int, default=224)
    parser.add_argument("--mpp", type=float, default=0.5, help="tile resolution")
    parser.add_argument("--max-tiles", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--weights", default=None,
                        help="weights file, or 'random' (default: resolve ImageNet weights)")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--no-macenko", action="store_true")
    parser.add_argument("--prefetch", type=int, default=None,
                        help="batches ahead (default workers + 1)")
    parser.add_argument("--workers", type=int, default=None,
                        help="producer threads (default: CPU count, at most 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--simulate-only", action="store_true",
                        help="skip the real model; time only the --simulate rates")
    parser.add_argument("--simulate", type=float, nargs="*", default=[],
                        help="also time the path with a sleeping stand-in model at these "
                        "tiles/s (an accelerator that leaves the CPU to the producers)")
    args = parser.parse_args()

    import tensorflow as tf

    from featx.extractors.xception import ImagenetXception

    tmp = tempfile.TemporaryDirectory()
    path = args.slide
    if path is None:
        side = int(np.ceil(np.sqrt(args.max_tiles * 1.6))) * args.tile_px * 2 + 1024
        path = Path(tmp.name) / "bench.svs"
        write_synthetic_slide(path, width_px=side, height_px=side, mpp=0.25, seed=0)
    spec = TileSpec(tile_px=args.tile_px, mpp=args.mpp, min_tissue=0.5)
    start = time.perf_counter()
    with open_slide(path) as slide:
        coords = grid_coords(slide, spec).iloc[: args.max_tiles]
        tiles = read_tiles(slide, coords)
    grid_s = time.perf_counter() - start
    ext = ImagenetXception(weights=args.weights, input_px=args.tile_px,
                           batch_size=args.batch_size, mixed_precision=args.mixed_precision)
    normalizer = None if args.no_macenko else macenko(tiles)
    ext(tiles[: args.batch_size])  # trace once, outside the timings
    n = len(coords)
    print(f"device: {tf.config.list_physical_devices('GPU') or 'CPU only'}; "
          f"{ext.name} sha256 {str(ext.config['weights_sha256'])[:12]}; "
          f"mixed precision {args.mixed_precision}")
    print(f"slide {path.name}: {n} tiles of {args.tile_px} px at {args.mpp} mpp, batch "
          f"{args.batch_size}; tissue+grid+first read {grid_s:.2f} s (not in the rates)")
    bare, overlapped, sequential = [], [], []
    for _ in range(0 if args.simulate_only else args.repeats):
        bare.append(bare_rate(ext, tiles))
        overlapped.append(path_rate(path, ext, spec, coords, normalizer, args.batch_size,
                                    args.prefetch, args.workers))
        sequential.append(path_rate(path, ext, spec, coords, normalizer, args.batch_size,
                                    0, args.workers))
    b, o, s = (statistics.median(v or [float("nan")]) for v in (bare, overlapped, sequential))
    # The producer's stages alone, to show the headroom a faster model (GPU) would have.
    start = time.perf_counter()
    with open_slide(path) as slide:
        read_tiles(slide, coords, num_workers=1)
    read_rate = n / (time.perf_counter() - start)
    stain_rate = float("nan")
    if normalizer is not None:
        start = time.perf_counter()
        for i in range(0, n, args.batch_size):
            normalizer.transform(tiles[i:i + args.batch_size])  # type: ignore[attr-defined]
        stain_rate = n / (time.perf_counter() - start)
    print(f"producer stages alone, one thread: read {read_rate:.1f} tiles/s, "
          f"Macenko {stain_rate:.1f} tiles/s")
    stain = "none" if normalizer is None else "Macenko per tile"
    print(f"bare forward                       {b:8.1f} tiles/s")
    print(f"slide->tiles->{stain}->features, overlapped  {o:8.1f} tiles/s")
    print(f"slide->tiles->{stain}->features, sequential  {s:8.1f} tiles/s")
    print(f"ratio overlapped/bare   {o / b:.3f}  (target >= 0.85)")
    print(f"ratio sequential/bare   {s / b:.3f}")
    for rate in args.simulate:
        fake = SleepingModel(ext, rate)
        o = path_rate(path, fake, spec, coords, normalizer, args.batch_size, args.prefetch,
                      args.workers)
        s = path_rate(path, fake, spec, coords, normalizer, args.batch_size, 0, args.workers)
        print(f"simulated model at {rate:.0f} tiles/s: overlapped {o:.1f} ({o / rate:.3f}), "
              f"sequential {s:.1f} ({s / rate:.3f}) tiles/s")
    tmp.cleanup()


if __name__ == "__main__":
    main()
