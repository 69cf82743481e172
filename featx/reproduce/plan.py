"""What a reproduction will download, the disk it needs and the time it expects.

The slides are planned by featx's one planner, :func:`featx.embed.plan.plan_cohort`
(tiles from the manifest's file sizes, calibrated on any slides at hand; store bytes
measured on written files), so ``featx plan`` of the same slides gives the same numbers.
This module adds the stages around the embedding. A stage's time is

    fixed cost + tiles through the model / forward rate + units x cost per unit

with the forward rate and the costs measured on the development machine
(:func:`featx.embed.plan.measured_rates`; ``benchmarks/bench_reproduce.py --record``
derives the costs from timed ``--small`` runs with :func:`stage_costs`). Fine-tuning's
step 2 counts three forward passes per tile (forward and backward), step 1 one (the
network is frozen): a stated estimate. Evaluation costs are per fit x row x feature,
measured at ``--small``'s sizes, so larger tables are an extrapolation. Download time is
the network's and is not estimated.
"""

from __future__ import annotations

import math
import os
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from featx._validate import one_of
from featx.embed.plan import CohortPlan, duration_text, measured_rates

EXPERIMENTS = ("crc-tissue", "luad-expression", "luad-mutation")
#: Embedding width of FTX-2048 and IMGNET-2048.
XCEPTION_FEATURES = 2048
#: The paper's fine-tuning, and ``--small``'s (one batch per step on the data folder's tiles).
FINETUNE = {"input_px": 224, "epochs_step1": 10, "epochs_step2": 10, "batch_size": 128}
FINETUNE_SMALL = {"input_px": 224, "epochs_step1": 1, "epochs_step2": 1, "batch_size": 8,
                  "steps_per_epoch": 1, "val_fraction": 0.34}
SMALL_TILES = "tiles/kather2016_samples"        # fine-tuning in --small
SMALL_EVAL_TILES = "tiles/lc25000_lung_224px"   # tissue classification in --small
SMALL_EVAL_PER_CLASS = 20
SLIDE_MANIFEST = "tables/deeppath_luad/LUAD_slides_from_manifest_DERIVED.tsv"
#: Gene lists of the LUAD experiments (built-in sets); mutation: Coudray et al. 2018's ten.
GENE_LISTS = {"expression": "immune", "mutation": "luad_coudray2018"}
#: Tiles per chunk file of a tile set's store (:func:`featx.embed.tile_sets.embed_tile_folder`).
CHUNK_TILES = 1000


@dataclass(frozen=True)
class Stage:
    """One planned stage: its name in ``_stages.json``, its cost's key and its amounts.

    Attributes
    ----------
    name : str
    cost : str
        Key of its cost in the measured rates' ``stages``.
    model_tiles : float
        Forward passes through the model.
    units : float
        The cost's unit, for evaluation fits x rows x features (0: a fixed cost).
    what : str
        The amounts in words.
    """

    name: str
    cost: str
    model_tiles: float = 0.0
    units: float = 0.0
    what: str = ""

    def seconds(self, costs: Mapping[str, Mapping[str, float]], rate: float) -> float:
        """Seconds at forward ``rate`` tiles/s with the measured ``costs``."""
        cost = costs.get(self.cost, {})
        return (cost.get("fixed_s", 0.0) + self.units * cost.get("per_unit_s", 0.0)
                + self.model_tiles / rate)

    def how(self, costs: Mapping[str, Mapping[str, float]], rate: float) -> str:
        """Where the stage's time comes from."""
        cost = costs.get(self.cost, {})
        parts = [f"{self.what} at {rate:,.1f} tiles/s"] if self.model_tiles else []
        if self.units:
            parts.append(f"{self.what}, {cost.get('per_unit_s', 0.0):.2g} s per fit x row x "
                         "feature measured")
        if cost.get("fixed_s"):
            parts.append(f"{cost['fixed_s']:,.0f} s measured start" if parts else "measured")
        return " + ".join(parts) or "not measured"


