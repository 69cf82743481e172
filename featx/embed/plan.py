"""What a cohort costs before it runs: tiles, store disk and hours, from the manifest.

:func:`plan_cohort` reads a slide table (a GDC manifest with file sizes, or paths)
and estimates each slide's tiles at the requested tile spec:

- a slide **at hand** is opened, its tissue detected on a thumbnail and its grid
  counted (:func:`featx.wsi.tiling.grid_coords`): the exact number of tiles a run
  will embed, in about a second per slide;
- a slide known only by its **file size** gets ``size / bytes_per_tissue_px``
  level-0 tissue pixels at ``slide_mpp``, of which ``kept_fraction`` falls in tiles
  that pass ``min_tissue``. Both numbers come from the slides at hand when there
  are any (their medians), else from :data:`DEFAULT_SIZE_MODEL`. Compression and
  scan resolution vary between sites, so such estimates are good to a factor of
  about two; download a handful of the cohort's slides to calibrate them.

Disk is tiles times the bytes per stored tile plus slides times a file's own bytes,
both measured by writing store files of random embeddings of the extractor's width
and dtype (random floats barely compress, so the per-tile figure is an upper bound).
Time is tiles divided by a rate in tiles/s: IMGNET-2048's rate measured on the
development machine (:func:`measured_rates`, which ``benchmarks/bench_reproduce.py
--record`` writes), the rate of the extractor measured here now (:func:`measure_rate`)
and any given one (a GPU's).

This is featx's one planner: ``featx plan MANIFEST``, ``featx extract MANIFEST --plan``
and ``featx reproduce`` (:mod:`featx.reproduce.plan`, which adds the stages around the
embedding) all plan slides with it.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._validate import one_of, positive_float
from featx.barcodes import SAMPLE_TYPES, tcga_sample_type
from featx.errors import InvalidParameterError
from featx.wsi.tiling import TileSpec


@dataclass(frozen=True)
class SizeModel:
    """How a slide's file size turns into tiles when the slide is not at hand.

    Parameters
    ----------
    bytes_per_tissue_px : float
        File bytes per level-0 pixel of tissue (background compresses to little).
    slide_mpp : float
        Level-0 microns per pixel of the slides (0.25 at 40x, 0.5 at 20x).
    kept_fraction : float
        Area of the tiles that pass ``min_tissue`` per tissue area (below 1 at a high
        threshold, which drops tiles on the tissue's edge; above 1 at a low one).
    source : str
        Where the numbers come from.
    """

    bytes_per_tissue_px: float
    slide_mpp: float
    kept_fraction: float
    source: str

    def tiles(self, size_bytes: float, spec: TileSpec) -> float:
        """Expected tiles of a slide file of ``size_bytes`` at ``spec``."""
        tissue_um2 = size_bytes / self.bytes_per_tissue_px * self.slide_mpp ** 2
        return tissue_um2 / (spec.stride_px * spec.tile_mpp) ** 2 * self.kept_fraction


#: Measured on OpenSlide's CMU-1-Small-Region.svs (Aperio, JPEG Q=30, 0.499 mpp,
#: 1,938,955 bytes, 36 % tissue by detect_tissue at 2 mpp): 0.82 bytes per tissue
#: pixel, 0.81-0.83 of the tissue area in tiles of 224 px at 0.25-0.5 mpp with
#: min_tissue 0.8. TCGA scans are 40x (0.25 mpp) or 20x, JPEG Q=70 mostly; calibrate
#: on a few of the cohort's own slides (any at hand are used automatically).
DEFAULT_SIZE_MODEL = SizeModel(0.82, 0.25, 0.82, "CMU-1-Small-Region.svs (one Q=30 slide)")


@dataclass(frozen=True)
class CohortPlan:
    """A cohort's expected tiles, store size and time.

    Attributes
    ----------
    slides : pandas.DataFrame
        One row per slide: ``slide_id, path, size, exists, n_tiles, how`` (``"counted"``
        from the slide's grid, ``"from size"`` estimated, ``"unknown"`` without either).
    spec : TileSpec
        The tiling planned for.
    size_model : SizeModel
        The size model used for slides not at hand.
    bytes_per_tile : float
        Store bytes per tile (measured).
    bytes_per_file : float
        Store bytes per slide file besides its tiles (measured).
    rates : dict
        Label -> tiles/s the times are computed for.
    cohort : str
        Which slides are counted, and why.
    """

    slides: pd.DataFrame
    spec: TileSpec
    size_model: SizeModel
    bytes_per_tile: float
    bytes_per_file: float
    rates: dict[str, float] = field(default_factory=dict)
    cohort: str = "every row of the slide table"

    @property
    def n_tiles(self) -> int:
        """Expected tiles of the whole cohort."""
        return int(round(self.slides["n_tiles"].sum()))

    @property
    def store_bytes(self) -> float:
        """Expected bytes of the store."""
        return self.n_tiles * self.bytes_per_tile + len(self.slides) * self.bytes_per_file

    def hours(self, rate: float) -> float:
        """Hours to embed the cohort at ``rate`` tiles/s."""
        return self.n_tiles / positive_float("rate", rate) / 3600

    def summary(self) -> str:
        """The plan as a few lines of text."""
        s, spec, model = self.slides, self.spec, self.size_model
        counted, sized = (s["how"] == "counted").sum(), (s["how"] == "from size").sum()
        per_slide = s.loc[s["how"] != "unknown", "n_tiles"]
        lines = [
            f"{len(s):,} slides ({self.cohort}{_sample_types(s['slide_id'])}): {counted} at hand "
            f"(grid counted), {sized:,} from file size ({s['size'].fillna(0).sum() / 1e9:.1f} GB), "
            f"{(s['how'] == 'unknown').sum()} with neither",
            f"tiles of {spec.tile_px} px at {spec.tile_mpp} mpp, min tissue {spec.min_tissue}: "
            f"{self.n_tiles:,} (per slide: median {per_slide.median():,.0f}, "
            f"max {per_slide.max():,.0f})" if len(per_slide) else "tiles: none estimable",
            f"store: {self.store_bytes / 1e9:,.2f} GB ({self.bytes_per_tile:,.0f} bytes per "
            f"tile and {self.bytes_per_file:,.0f} per slide file, measured on written files)",
        ]
        lines += [f"time at {rate:,.1f} tiles/s ({label}): {duration_text(self.hours(rate) * 3600)}"
                  for label, rate in self.rates.items()]
        if sized:
            lines.append(f"size model: {model.bytes_per_tissue_px:.3g} bytes per tissue px, "
                         f"scan {model.slide_mpp} mpp, {model.kept_fraction:.2f} of tissue in "
                         f"kept tiles; from {model.source}. Rough: a few of the cohort's "
                         "own slides in the slide folder calibrate it")
        return "\n".join(lines)


def duration_text(seconds: float) -> str:
    """A duration in the unit that reads best: ``45 s``, ``12 min``, ``5.3 h``, ``7.3 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.1f} days"


def _sample_types(slide_ids: pd.Series) -> str:
    """"; TCGA sample types: 812 primary tumour (01), ..." for slides named by TCGA barcodes."""
    codes = pd.Series([tcga_sample_type(s) for s in slide_ids], dtype=object).dropna()
    counts = codes.value_counts()
    return "; TCGA sample types: " + ", ".join(
        f"{n:,} {SAMPLE_TYPES.get(c, 'other')} ({c})" for c, n in counts.items()) if len(counts) else ""


#: Rates measured on the development machine; ``benchmarks/bench_reproduce.py --record``
#: writes the file from timed runs.
MEASURED_RATES = Path(__file__).with_name("measured_rates.json")


def measured_rates() -> dict[str, Any]:
    """The rates measured on the development machine, and where and how they were measured.

    ``forward_tiles_per_s`` is IMGNET-2048's forward pass (on a CPU the slide path's
    producers keep pace with it, ``benchmarks/bench_extract.py``); ``stages`` holds the
    stage costs :mod:`featx.reproduce.plan` adds around the embedding.
    """
    return json.loads(MEASURED_RATES.read_text(encoding="utf-8"))


def plan_rates(extractor: str, *, measured: float | None = None, gpu_rate: float | None = None,
               gpus: int = 1) -> dict[str, float]:
    """The rates a cohort's plan gives times for, ``{label: tiles/s}``.

    The development machine's (for IMGNET-2048 and FTX-2048, the same network: the rate
    ``featx reproduce`` and README plan with), ``measured`` here now, and a given GPU's.
    """
    rates: dict[str, float] = {}
    if extractor in ("IMGNET-2048", "FTX-2048"):
        recorded = measured_rates()
        rates[f"{recorded['machine']}, Xception measured {recorded['date']}"] = \
            recorded["forward_tiles_per_s"]
    if measured is not None:
        rates[f"this machine: {extractor} forward pass, measured now"] = measured
    if gpu_rate is not None:
        rates[f"{gpus} GPU(s) at {gpu_rate:g} tiles/s each, as given"] = gpu_rate * gpus
    return rates


def count_slide(path: str | Path, spec: TileSpec) -> dict[str, float]:
    """A slide at hand: its tiles at ``spec``, bytes per tissue px, kept fraction, scan mpp."""
    from featx.wsi.slide import open_slide
    from featx.wsi.tiling import grid_coords
    from featx.wsi.tissue import detect_tissue

    with open_slide(path) as slide:
        tissue = detect_tissue(slide, thumbnail_mpp=min(8.0, spec.tile_um / 8))
        with warnings.catch_warnings():  # finer tiles than the scan: counted all the same
            warnings.simplefilter("ignore")
            n = len(grid_coords(slide, spec, tissue=tissue))
        tissue_px = tissue.tissue_fraction * slide.info.width * slide.info.height
        tile_l0, mpp = spec.stride_px * spec.tile_mpp / slide.slide_mpp, slide.slide_mpp
    if tissue_px <= 0:
        return {"n_tiles": n, "bytes_per_tissue_px": np.nan, "kept_fraction": np.nan,
                "slide_mpp": mpp}
    return {"n_tiles": n, "bytes_per_tissue_px": Path(path).stat().st_size / tissue_px,
            "kept_fraction": n * tile_l0 ** 2 / tissue_px, "slide_mpp": mpp}


def calibrate(counted: pd.DataFrame, fallback: SizeModel, slide_mpp: float | None) -> SizeModel:
    """The size model from slides at hand (medians), else ``fallback``."""
    good = counted.dropna(subset=["bytes_per_tissue_px", "kept_fraction"])
    good = good[good["n_tiles"] > 0]
    if good.empty:
        return fallback if slide_mpp is None else replace(fallback, slide_mpp=slide_mpp)
    return SizeModel(float(good["bytes_per_tissue_px"].median()),
                     float(good["slide_mpp"].median()) if slide_mpp is None else slide_mpp,
                     float(good["kept_fraction"].median()),
                     f"{len(good)} slide(s) of this cohort at hand")


def store_bytes(n_features: int, dtype: str = "float32") -> tuple[float, float]:
    """(bytes per tile, bytes per slide file) of the store, measured by writing two files.

    Files of 16 and 4,096 tiles of random embeddings (random floats barely compress,
    so an upper bound); the difference gives the per-tile cost, the rest is the
    file's own (schema, footer; the provenance JSON adds a few KB more).
    """
    one_of("dtype", dtype, ("float32", "float16"))
    small, large = (_written_bytes(n, n_features, dtype) for n in (16, 4096))
    per_tile = (large - small) / (4096 - 16)
    return per_tile, max(0.0, small - 16 * per_tile)


def _written_bytes(n: int, n_features: int, dtype: str) -> int:
    from featx.embed.store import write_slide_embeddings
    from featx.wsi.tiling import empty_table

    rng = np.random.default_rng(0)
    coords = pd.DataFrame({c: np.zeros(n, empty_table()[c].dtype) for c in empty_table()})
    coords = coords.assign(slide_id="plan", col=np.arange(n) % 200, row=np.arange(n) // 200,
                           x=(np.arange(n) % 200) * 448, y=(np.arange(n) // 200) * 448,
                           read_px=448, tile_px=224, tile_mpp=0.25,
                           tissue_fraction=rng.uniform(0.8, 1, n), stain_status="ok")
    features = np.abs(rng.normal(size=(n, n_features))).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_slide_embeddings(tmp, coords, features, extractor="PLAN", slide_id="plan",
                                      patient_id="plan", dtype=dtype)
        return Path(path).stat().st_size


def measure_rate(extractor: Any, *, tile_px: int, batches: int = 2) -> float:
    """Tiles/s of ``extractor`` on random uint8 tiles, after one warm-up batch (the model's rate)."""
    batch = int(getattr(extractor, "batch_size", 32))
    tiles = np.random.default_rng(0).integers(0, 256, (batch, tile_px, tile_px, 3), np.uint8)
    extractor(tiles)  # trace and warm up outside the timing
    start = time.perf_counter()
    for _ in range(batches):
        extractor(tiles)
    return batch * batches / (time.perf_counter() - start)


def plan_cohort(
    manifest: str | Path | pd.DataFrame,
    *,
    spec: TileSpec | None = None,
    slide_dir: str | Path | None = None,
    n_features: int = 2048,
    dtype: str = "float32",
    rates: Mapping[str, float] | None = None,
    size_model: SizeModel | None = None,
    slide_mpp: float | None = None,
    count_at_hand: bool = True,
    cohort: str | None = None,
) -> CohortPlan:
    """Estimate a cohort's tiles, store size and time, before anything runs.

    Parameters
    ----------
    manifest : path or DataFrame
        A GDC manifest (its ``size`` column is used) or any slide table
        (:func:`featx.embed.slides.slide_table`).
    spec : TileSpec, optional
        The tiling of the run; default ``TileSpec()``.
    slide_dir : path, optional
        Folder of the slides; the slides found there are counted exactly.
    n_features : int, default 2048
        Embedding width of the extractor.
    dtype : {"float32", "float16"}
        Storage type of the embeddings.
    rates : mapping, optional
        Label -> tiles/s to give times for (e.g. ``{"this machine": 10.2}``).
    size_model : SizeModel, optional
        For slides known only by size; default: calibrated on the slides at hand,
        else :data:`DEFAULT_SIZE_MODEL`.
    slide_mpp : float, optional
        Level-0 mpp assumed for slides not at hand (overrides the size model's).
    count_at_hand : bool, default True
        Open the slides at hand and count their grids (False: sizes only).
    cohort : str, optional
        Which slides these are and why (default: every row of the manifest).

    Returns
    -------
    CohortPlan
    """
    spec = TileSpec() if spec is None else spec
    if not isinstance(spec, TileSpec):
        raise InvalidParameterError("spec", "a TileSpec", type(spec).__name__)
    if slide_mpp is not None:
        positive_float("slide_mpp", slide_mpp)
    slides = _slides(manifest, slide_dir)
    counted = _count_at_hand(slides, spec) if count_at_hand else pd.DataFrame(
        columns=["slide_id", "n_tiles", "bytes_per_tissue_px", "kept_fraction", "slide_mpp"])
    model = size_model or calibrate(counted, DEFAULT_SIZE_MODEL, slide_mpp)
    positive_float("kept_fraction", model.kept_fraction)
    n_tiles = slides["size"].astype(float).map(lambda b: model.tiles(b, spec))
    slides["how"] = np.where(slides["size"].notna(), "from size", "unknown")
    slides["n_tiles"] = n_tiles.fillna(0.0)
    if len(counted):
        exact = counted.set_index("slide_id")["n_tiles"]
        hit = slides["slide_id"].isin(exact.index)
        slides.loc[hit, "n_tiles"] = slides.loc[hit, "slide_id"].map(exact).astype(float)
        slides.loc[hit, "how"] = "counted"
    name = "the slide table" if isinstance(manifest, pd.DataFrame) else Path(manifest).name
    return CohortPlan(slides, spec, model, *store_bytes(n_features, dtype),
                      {str(k): positive_float("rate", v) for k, v in (rates or {}).items()},
                      cohort or f"every row of {name}")


def _slides(manifest: str | Path | pd.DataFrame, slide_dir: str | Path | None) -> pd.DataFrame:
    """The slide table; without a slide folder a manifest of file names is planned by size."""
    from featx._io import read_table
    from featx.embed.slides import slide_table

    table = manifest if isinstance(manifest, pd.DataFrame) else read_table(
        manifest, what="manifest", dtype=str)
    if slide_dir is not None or "path" in table.columns or "filename" not in table.columns:
        return slide_table(table, slide_dir)
    sizes = pd.to_numeric(table.get("size", pd.Series([None] * len(table))), errors="coerce")
    return pd.DataFrame({"slide_id": [Path(f).stem for f in table["filename"]],
                         "path": table["filename"].astype(str), "size": sizes.astype("Int64"),
                         "exists": False})


def _count_at_hand(slides: pd.DataFrame, spec: TileSpec) -> pd.DataFrame:
    rows = []
    for slide in slides[slides["exists"]].to_dict("records"):
        try:
            rows.append({"slide_id": slide["slide_id"], **count_slide(slide["path"], spec)})
        except Exception:  # noqa: BLE001 - an unreadable slide is planned from its size
            continue
    return pd.DataFrame(rows, columns=["slide_id", "n_tiles", "bytes_per_tissue_px",
                                       "kept_fraction", "slide_mpp"])


__all__ = ["DEFAULT_SIZE_MODEL", "MEASURED_RATES", "CohortPlan", "SizeModel", "calibrate",
           "count_slide", "duration_text", "measure_rate", "measured_rates",
           "plan_cohort", "plan_rates", "store_bytes"]
