"""The built-in demo behind README's first command: the whole pipeline on small data.

slides (OpenSlide's CMU-1-Small-Region plus generated slides with known tumour)
-> tissue -> tiles -> Macenko -> IMGNET-2048 and a small FTX-2048 fine-tuned on
real tiles -> Parquet store -> cross-validated tissue classification, FTX vs
IMGNET on identical folds with paired tests -> the real LUAD target tables on
stand-in embeddings -> tile classifier -> heatmaps and slide scores -> one HTML report.

It uses the public data folder (``$FEATX_DATA_DIR`` or ``../shared/data``) when
present: CMU-1-Small-Region, the ImageNet Xception weights, Kather tiles to
fine-tune on, LC25000 tiles to classify, a stain reference image, the LUAD tables.
Without it, CMU-1 and the weights are downloaded with their checksums where there is
internet, fine-tuning and classification use tiles cut from the generated slides, and
without any weights the network runs with seeded random weights, which the terminal
and the report say plainly.

The demo is a short list of stages on the reproduction's machinery
(:class:`featx.reproduce.runs.Run`): each is recorded in ``out/_stages.json`` with the
seconds it took, so a rerun skips what is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from featx import __version__
from featx._io import write_json
from featx.data_folder import data_dir, data_file
from featx.errors import DataNotFoundError, FeatxError
from featx.reproduce.runs import Run
from featx.wsi.synthetic import Region, SyntheticSlide, render_region, write_synthetic_slide
from featx.wsi.tiling import TILE_TABLE_COLUMNS, TileSpec

SPEC = TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.8)
SLIDE_PX = (2240, 1792)  # 10 x 8 tiles of 112 microns at 0.5 mpp
#: The data folder's LUAD tables the target stages need.
LUAD_TABLES = (("tables", "openomics_luad", "LUAD__geneExp.txt.gz"),
               ("tables", "selectsim_luad_maf", "luad_maf.tsv.gz"),
               ("tables", "deeppath_luad", "LUAD_slides_from_manifest_DERIVED.tsv"))


@dataclass(frozen=True)
class DemoSize:
    """How much the demo does; :data:`FULL` for README's command, :data:`QUICK` for tests."""

    n_slides: int = 8
    cv_repeats: int = 5
    tiles_per_class: int = 40
    finetune_epochs: tuple[int, int] = (3, 2)
    #: Targets per LUAD table evaluated (the tables keep all of them).
    n_genes: int = 24


FULL = DemoSize()
QUICK = DemoSize(n_slides=4, cv_repeats=2, tiles_per_class=12, finetune_epochs=(1, 1),
                 n_genes=10)


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, what each stage took, and what it could not use."""

    out_dir: Path
    report: Path
    slides: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Notes(list):
    """The demo's notes (missing data, random weights), each printed once as it arises."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__()
        self.echo = echo

    def append(self, note: str) -> None:
        """Keep ``note`` and print it."""
        super().append(note)
        self.echo(f"note: {note}")


# --------------------------------------------------------------------------- inputs


def slide_layouts(folder: Path, n_slides: int, *, seed: int = 0) -> dict[str, SyntheticSlide]:
    """Half the slides with a tumour focus among normal tissue, half normal only (not written)."""
    rng = np.random.default_rng(seed)
    width, height = SLIDE_PX
    slides = {}
    for i in range(n_slides):
        regions = [Region(int(rng.uniform(80, 300)), int(rng.uniform(80, 250)),
                          int(rng.uniform(1500, 1800)), int(rng.uniform(1200, 1400)))]
        if i % 2 == 0:  # a tumour focus inside the normal tissue
            x, y = regions[0].x + 300, regions[0].y + 250
            regions.append(Region(int(x + rng.uniform(0, 400)), int(y + rng.uniform(0, 300)),
                                  int(rng.uniform(600, 900)), int(rng.uniform(500, 700)),
                                  "ellipse", "tumour"))
        slide_id = f"DEMO-{i + 1:02d}"
        slides[slide_id] = SyntheticSlide(folder / f"{slide_id}.svs", width, height, 0.5,
                                          tuple(regions), "aperio", seed + i)
    return slides


def write_slides(slides: dict[str, SyntheticSlide]) -> str:
    """Write the generated slides."""
    for s in slides.values():
        write_synthetic_slide(s.path, width_px=s.width_px, height_px=s.height_px,
                              slide_mpp=s.slide_mpp, regions=s.regions, seed=s.seed)
    return f"{len(slides)} generated slides in {next(iter(slides.values())).path.parent}"


def cmu1_slide(folder: Path, notes: list[str]) -> Path | None:
    """OpenSlide's CMU-1-Small-Region: the data folder's copy, else downloaded and verified."""
    from featx.downloads import bundled_manifest, fetch

    local = [root] if (root := data_dir()) is not None else []
    try:
        fetched = fetch(bundled_manifest("openslide_testdata.tsv"), folder, local_dirs=local,
                        retries=1, timeout_s=20)
        return Path(fetched["path"].iloc[0])
    except (FeatxError, OSError) as error:
        notes.append(f"CMU-1-Small-Region left out: no local copy and no download ({error}).")
        return None


