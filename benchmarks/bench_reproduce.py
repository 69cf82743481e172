"""Each ``featx reproduce --small`` run timed against its plan; ``--record`` writes the rates.

    python benchmarks/bench_reproduce.py [--experiments crc-tissue luad-expression luad-mutation]
                                         [--repeats N] [--record]

For each experiment: the time its plan expects (from ``featx/embed/measured_rates.json``),
then the run itself in a fresh folder (``python -m featx reproduce NAME --small`` in a new
process, as a user runs it), its wall time and each stage's seconds from ``_stages.json``,
and the ratio measured / expected (the target: within 2x either way). ``--record`` then
measures IMGNET-2048's forward rate (batches of 32 tiles of 224 px after a warm-up) and
writes it with the stage costs derived from these runs
(:func:`featx.reproduce.plan.stage_costs`) to ``measured_rates.json``. Record in one
invocation and check in a later one: a check against costs derived from the same runs
says nothing.

Results: see the lead's closing note of issue 23 and the measured_rates.json it wrote
(its ``date`` and ``load`` say when and under what load).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from featx.data_folder import data_dir
from featx.embed.plan import MEASURED_RATES, duration_text, measure_rate
from featx.reproduce.plan import EXPERIMENTS, plan_for, stage_costs
from featx.reproduce.stages import StageLog


def timed_run(experiment: str, out: Path, repeats: int | None) -> tuple[float, dict[str, float]]:
    """Wall seconds of ``featx reproduce EXPERIMENT --small`` in a new process, and its stages'."""
    command = [sys.executable, "-m", "featx", "reproduce", experiment, "--small", "-o", str(out)]
    command += ["--repeats", str(repeats)] if repeats else []
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, StageLog(out).seconds


def forward_rate() -> float:
    """IMGNET-2048's forward pass on this machine, tiles/s."""
    from featx.extractors import ExtractorFactory, get_extractor

    return measure_rate(get_extractor(ExtractorFactory.of("IMGNET-2048")), tile_px=224, batches=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=EXPERIMENTS)
    parser.add_argument("--repeats", type=int, default=None, help="--repeats of the runs")
    parser.add_argument("--record", action="store_true", help="write measured_rates.json")
    args = parser.parse_args()
    loads = [os.getloadavg()[0]]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for experiment in args.experiments:
            plan = plan_for(experiment, small=True, data_dir=data_dir(), n_repeats=args.repeats)
            wall, seconds = timed_run(experiment, Path(tmp) / experiment, args.repeats)
            loads.append(os.getloadavg()[0])
            runs.append((plan, seconds, wall))
            stages = ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items())
            print(f"{experiment} --small: expected {duration_text(plan.seconds())}, measured "
                  f"{duration_text(wall)} (ratio {wall / plan.seconds():.2f}); {stages}; "
                  f"load average {loads[-1]:.1f}", flush=True)
    if args.record:
        rate = forward_rate()
        loads.append(os.getloadavg()[0])
        rates = {"machine": f"the {os.cpu_count()}-core development machine",
                 "date": datetime.date.today().isoformat(),
                 "load": f"load average {min(loads):.1f} to {max(loads):.1f} from other jobs",
                 "by": "benchmarks/bench_reproduce.py --record",
                 "forward_tiles_per_s": round(rate, 2),
                 "stages": {k: {u: float(f"{v:.3g}") for u, v in cost.items()}
                            for k, cost in stage_costs(runs, rate).items()}}
        MEASURED_RATES.write_text(json.dumps(rates, indent=2) + "\n", encoding="utf-8")
        print(f"forward pass {rate:.2f} tiles/s; wrote {MEASURED_RATES}")


if __name__ == "__main__":
    main()
