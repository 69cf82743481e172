"""What a reproduction will download, the disk it needs and the time it expects.

Times come from measured rates (:data:`RATES`): the whole slide -> tiles -> Macenko ->
IMGNET-2048 path ran at 9.6 tiles/s on the two-core development machine
(``benchmarks/bench_extract.py``, its docstring records the run). No GPU run has been
recorded yet, so the GPU time is printed as unknown rather than guessed; put a measured
rate in ``FEATX_GPU_TILES_PER_S`` (tiles/s of ``bench_extract.py`` on your GPU) to get one.
Training steps are counted as three forward passes (forward + backward), a stated
estimate, not a measurement. Slide tile counts are estimated from an assumed tissue area
(:data:`TISSUE_CM2_PER_SLIDE`), since the slides are not on disk before they download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from featx._validate import one_of

EXPERIMENTS = ("crc-tissue", "luad-expression", "luad-mutation")
#: Measured rates of the whole extraction path, tiles of 224 px per second.
RATES = {"cpu": 9.6, "cpu_source": "benchmarks/bench_extract.py, slide->tiles->Macenko->"
         "IMGNET-2048 overlapped, 2-core development machine"}
TRAIN_COST = 3.0
#: Assumed tissue per TCGA slide for the tile estimate (about 1 cm2 of tissue).
TISSUE_CM2_PER_SLIDE = 1.0
EMBEDDING_BYTES = 2048 * 4
NCT_TILES, VAL_TILES = 100_000, 7_180
NCT_BYTES, VAL_BYTES = 11_690_284_003, 800_276_929
SLIDE_BYTES, SLIDES, SLIDE_PATIENTS = 179_129_708_509, 812, 502  # primary-tumour rows of tcga_luad_slides
WEIGHTS_BYTES = 83_683_744


def gpu_rate() -> float | None:
    """A measured GPU rate from ``FEATX_GPU_TILES_PER_S``, else None (none recorded)."""
    value = os.environ.get("FEATX_GPU_TILES_PER_S")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def tiles_per_slide(tile_px: int, tile_mpp: float) -> int:
    """Tiles on :data:`TISSUE_CM2_PER_SLIDE` of tissue at this tile size and resolution."""
    side_um = tile_px * tile_mpp
    return int(TISSUE_CM2_PER_SLIDE * 1e8 / side_um**2)


@dataclass(frozen=True)
class Plan:
    """A reproduction's cost before it starts.

    Attributes
    ----------
    experiment : str
    downloads : list of (str, int)
        What is downloaded and its size in bytes (0: found locally or in the data folder).
    forward_tiles, train_tiles : int
        Tiles through the model for features, and for fine-tuning.
    store_bytes : int
        Embeddings written.
    notes : list of str
    """

    experiment: str
    downloads: list[tuple[str, int]]
    forward_tiles: int
    train_tiles: int
    store_bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def disk_bytes(self) -> int:
        """Downloads, their unpacked copy (tile zips), and the embeddings."""
        unpacked = sum(size for name, size in self.downloads if name.endswith(".zip"))
        return sum(size for _, size in self.downloads) + unpacked + self.store_bytes

    def seconds(self, rate: float | None) -> float | None:
        """Model time at ``rate`` tiles/s (None when no rate is known)."""
        if rate is None:
            return None
        return (self.forward_tiles + TRAIN_COST * self.train_tiles) / rate

    def lines(self) -> list[str]:
        """The plan as printed before the run starts."""
        fetched = [f"{n} ({_size(s)})" for n, s in self.downloads if s]
        at_hand = [n for n, s in self.downloads if not s]
        out = [f"{self.experiment}: will download " + (", ".join(fetched) or "nothing")
               + (f"; found locally: {', '.join(at_hand)}" if at_hand else "")]
        out.append(f"  disk needed: about {_size(self.disk_bytes)}; model passes: "
                   f"{self.forward_tiles:,} tiles for features, {self.train_tiles:,} for training")
        cpu, gpu = self.seconds(RATES["cpu"]), self.seconds(gpu_rate())
        out.append(f"  expected time on this CPU: {_duration(cpu)} (at {RATES['cpu']} tiles/s, "
                   f"measured: {RATES['cpu_source']})")
        out.append("  expected time on one GPU: " + (
            f"{_duration(gpu)} (at FEATX_GPU_TILES_PER_S={gpu_rate()})" if gpu is not None else
            "unknown: no GPU rate measured yet (set FEATX_GPU_TILES_PER_S from "
            "benchmarks/bench_extract.py on your GPU)"))
        return out + [f"  note: {n}" for n in self.notes]


def _size(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def plan_for(experiment: str, *, small: bool, tile_px: int = 224, tile_mpp: float = 0.25,
             have_ftx: bool = False, local: frozenset[str] = frozenset(),
             n_small: int = 0, slides: tuple[int, int] | None = None) -> Plan:
    """The plan of one experiment.

    Parameters
    ----------
    experiment : {"crc-tissue", "luad-expression", "luad-mutation"}
    small : bool
        ``--small``: the data folder only, nothing downloaded.
    tile_px, tile_mpp : int, float
        The slide tiles (LUAD).
    have_ftx : bool
        A fine-tuned FTX-2048 is given, so no fine-tuning (LUAD).
    local : frozenset of str
        File names found locally (not downloaded).
    n_small : int
        Tiles ``--small`` embeds (crc-tissue).
    slides : (int, int), optional
        LUAD: primary-tumour slides and their bytes (default: the bundled manifest's).
    """
    one_of("experiment", experiment, EXPERIMENTS)
    if small:
        notes = ["--small: the data folder only; scores are a check of the path, not the paper's"]
        if experiment == "crc-tissue":
            notes.append("the data folder has no NCT-CRC-HE: FTX-2048 is fine-tuned (2 steps, 1 "
                         "batch each) on the 24 Kather 2016 tiles and LC25000 lung tiles are "
                         "classified")
        else:
            notes.append("no TCGA slides in the data folder: labelled stand-in embeddings "
                         "(STANDIN-*) keyed to the slide manifest's patients")
        train = 2 * 8 if experiment == "crc-tissue" else 0  # one batch of 8 per step
        return Plan(experiment, [], 2 * n_small, train, 2 * n_small * EMBEDDING_BYTES, notes)

    def wanted(name: str, size: int) -> tuple[str, int]:
        # A local copy, or the folder a zip unpacks to, is not downloaded.
        return (name, 0 if name in local or name.removesuffix(".zip") in local else size)

    keras3 = "xception_imagenet_notop.weights.h5"  # the data folder's copy, used when present
    downloads = [(keras3, 0) if keras3 in local else
                 wanted("xception_weights_tf_dim_ordering_tf_kernels_notop.h5", WEIGHTS_BYTES)]
    train = 0 if have_ftx else NCT_TILES * 20  # 10 + 10 epochs
    if train:
        downloads.append(wanted("NCT-CRC-HE-100K.zip", NCT_BYTES))
    if experiment == "crc-tissue":
        downloads.append(wanted("CRC-VAL-HE-7K.zip", VAL_BYTES))
        return Plan(experiment, downloads, 2 * VAL_TILES, train, 2 * VAL_TILES * EMBEDDING_BYTES)
    n_slides, slide_bytes = slides if slides is not None else (SLIDES, SLIDE_BYTES)
    tiles = n_slides * tiles_per_slide(tile_px, tile_mpp)
    downloads.append(wanted(f"{n_slides} TCGA-LUAD primary-tumour slides", slide_bytes))
    target = ("RNA-seq (GDC STAR counts of TCGA-LUAD, size known after the GDC query; or a "
              "Firehose matrix via --local-dir)" if experiment == "luad-expression" else
              "the MAF (via --local-dir, or the GDC masked somatic MAFs)")
    notes = [f"targets: {target}",
             f"tiles estimated at {TISSUE_CM2_PER_SLIDE} cm2 of tissue per slide: "
             f"{tiles_per_slide(tile_px, tile_mpp):,} tiles of {tile_px} px at {tile_mpp} mpp"]
    return Plan(experiment, downloads, 2 * tiles, train, 2 * tiles * EMBEDDING_BYTES, notes)
