"""`featx import` rates against writing the same arrays to the store directly.

    python benchmarks/bench_import.py [--slides 10] [--tiles 2000] [--features 1024]

Writes ``--slides`` TRIDENT h5 files and slideflow bags of ``--tiles`` random float32
embeddings each, then reports, in MiB of embeddings per second and side by side in one
run: ``write_slide_embeddings`` of the arrays already in memory (the floor: Parquet
encoding and the atomic write), ``featx import`` of the h5 files and of the ``.pt`` bags
(reading, hashing the source, provenance, locks, status), a rerun that skips every
slide, the PyTorch-free ``.pt`` reader alone, and ``featx export`` to h5.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' file writers

from featx.embed.formats.torch_file import read_torch_tensor  # noqa: E402
from featx.embed.interop import export_embeddings, import_embeddings  # noqa: E402
from featx.embed.store import write_slide_embeddings  # noqa: E402
from tests.embed.formats._foreign_files import write_slideflow, write_trident  # noqa: E402


def _timed(label: str, mib: float, work) -> float:
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:7.2f} s  {mib / seconds:8.0f} MiB/s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slides", type=int, default=10)
    parser.add_argument("--tiles", type=int, default=2000)
    parser.add_argument("--features", type=int, default=1024)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="featx-bench-import-"))
    try:
        rng = np.random.default_rng(0)
        side = int(np.ceil(np.sqrt(args.tiles)))
        cols, rows = np.meshgrid(np.arange(side), np.arange(side))
        xy = np.stack([cols.ravel(), rows.ravel()], 1)[: args.tiles] * 512
        arrays = [rng.normal(size=(args.tiles, args.features)).astype(np.float32)
                  for _ in range(args.slides)]
        (root / "h5").mkdir()
        for i, features in enumerate(arrays):
            write_trident(root / "h5" / f"S{i}.h5", features, xy)
            write_slideflow(root / "pt", f"S{i}", features, xy)
        mib = sum(a.nbytes for a in arrays) / 2**20
        print(f"{args.slides} slides x {args.tiles} tiles x {args.features} features "
              f"({mib:.0f} MiB float32)")
        coords = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "level": 0, "read_px": 512,
                               "tile_mpp": 0.5, "tile_px": 256, "tissue_fraction": np.nan,
                               "col": xy[:, 0] // 512, "row": xy[:, 1] // 512})
        floor = _timed("write_slide_embeddings (arrays in memory)", mib, lambda: [
            write_slide_embeddings(root / "direct", coords, a, extractor="X", slide_id=f"S{i}")
            for i, a in enumerate(arrays)])
        h5 = _timed("featx import, TRIDENT h5", mib,
                    lambda: import_embeddings([root / "h5"], root / "store", extractor="UNI"))
        _timed("featx import, slideflow .pt bags", mib,
               lambda: import_embeddings([root / "pt"], root / "store", extractor="SF"))
        _timed("featx import again (every slide skipped)", mib,
               lambda: import_embeddings([root / "h5"], root / "store", extractor="UNI"))
        _timed(".pt reader alone (no PyTorch)", mib, lambda: [
            read_torch_tensor(root / "pt" / f"S{i}.pt") for i in range(args.slides)])
        _timed("featx export to h5", mib,
               lambda: export_embeddings(root / "store", root / "out", extractor="UNI"))
        print(f"import / direct write: {h5 / floor:.2f}x the time")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