@dataclass(frozen=True)
class Plan:
    """A reproduction's cost before it starts.

    Attributes
    ----------
    experiment : str
    downloads : list of (str, int)
        What is downloaded and its size in bytes (0: found locally or in the data folder).
    stages : list of Stage
        What runs, in order.
    store_bytes : float
        Embeddings written (both extractors).
    cohort : CohortPlan, optional
        The slides (LUAD without ``--small``).
    notes : list of str
    """

    experiment: str
    downloads: list[tuple[str, int]]
    stages: list[Stage]
    store_bytes: float
    cohort: CohortPlan | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def disk_bytes(self) -> float:
        """Downloads, their unpacked copy (tile zips), and the embeddings."""
        unpacked = sum(size for name, size in self.downloads if name.endswith(".zip"))
        return sum(size for _, size in self.downloads) + unpacked + self.store_bytes

    @property
    def model_tiles(self) -> float:
        """Forward passes through the model, fine-tuning included."""
        return sum(stage.model_tiles for stage in self.stages)

    def seconds(self, rate: float | None = None) -> float:
        """Expected seconds at forward ``rate`` (default: the development machine's)."""
        rates = measured_rates()
        rate = rate or rates["forward_tiles_per_s"]
        return sum(stage.seconds(rates["stages"], rate) for stage in self.stages)

    def lines(self) -> list[str]:
        """The plan as printed before the run starts."""
        rates = measured_rates()
        rate, costs = rates["forward_tiles_per_s"], rates["stages"]
        fetched = [f"{n} ({size_text(s)})" for n, s in self.downloads if s]
        at_hand = [n for n, s in self.downloads if not s]
        out = [f"{self.experiment}: will download " + (", ".join(fetched) or "nothing")
               + (f"; found locally: {', '.join(at_hand)}" if at_hand else "")]
        if self.cohort is not None:
            out += [f"  slides: {line}" for line in self.cohort.summary().splitlines()]
        out.append(f"  disk needed: about {size_text(self.disk_bytes)} (downloads, unpacked "
                   "zips and both extractors' embeddings)")
        out.append(f"  expected time on {rates['machine']}: {duration_text(self.seconds())} "
                   f"(rates measured {rates['date']} by {rates['by']}; {rates['load']})")
        out += [f"    {s.name}: {duration_text(s.seconds(costs, rate))} ({s.how(costs, rate)})"
                for s in self.stages]
        gpu = gpu_rate()
        out.append("  expected time on one GPU: " + (
            f"{duration_text(self.seconds(gpu))} (at FEATX_GPU_TILES_PER_S={gpu:g}, the other "
            "costs as measured here)" if gpu is not None else
            "unknown: no GPU rate measured yet (set FEATX_GPU_TILES_PER_S from "
            "benchmarks/bench_extract.py on your GPU)"))
        return out + [f"  note: {n}" for n in self.notes]


def gpu_rate() -> float | None:
    """A measured GPU rate from ``FEATX_GPU_TILES_PER_S``, else None (none recorded)."""
    value = os.environ.get("FEATX_GPU_TILES_PER_S")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def size_text(n: float) -> str:
    """Bytes in the largest unit that keeps a number above 1 (``179.1 GB``)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def primary_tumour_slides(manifest: str | Path) -> tuple[pd.DataFrame, str]:
    """The primary-tumour (01) rows of a slide manifest, with a ``patient`` column, and why.

    Slide file names are TCGA slide barcodes: sample type and patient come from them.
    """
    from featx.barcodes import tcga_patient, tcga_sample_type
    from featx.downloads.manifests import read_manifest

    table = read_manifest(manifest)
    kept = table[[tcga_sample_type(n) == "01" for n in table["filename"]]].reset_index(drop=True)
    kept["patient"] = [tcga_patient(n) or "" for n in kept["filename"]]
    why = (f"the primary-tumour (01) slides of the {len(table):,} rows of "
           f"{Path(manifest).name}: the targets are of primary tumours")
    return kept, why


def evaluation_folds(experiment: str, *, small: bool, n_repeats: int | None,
                     n_splits: int) -> tuple[int, int]:
    """Repetitions and folds of an experiment: 50 x 5 by default; ``--small`` 3 repetitions,
    and 3 folds for crc-tissue's few tiles."""
    small_tissue = small and experiment == "crc-tissue"
    return n_repeats or (3 if small else 50), 3 if small_tissue else n_splits


def _finetune_stage(options: Mapping[str, Any], tiles: int) -> Stage:
    """Step 1 (Xception frozen) one forward pass per tile, step 2 (Xception trained) three."""
    steps = options.get("steps_per_epoch")
    per_epoch = steps * options["batch_size"] if steps else tiles
    passes = per_epoch * (options["epochs_step1"] + 3 * options["epochs_step2"])
    return Stage("finetune", "finetune", passes, 0.0,
                 f"{per_epoch:,} tiles x ({options['epochs_step1']} + 3 x "
                 f"{options['epochs_step2']}) passes")


