"""The built-in demo behind README's first command.

It needs no input: it writes synthetic slides with known tissue, adds OpenSlide's
CMU-1-Small-Region test slide when the public data folder has it, and runs every
stage featx has on them, writing its outputs under one folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from featx.config import data_file
from featx.slide import open_slide
from featx.synthetic import Region, write_synthetic_slide
from featx.tiling import TileSpec
from featx.tiling_job import tile_slide


@dataclass
class DemoResult:
    """Where the demo wrote its outputs."""

    out_dir: Path
    slides: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)


def demo_slides(out_dir: Path) -> list[Path]:
    """Synthetic slides (one with tumour, one normal, one at an odd mpp) plus CMU-1 if present."""
    slides_dir = out_dir / "slides"
    slides_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        write_synthetic_slide(slides_dir / "synthetic-tumour.svs", width_px=4096, height_px=3072,
                              mpp=0.25, seed=1).path,
        write_synthetic_slide(slides_dir / "synthetic-normal.svs", width_px=3072, height_px=2048,
                              mpp=0.4990, seed=2,
                              regions=[Region(300, 200, 2400, 1600, "ellipse", "normal")]).path,
    ]
    cmu = data_file("wsi", "CMU-1-Small-Region.svs")
    if cmu is not None:
        paths.append(cmu)
    return paths


def run_demo(out_dir: str | Path = "reports/demo", *, progress: bool = True) -> DemoResult:
    """Run the demo and return where its outputs are.

    Parameters
    ----------
    out_dir : str or Path, default "reports/demo"
        Output folder (created).
    progress : bool, default True
        Show progress bars.
    """
    out = Path(out_dir)
    result = DemoResult(out)
    spec = TileSpec(tile_px=224, mpp=0.5)
    result.slides = demo_slides(out)
    summary = []
    for path in result.slides:
        with open_slide(path) as slide:
            tiled = tile_slide(slide, spec, out_dir=out / "tiles")
        result.tables.append(tiled.table_path)
        result.figures.append(tiled.figure_path)
        summary.append({"slide": path.name, "mpp": tiled.slide_mpp, "tiles": tiled.n_tiles,
                        "tissue_fraction": round(tiled.tissue_fraction, 3)})
    pd.DataFrame(summary).to_csv(out / "summary.csv", index=False)
    return result
