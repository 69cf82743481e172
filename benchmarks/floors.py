"""Benchmark floors: the speed ratios featx keeps, measured side by side and held to floors.

``benchmarks/check`` (run by ``.ci/run`` after the tests) runs this. Every figure is a
ratio of two contenders measured in this one run, taking turns, as the median over
repeats, so a busy machine slows both alike:

- Macenko per tile, per slide with the colour map cold, and warm, against staintools's
  own Macenko (CPU time, one thread; ``bench_stain.quick``);
- the whole slide-to-features path against the bare Xception forward pass (process CPU
  time: the work the path adds, which load does not change; the wall-time ratio is
  printed beside it, unchecked, because on a shared machine it swings by 0.2;
  ``bench_extract.quick``);
- the SVR expression protocol against the naive scikit-learn loop (CPU time, one
  thread; ``bench_models.quick``);
- one slide read from the store through ``read_slide`` against a pyarrow dataset
  filter (CPU time; ``bench_store.quick``).

Each floor sits near half of the figure's value here (and under the lowest value seen
on a loaded machine), so noise does not fail the check but a 2x regression does. The
quick figures are on small inputs (96 tiles, 64 tiles, 40 genes, 60 slides), so they
sit below the full benchmarks' figures; each benchmark's docstring keeps its last full
measurement.

Last run (2026-12-07, the 2-core development machine, shared, load average 5-6, at nice
19): see ``TODAY``; 111 s wall, 54 s of CPU. On a clean clone without the data folder
(synthetic tiles for the stain figures; load 9, nice 19) all six held too (11.1, 14.7,
66.5, 0.93, 13.0, 9.9) in 288 s wall, 58 s of CPU.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # this checkout's featx

#: figure -> floor (a ratio; the check fails below it).
FLOORS = {
    "Macenko per tile / staintools": 6.0,
    "Macenko per slide, cold / staintools": 9.0,
    "Macenko per slide, warm / staintools": 40.0,
    "whole path / bare forward (CPU time)": 0.7,
    "SVR protocol / naive loop": 6.0,
    "store per-slide read / dataset filter": 5.0,
}
#: figure -> its value in the last run recorded above (for the printout; not checked).
TODAY = {
    "Macenko per tile / staintools": 11.2,
    "Macenko per slide, cold / staintools": 13.8,
    "Macenko per slide, warm / staintools": 84.9,
    "whole path / bare forward (CPU time)": 0.91,
    "whole path / bare forward (wall time)": 0.93,
    "SVR protocol / naive loop": 10.9,
    "store per-slide read / dataset filter": 10.4,
}


def measurements() -> list[tuple[str, Callable[[], dict[str, float]]]]:
    """The quick measurements, each returning some of the figures."""
    import bench_extract
    import bench_models
    import bench_stain
    import bench_store

    return [("Macenko against staintools", bench_stain.quick),
            ("whole path against the bare forward pass", bench_extract.quick),
            ("SVR protocol against the naive loop", bench_models.quick),
            ("store per-slide read against a dataset filter", bench_store.quick)]


def main() -> int:
    """Measure every figure, print them against their floors; 1 when one is below."""
    start = time.perf_counter()
    figures: dict[str, float] = {}
    for label, quick in measurements():
        began = time.perf_counter()
        figures.update(quick())
        print(f"measured {label} ({time.perf_counter() - began:.0f} s)", flush=True)
    print(f"\n{'figure':40s} {'measured':>9s} {'floor':>7s} {'last run':>9s}")
    failed = [name for name, floor in FLOORS.items() if figures[name] < floor]
    for name, value in figures.items():
        floor = FLOORS.get(name)
        verdict = "not checked" if floor is None else (
            "BELOW THE FLOOR" if name in failed else "ok")
        print(f"{name:40s} {value:9.2f} {'' if floor is None else f'{floor:7.2f}':>7s} "
              f"{TODAY.get(name, float('nan')):9.2f}   {verdict}")
    print(f"\nbenchmark floors: {len(FLOORS) - len(failed)} of {len(FLOORS)} held, in "
          f"{time.perf_counter() - start:.0f} s")
    if failed:
        print(f"below the floor: {', '.join(failed)} (rerun `benchmarks/check` on a quiet "
              "machine; if it stays below, a change slowed featx down)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