def _evaluation(kind: str, *, targets: int, rows: int, features: int, n_repeats: int,
                n_splits: int) -> Stage:
    fits = targets * n_repeats * n_splits * 2
    return Stage(f"evaluate-{kind}", f"evaluate-{kind}", 0.0, float(fits) * rows * features,
                 f"{n_repeats} x {n_splits}-fold x {targets:,} targets x 2 extractors = "
                 f"{fits:,} fits of {rows:,} x {features:,}")


def _tile_store(tiles: int) -> float:
    from featx.embed.plan import store_bytes

    per_tile, per_file = store_bytes(XCEPTION_FEATURES)
    return 2 * (tiles * per_tile + math.ceil(tiles / CHUNK_TILES) * per_file)


def plan_for(experiment: str, *, small: bool, data_dir: Path | None = None, tile_mpp: float = 0.25,
             have_ftx: bool = False, local: frozenset[str] = frozenset(),
             n_repeats: int | None = None, n_splits: int = 5,
             slides_manifest: str | Path | None = None) -> Plan:
    """The plan of one experiment, with the settings :func:`featx.reproduce.reproduce` runs.

    Parameters
    ----------
    experiment : {"crc-tissue", "luad-expression", "luad-mutation"}
    small : bool
        ``--small``: the data folder only, nothing downloaded.
    data_dir : path, optional
        The public data folder (``--small`` reads its tile folders and slide manifest).
    tile_mpp : float
        Resolution of the slide tiles (LUAD).
    have_ftx : bool
        A fine-tuned FTX-2048 is given, so no fine-tuning.
    local : frozenset of str
        File names found locally (not downloaded).
    n_repeats, n_splits : int
        Repeated K-fold of the evaluation (default 50, ``--small`` 3; crc-tissue
        ``--small`` uses 3 folds).
    slides_manifest : path, optional
        LUAD: the slides (default the bundled ``tcga_luad_slides``); primary tumours are kept.
    """
    from featx.downloads.manifests import bundled_manifest, read_manifest

    one_of("experiment", experiment, EXPERIMENTS)
    kind = experiment.split("-")[1]
    n_repeats, n_splits = evaluation_folds(experiment, small=small, n_repeats=n_repeats,
                                           n_splits=n_splits)
    tiles_zip = read_manifest(bundled_manifest("nct_crc_he")).set_index("filename")

    def wanted(name: str, size: int) -> tuple[str, int]:
        # A local copy, or the folder a zip unpacks to, is not downloaded.
        return (name, 0 if name in local or name.removesuffix(".zip") in local else int(size))

    def zip_tiles(name: str) -> int:
        return int(tiles_zip.loc[name, "n_tiles"])

    weights = read_manifest(bundled_manifest("xception_weights")).set_index("filename")
    keras3 = "xception_imagenet_notop.weights.h5"  # the data folder's copy, used when present
    keras = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    downloads = [] if small else [
        (keras3, 0) if keras3 in local else wanted(keras, weights.loc[keras, "size"])]
    stages = [Stage("start", "start")] + ([Stage(f"targets-{kind}", f"targets-{kind}")]
                                          if kind != "tissue" else [])
    notes = ["--small: the data folder only; scores are a check of the path, not the paper's"
             ] if small else []
    if not have_ftx and (kind == "tissue" or not small):  # small LUAD embeds nothing
        if small:
            stages.append(_finetune_stage(FINETUNE_SMALL, 0))
        else:
            downloads.append(wanted("NCT-CRC-HE-100K.zip", tiles_zip.loc["NCT-CRC-HE-100K.zip",
                                                                          "size"]))
            stages.append(_finetune_stage(FINETUNE, zip_tiles("NCT-CRC-HE-100K.zip")))
    cohort = None
    if kind == "tissue":
        if small:
            folder = Path(data_dir or ".") / SMALL_EVAL_TILES
            classes = sum(p.is_dir() for p in folder.glob("*"))
            tiles = classes * SMALL_EVAL_PER_CLASS
            notes.append("the data folder has no NCT-CRC-HE: FTX-2048 is fine-tuned (2 steps, 1 "
                         "batch each) on the 24 Kather 2016 tiles and LC25000 lung tiles are "
                         "classified")
        else:
            downloads.append(wanted("CRC-VAL-HE-7K.zip", tiles_zip.loc["CRC-VAL-HE-7K.zip", "size"]))
            tiles = zip_tiles("CRC-VAL-HE-7K.zip")
        stages += [Stage(f"embed-{name}", "embed", tiles, 0.0, f"{tiles:,} tiles")
                   for name in ("FTX-2048", "IMGNET-2048")]
        store = _tile_store(tiles)
        rows, features, targets = tiles, XCEPTION_FEATURES, 1
    else:
        from featx.targets import read_gene_list

        targets = len(read_gene_list(GENE_LISTS[kind])[0])
        if small:
            from featx.reproduce.standins import standin_width

            slides, _ = primary_tumour_slides(Path(data_dir or ".") / SLIDE_MANIFEST)
            rows, features, store = slides["patient"].nunique(), standin_width(data_dir), 0.0
            notes.append("no TCGA slides in the data folder: labelled stand-in embeddings "
                         "(STANDIN-*) keyed to the slide manifest's patients")
        else:
            cohort, extract, rows = _slide_stages(slides_manifest, tile_mpp, downloads, wanted)
            stages += extract
            features, store = XCEPTION_FEATURES, 2 * cohort.store_bytes
            notes.append("targets: " + (
                "RNA-seq (GDC STAR counts of TCGA-LUAD, size known after the GDC query; or a "
                "Firehose matrix via --local-dir)" if kind == "expression" else
                "the MAF (via --local-dir, or the GDC masked somatic MAFs)"))
    stages.append(_evaluation(kind, targets=targets, rows=rows, features=features,
                              n_repeats=n_repeats, n_splits=n_splits))
    stages.append(Stage("report", f"report-{kind}"))
    return Plan(experiment, downloads, stages, store, cohort, notes)