def stain_target() -> tuple[np.ndarray, str]:
    """The stain reference image: tiatoolbox's target when the data folder has it."""
    from PIL import Image

    path = data_file("stain_ref", "tiatoolbox_target_image.png")
    if path is not None:
        return np.asarray(Image.open(path).convert("RGB")), str(path.name)
    region = SyntheticSlide(Path("target"), 1024, 1024, 0.5, (Region(0, 0, 1024, 1024, "rect"),))
    return render_region(region, 0, 0, 512, 512), "synthetic normal tissue"


def imagenet_weights(notes: list[str]) -> str:
    """The ImageNet weights file, or "random" (noted) when none can be had."""
    from featx.extractors import resolve_xception_weights

    try:
        return str(resolve_xception_weights())
    except DataNotFoundError as error:
        notes.append("No ImageNet Xception weights could be found or downloaded, so "
                     "'IMGNET-2048' ran with seeded random weights; the comparison below "
                     f"is then not the paper's. ({error})")
        return "random"


def slide_tiles_folder(store: Path, extractor: str, slides: dict[str, SyntheticSlide],
                       out: Path, per_class: int) -> Path:
    """Normal and tumour tiles cut from the generated slides, as a class-per-folder set."""
    from PIL import Image

    from featx.embed import read_store
    from featx.wsi import open_slide, read_tiles

    table = read_store(store, extractor=extractor, columns=list(TILE_TABLE_COLUMNS))
    labelled = _label_tiles(table, slides)
    for label, name in ((0, "normal"), (1, "tumour")):
        rows = labelled[labelled["label"] == label].head(per_class)
        (out / name).mkdir(parents=True, exist_ok=True)
        for slide_id, group in rows.groupby("slide_id"):
            with open_slide(slides[slide_id].path) as slide:
                for (_, row), tile in zip(group.iterrows(), read_tiles(slide, group)):
                    Image.fromarray(tile).save(out / name / f"{slide_id}_{row.x}_{row.y}.png")
    return out


def _label_tiles(table: pd.DataFrame, slides: dict[str, SyntheticSlide]) -> pd.DataFrame:
    """Tile labels (1 tumour, 0 normal, -1 unlabelled) from the generated slides' masks."""
    from featx.wsi import tile_labels_from_mask

    parts = []
    for slide_id, group in table[table["slide_id"].isin(slides)].groupby("slide_id"):
        labels = tile_labels_from_mask(group, slides[slide_id].label_mask(16), downsample=16)
        parts.append(group.assign(label=labels))
    return pd.concat(parts)


