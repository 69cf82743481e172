"""Peak memory of end-to-end U-Net training vs plain backpropagation, by slide size.

Each measurement runs in a fresh process: build a small conv extractor and a
U-Net on a fixed 32x32 canvas, warm up with one end-to-end step on a 2x2-tile
slide, note the peak resident set (VmHWM), then train one step on an
N x N-tile slide either end to end (featx.slidescore.unet.end_to_end_step: mini-batches
of 32 tiles, only the feature map kept) or by full backpropagation through
every tile, and print how far the peak rose. TensorFlow's CPU allocator keeps
no statistics, so the process's peak RSS is the honest measure here.

Run: python benchmarks/bench_end_to_end_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import json, sys, time
    import numpy as np, pandas as pd, keras
    from featx.wsi.tile_grid import canvas_layouts
    from featx.slidescore.end_to_end import end_to_end_step, full_backprop_gradients
    from featx.slidescore.unet import build_unet

    side, method = int(sys.argv[1]), sys.argv[2]
    TILE_PX, CANVAS, D = 32, 32, 8

    def peak_mib():
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
        status = open('/proc/self/status').read()
        return int(status.split('VmHWM:')[1].split()[0]) / 1024

    def slide(n):
        r, c = np.divmod(np.arange(n * n), n)
        (layout,) = canvas_layouts(pd.DataFrame({"row": r, "col": c}),
                                   canvas_shape=(CANVAS, CANVAS))
        return layout, (c >= n // 2).astype(np.int8)

    def tiles(ids):
        rng = np.random.default_rng(int(ids[0]))
        return rng.integers(0, 256, (len(ids), TILE_PX, TILE_PX, 3), dtype=np.uint8)

    keras.utils.set_random_seed(0)
    extractor = keras.Sequential([
        keras.Input((TILE_PX, TILE_PX, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(D)])
    unet = build_unet(canvas_shape=(CANVAS, CANVAS), n_features=D, base_filters=8, depth=2)
    opt_e, opt_u = keras.optimizers.SGD(1e-3), keras.optimizers.SGD(1e-3)
    layout, labels = slide(2)
    end_to_end_step(extractor, unet, tiles, layout, labels, batch_size=32,
                    extractor_optimizer=opt_e, unet_optimizer=opt_u)
    full_backprop_gradients(extractor, unet, tiles(np.arange(4)), layout, labels)
    base = peak_mib()
    layout, labels = slide(side)
    start = time.perf_counter()
    if method == "end-to-end":
        end_to_end_step(extractor, unet, tiles, layout, labels, batch_size=32,
                        extractor_optimizer=opt_e, unet_optimizer=opt_u)
    else:
        full_backprop_gradients(extractor, unet, tiles(np.arange(side * side)), layout, labels)
    print(json.dumps({"rise_mib": peak_mib() - base, "seconds": time.perf_counter() - start}))
""")


def measure(side: int, method: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", PROBE, str(side), method], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    print("peak RSS rise over a warmed-up process, one training step, 32x32 canvas, "
          "32-px tiles, mini-batch 32")
    print(f"{'tiles':>6} {'end-to-end MiB':>15} {'full backprop MiB':>18} {'ratio':>7} "
          f"{'e2e s':>6} {'full s':>7}")
    for side in (8, 16, 32):
        e2e, full = measure(side, "end-to-end"), measure(side, "full")
        ratio = full["rise_mib"] / max(e2e["rise_mib"], 1.0)
        print(f"{side * side:>6} {e2e['rise_mib']:>15.1f} {full['rise_mib']:>18.1f} "
              f"{ratio:>6.0f}x {e2e['seconds']:>6.2f} {full['seconds']:>7.2f}")
    print("(ratio: full rise / max(end-to-end rise, 1 MiB); the feature map itself is "
          "32*32*8 float32 = 32 KiB)")


if __name__ == "__main__":
    main()