def _slide_stages(manifest: str | Path | None, tile_mpp: float, downloads: list,
                  wanted: Any) -> tuple[CohortPlan, list[Stage], int]:
    """The LUAD slides through :func:`featx.embed.plan.plan_cohort`: cohort, stages, patients."""
    from featx.downloads.manifests import bundled_manifest
    from featx.embed.plan import plan_cohort
    from featx.wsi.tiling import TileSpec

    path = manifest or bundled_manifest("tcga_luad_slides")
    slides, why = primary_tumour_slides(path)
    cohort = plan_cohort(slides, spec=TileSpec(tile_px=224, tile_mpp=tile_mpp, min_tissue=0.8),
                         n_features=XCEPTION_FEATURES, cohort=why)
    downloads.append(wanted(f"{len(slides):,} TCGA-LUAD slides",
                            int(pd.to_numeric(slides["size"], errors="coerce").fillna(0).sum())))
    stages = [Stage(f"extract-{name}", "embed", cohort.n_tiles, 0.0, f"{cohort.n_tiles:,} tiles")
              for name in ("FTX-2048", "IMGNET-2048")]
    return cohort, stages, slides["patient"].nunique()


def stage_costs(runs: Sequence[tuple[Plan, Mapping[str, float], float]],
                rate: float) -> dict[str, dict[str, float]]:
    """The stage costs of timed runs, for :func:`featx.embed.plan.measured_rates`.

    Parameters
    ----------
    runs : sequence of (Plan, dict, float)
        Each run's plan, its stages' seconds (``_stages.json``) and its wall seconds.
    rate : float
        The forward rate measured beside them, tiles/s.

    Returns
    -------
    dict
        Cost key -> ``{"fixed_s": s}`` or ``{"per_unit_s": s}``: what is left of a stage's
        time after its forward passes, the median over the stages sharing the key; ``start``
        is the wall time outside every stage.
    """
    samples: dict[str, list[float]] = defaultdict(list)
    per_unit: set[str] = set()
    for plan, seconds, wall in runs:
        samples["start"].append(wall - sum(seconds.values()))
        for stage in plan.stages:
            if stage.name in seconds:
                left = seconds[stage.name] - stage.model_tiles / rate
                samples[stage.cost].append(left / stage.units if stage.units else left)
                per_unit |= {stage.cost} if stage.units else set()
    return {key: {("per_unit_s" if key in per_unit else "fixed_s"):
                  max(0.0, float(statistics.median(values)))}
            for key, values in sorted(samples.items())}