def slide_scores(store: Path, extractor: str, slides: dict[str, SyntheticSlide],
                 out: Path) -> str:
    """Tile tumour probabilities (classifier trained on other slides) -> slide scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from featx.embed import read_store
    from featx.slidescore import score_slides

    table = _label_tiles(read_store(store, extractor=extractor), slides).reset_index(drop=True)
    x = np.stack(table["embedding"].to_numpy()).astype(np.float32)
    prob = np.zeros(len(table))
    groups = table["slide_id"].to_numpy()
    # Each slide's tiles are scored by a classifier that never saw that slide.
    for train, test in GroupKFold(n_splits=min(4, len(slides))).split(x, groups=groups):
        labelled = train[table["label"].to_numpy()[train] >= 0]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        model.fit(x[labelled], table["label"].to_numpy()[labelled])
        prob[test] = model.predict_proba(x[test])[:, 1]
    truth = pd.Series({sid: int(any(r.label == "tumour" for r in s.regions))
                       for sid, s in slides.items()})
    tiles = table.drop(columns=["embedding"]).assign(prob=prob)
    scores = score_slides(tiles, out, labels=truth, k=8, cv=min(4, len(slides) // 2)).scores
    return f"{len(scores)} slides scored -> {out}"


def _intro(cmu1: bool, random_weights: bool, imgnet: str, target: str, ftx_tiles: str,
           lc25000: bool, n_tiles: int) -> list[str]:
    """What the demo actually used, said truthfully (offline runs use stand-ins)."""
    slides = ("generated slides with known tumour and OpenSlide's CMU-1-Small-Region slide"
              if cmu1 else "generated slides with known tumour (CMU-1-Small-Region was not "
              "available)")
    base = (f"{imgnet}, an Xception with seeded random weights (no ImageNet weights were "
            "available)" if random_weights else f"{imgnet} (ImageNet Xception weights)")
    return [
        f"The featx demo: {slides}, tiled at {SPEC.tile_px} px and {SPEC.tile_mpp} microns per "
        f"pixel, Macenko-normalised to {target}, embedded by {base} and by an FTX-2048 "
        f"fine-tuned for a few epochs on tiles from {ftx_tiles}. Numbers on such small data "
        "show that the pipeline works, not how good the extractors are.",
        f"Tissue classification uses {'LC25000 lung tiles' if lc25000 else 'tiles of the generated slides'}"
        f" ({n_tiles} tiles). Slide scores come from a tile classifier trained on other slides.",
    ]


# --------------------------------------------------------------------------- the demo


def run_demo(out_dir: str | Path = "reports/demo", *, size: DemoSize = FULL,
             echo: Callable[[str], None] = print) -> DemoResult:
    """Run the whole pipeline on built-in data and write the report, resumably.

    Parameters
    ----------
    out_dir : str or Path, default "reports/demo"
        Output folder (created); the report is ``<out_dir>/report/report.html``.
    size : DemoSize
        :data:`FULL` (README's demo) or :data:`QUICK` (tests).
    echo : callable
        Receives the stages' lines and the notes.
    """
    from featx.extractors import ExtractorFactory
    from featx.extractors.ftx import read_tile_folder
    from featx.stain import MacenkoNormalizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out, out / "report" / "report.html", notes=Notes(echo))
    run = Run(out, small=True, data_dir=data_dir(), n_repeats=size.cv_repeats, n_splits=5,
              echo=echo)

    layouts = slide_layouts(out / "slides", size.n_slides)
    run.log.run("slides", {"slides": list(layouts), "px": SLIDE_PX, "seed": 0},
                lambda: write_slides(layouts))
    result.slides = {sid: s.path for sid, s in layouts.items()}
    cmu1 = cmu1_slide(out / "downloads", result.notes)
    if cmu1 is not None:
        result.slides["CMU-1-Small-Region"] = cmu1
    manifest = pd.DataFrame({"path": [str(p) for p in result.slides.values()]})

    target, target_name = stain_target()
    per_slide = MacenkoNormalizer(mode="per_slide").fit(target)
    per_tile = MacenkoNormalizer(mode="per_tile").fit(target)
    per_slide.save(out / "stain_fit.json")
    weights = imagenet_weights(result.notes)
    imgnet_name = "RANDOM-XCEPTION-2048" if weights == "random" else "IMGNET-2048"
    imgnet = ExtractorFactory.of("IMGNET-2048", weights=weights)
    store = out / "store"
    run.extract(manifest, store, imgnet_name, imgnet, spec=SPEC, normalizer=per_slide,
                batch_size=32)

    ftx_tiles = data_file("tiles", "kather2016_samples") or slide_tiles_folder(
        store, imgnet_name, layouts, out / "finetune_tiles", 12)
    epochs = size.finetune_epochs
    ftx = run.finetune(ftx_tiles, weights, {
        "input_px": SPEC.tile_px, "epochs_step1": epochs[0], "epochs_step2": epochs[1],
        "batch_size": 16, "val_fraction": 0.25, "step1_cached_features": True},
        normalizer=per_tile.transform)
    ftx_factory = ExtractorFactory.of("FTX-2048", model_path=str(ftx.resolve()))
    run.extract(manifest, store, "FTX-2048", ftx_factory, spec=SPEC, normalizer=per_slide,
                batch_size=32)

    lc25000 = data_file("tiles", "lc25000_lung_224px")
    classify = lc25000 or slide_tiles_folder(store, imgnet_name, layouts,
                                             out / "classify_tiles", size.tiles_per_class)
    run.tissue(classify, {"FTX-2048": ftx_factory, imgnet_name: imgnet},
               max_per_class=size.tiles_per_class, normalizer=per_tile,
               provenance={"stain_target": target_name, "tile_spec": SPEC.config})

    luad = all(data_file(*parts) is not None for parts in LUAD_TABLES)
    if luad:
        _, patients = run.slide_patients(None)
        for kind in ("expression", "mutation"):
            run.standins(kind, patients, max_targets=size.n_genes)
        result.notes.append("Expression and mutation: real TCGA-LUAD target tables (featx "
                            "targets) of the patients with a slide in the GDC manifest, with "
                            "stand-in embeddings, not image features.")
    else:
        result.notes.append("No TCGA-LUAD tables in the data folder: expression and mutation "
                            "skipped.")

    run.log.run("slidescores", {"store": str(store), "slides": list(layouts)},
                lambda: slide_scores(store, "FTX-2048", layouts, out / "slidescores"))

    n_tiles = len(read_tile_folder(classify, max_per_class=size.tiles_per_class, seed=0).paths)
    caveats = list(result.notes)
    if lc25000 is None:
        caveats.append("Tissue classification ran on tiles cut from the generated slides (the "
                       "data folder's LC25000 tiles were not found): a stand-in for real tissue.")
    result.seconds = run.log.seconds
    run.report(
        f"featx demo: FTX-2048 vs {imgnet_name} on tissue"
        + ("; stand-in embeddings on LUAD expression and mutation" if luad else ""),
        slidescores=out / "slidescores", store=store,
        nearest_extractor="FTX-2048", slides=result.slides, caveats=caveats,
        intro=_intro(cmu1 is not None, weights == "random", imgnet_name, target_name,
                     str(ftx_tiles), lc25000 is not None, n_tiles),
        provenance={"demo": {"size": asdict(size), "seconds": result.seconds,
                             "featx_version": __version__,
                             "slides": {k: str(v) for k, v in result.slides.items()}}})
    result.seconds = run.log.seconds
    write_json(out / "demo.json", {"seconds": result.seconds, "notes": list(result.notes),
                                   "report": str(result.report)})
    return result
