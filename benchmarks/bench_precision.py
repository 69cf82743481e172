"""Half precision against float32: forward speed, embedding deviation, and the downstream answer.

    python benchmarks/bench_precision.py [--precision bfloat16|float16|auto] [--tiles 600]
                                         [--batch 32] [--repeats 3] [--cv-repeats 10]

Printed in one run, on the real LC25000 lung tiles (600 tiles of 224 px, 3 classes)
and IMGNET-2048 with the ImageNet weights (both from the featx data folder):

1. **Speed**: the bare forward pass in float32 and in the half precision, taking turns
   ``--repeats`` times on the same 128 tiles; rates are medians (wall time: TensorFlow
   uses every core), and their ratio.
2. **Deviation**: cosine similarity of every tile's half-precision embedding to its
   float32 one (min, median), and the largest difference relative to the float32
   embedding's largest value.
3. **Downstream**: LC25000 tissue classification (StandardScaler + LinearSVC, 5 folds x
   ``--cv-repeats``, the same folds for both) with the float32 and the half-precision
   embeddings, and the corrected resampled t-test between them
   (:func:`featx.evaluation.comparisons.compare_extractors`); "no difference" is the
   answer half precision must give.

``--precision auto`` picks float16 on a GPU and bfloat16 on a CPU with AVX512_BF16 or AMX
(:mod:`featx.extractors.precision`); ``benchmarks/gpu_check.sh`` runs this with float16.

Last full run (2026-12-07, the 2-core development machine with AVX512_BF16, shared: load
average 10; bfloat16, 600 tiles, 10 CV repetitions)::

    1. bare forward: float32 1.7 tiles/s, bfloat16 2.4 tiles/s, 1.42x (under that load;
       1.5-1.6x on a quieter machine, see issue 28's closing note)
    2. cosine to float32: min 0.99831, median 0.99977; largest difference 3.6% of the
       largest float32 value
    3. tissue accuracy 0.9153 (float32) and 0.9153 (bfloat16) on the same 50 folds;
       difference -0.0000 (95% CI -0.0107 to +0.0107), corrected t -0.00, p 1.000:
       no difference
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from featx.data_folder import data_file  # noqa: E402


def lc25000(n: int) -> tuple[np.ndarray, pd.Series]:
    """``n`` LC25000 lung tiles spread over the three classes, and their labels by file."""
    from PIL import Image

    folder = data_file("tiles", "lc25000_lung_224px")
    if folder is None:
        sys.exit("the LC25000 tiles are absent: set FEATX_DATA_DIR to the featx data folder")
    table = pd.read_csv(folder / "labels.tsv", sep="\t")
    table = table.iloc[np.linspace(0, len(table) - 1, min(n, len(table))).astype(int)]
    tiles = np.stack([np.asarray(Image.open(folder / f).convert("RGB").resize((224, 224)))
                      for f in table["file"]])
    return tiles, pd.Series(table["label"].to_numpy(), index=table["file"].to_numpy())


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", default="bfloat16",
                        choices=("bfloat16", "float16", "auto"))
    parser.add_argument("--tiles", type=int, default=600)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="speed: turns of each")
    parser.add_argument("--cv-repeats", type=int, default=10, help="downstream: CV repetitions")
    args = parser.parse_args()

    from featx.evaluation.comparisons import compare_extractors
    from featx.evaluation.tissue import classify_tissue
    from featx.extractors.precision import resolve_precision
    from featx.extractors.xception import ImagenetXception

    weights = data_file("models", "xception_imagenet_notop.weights.h5")
    if weights is None:
        sys.exit("the ImageNet Xception weights are absent from the featx data folder")
    tiles, labels = lc25000(args.tiles)
    choice = resolve_precision(args.precision)
    full = ImagenetXception(weights=weights, batch_size=args.batch)
    half = ImagenetXception(weights=weights, batch_size=args.batch, precision=choice.precision)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {len(tiles)} LC25000 "
          f"tiles; {full.name} against {half.name} ({choice.precision}: {choice.reason})")

    some = full.prepare(tiles[:128])
    full(some[: args.batch]), half(some[: args.batch])  # trace both outside the timings
    rates: dict[str, list[float]] = {full.name: [], half.name: []}
    for _ in range(args.repeats):
        for ext in (full, half):
            start = time.perf_counter()
            ext(some)
            rates[ext.name].append(len(some) / (time.perf_counter() - start))
    f32, f16 = (float(np.median(rates[e.name])) for e in (full, half))
    print(f"\n1. bare forward, median of {args.repeats} taking turns: float32 {f32:.1f} tiles/s, "
          f"{choice.precision} {f16:.1f} tiles/s, ratio {f16 / f32:.2f}x "
          f"(all runs: {[round(r, 1) for r in rates[full.name]]} vs "
          f"{[round(r, 1) for r in rates[half.name]]})")

    a, b = full(tiles), half(tiles)
    cos = cosine(a, b)
    rel = float(np.abs(a - b).max() / np.abs(a).max())
    print(f"\n2. deviation on {len(tiles)} real tiles: cosine min {cos.min():.5f}, median "
          f"{np.median(cos):.5f}; largest difference {rel:.2%} of the largest float32 value")

    feats = {name: pd.DataFrame(x, index=labels.index) for name, x in
             ((full.name, a), (half.name, b))}
    result = classify_tissue(feats, labels, n_splits=5, n_repeats=args.cv_repeats, seed=0)
    row = compare_extractors(result.scores, full.name, half.name, metric="accuracy").iloc[0]
    print(f"\n3. LC25000 tissue accuracy, 5 folds x {args.cv_repeats}, the same folds: "
          f"{full.name} {row['mean_a']:.4f}, {half.name} {row['mean_b']:.4f}; difference "
          f"{row['mean_diff']:+.4f} (95% CI {row['ci_low']:+.4f} to {row['ci_high']:+.4f}), "
          f"corrected t {row['t_corrected']:.2f}, p {row['p_corrected']:.3f}: {row['verdict']}")


if __name__ == "__main__":
    main()
