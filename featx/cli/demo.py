"""The built-in demo behind README's first command: the whole pipeline on small data.

slides (OpenSlide's CMU-1-Small-Region plus generated slides with known tumour)
-> tissue -> tiles -> Macenko -> IMGNET-2048 and a small FTX-2048 fine-tuned on
real tiles -> Parquet store -> cross-validated tissue classification, FTX vs
IMGNET on identical folds with paired tests -> tile classifier -> heatmaps and
slide scores -> one HTML report.

It uses the public data folder (``$FEATX_DATA_DIR`` or ``../shared/data``) when
present: CMU-1-Small-Region, the ImageNet Xception weights, Kather tiles to
fine-tune on, LC25000 tiles to classify, a stain reference image. Without it,
CMU-1 and the weights are downloaded with their checksums where there is
internet, fine-tuning and classification use tiles cut from the generated
slides, and without any weights the network runs with seeded random weights,
which the report says plainly. Every step is resumable: a rerun reuses the
store and the fine-tuned model.

(Over 450 lines because it is the one script of the whole pipeline, stage after stage;
splitting it would scatter one story that README's first command tells.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from featx import __version__
from featx._io import write_json
from featx.cli._app import app, output_dir
from featx.data_folder import data_dir, data_file
from featx.errors import DataNotFoundError, FeatxError
from featx.wsi.synthetic import Region, SyntheticSlide, render_region, write_synthetic_slide
from featx.wsi.tiling import TILE_TABLE_COLUMNS, TileSpec

SPEC = TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.8)
SLIDE_PX = (2240, 1792)  # 10 x 8 tiles of 112 microns at 0.5 mpp


@dataclass(frozen=True)
class DemoSize:
    """How much the demo does; :data:`FULL` for README's command, :data:`QUICK` for tests."""

    n_slides: int = 8
    cv_repeats: int = 5
    tiles_per_class: int = 40
    finetune_epochs: tuple[int, int] = (3, 2)
    #: Immune genes of the real expression table evaluated (the table keeps all of them).
    n_genes: int = 24


FULL = DemoSize()
QUICK = DemoSize(n_slides=4, cv_repeats=2, tiles_per_class=12, finetune_epochs=(1, 1),
                 n_genes=8)


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, and what it measured."""

    out_dir: Path
    report: Path
    slides: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- inputs


def generated_slides(folder: Path, n_slides: int, *, seed: int = 0) -> dict[str, SyntheticSlide]:
    """Half the slides with a tumour focus among normal tissue, half normal only."""
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
        slides[slide_id] = write_synthetic_slide(folder / f"{slide_id}.svs", width_px=width,
                                                 height_px=height, slide_mpp=0.5, regions=regions,
                                                 seed=seed + i)
    return slides


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


# --------------------------------------------------------------------------- steps


def finetune(out: Path, tiles: Path, weights: str, normalize: Callable[[np.ndarray], np.ndarray],
             epochs: tuple[int, int]) -> Path:
    """A small FTX-2048 (the paper's recipe, few epochs) on real or slide-cut tiles."""
    from featx.extractors import XceptionFineTuner

    tuner = XceptionFineTuner(out_dir=out, base_weights=weights,
                              input_px=SPEC.tile_px, epochs_step1=epochs[0],
                              epochs_step2=epochs[1], batch_size=16, val_fraction=0.25,
                              normalizer=normalize, step1_cached_features=True, seed=0)
    return Path(tuner.fit(tiles).model_path_)


def extract(manifest: pd.DataFrame, store: Path, factory: Any, normalizer: Any,
            progress: bool) -> pd.DataFrame:
    """Every slide into the store (in this process; skips what is already done)."""
    from featx.embed import ClusterSettings, ExtractionSettings, run_batch

    settings = ExtractionSettings(factory, spec=SPEC, normalizer=normalizer, batch_size=32)
    return run_batch(manifest, store, settings,
                     cluster=ClusterSettings(workers=0, progress=progress))


def tissue_features(extractors: dict[str, Any], folder: Path, per_class: int,
                    normalize: Callable[[np.ndarray], np.ndarray]) -> tuple[dict, pd.Series]:
    """Embeddings of (a seeded sample of) a class-per-folder tile set, and the labels."""
    from featx.extractors.ftx import load_tile, read_tile_folder

    data = read_tile_folder(folder, max_per_class=per_class, seed=0)
    ids = [Path(p).name for p in data.paths]
    labels = pd.Series([data.classes[i] for i in data.labels], index=ids, name="label")
    features = {}
    for name, extractor in extractors.items():
        rows = []
        for start in range(0, len(ids), 32):
            batch = np.stack([load_tile(p, SPEC.tile_px) for p in data.paths[start:start + 32]])
            rows.append(extractor(normalize(batch)))
        features[name] = pd.DataFrame(np.concatenate(rows), index=ids)
    return features, labels


def compare_tissue(features: dict, labels: pd.Series, results: Path, repeats: int,
                   provenance: dict[str, Any]) -> pd.DataFrame:
    """Repeated 5-fold CV of a linear SVC on identical folds, and the paired tests."""
    from featx.evaluation import run_evaluation

    done = run_evaluation("tissue", features, labels.to_frame(), results, provenance=provenance,
                          n_splits=5, n_repeats=repeats, seed=0)
    return done.comparison


def slide_scores(store: Path, extractor: str, slides: dict[str, SyntheticSlide],
                 out: Path) -> pd.DataFrame:
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
    return score_slides(tiles, out, labels=truth, k=8, cv=min(4, len(slides) // 2)).scores


def luad_targets(out: Path, size: DemoSize, notes: list[str]) -> str | None:
    """The real TCGA-LUAD target tables, and expression/mutation runs on labelled stand-ins.

    Builds the expression (immune genes, RNA-seq matrix) and mutation (MAF) tables as
    ``featx targets`` does, keeps the patients with a primary-tumour slide in the data
    folder's GDC manifest, and evaluates them with stand-in embeddings (the data folder
    has no TCGA slides): CIBERSORT fractions against seeded noise. None without the data.
    """
    from featx.evaluation import run_evaluation
    from featx.reproduce.standins import LABEL, standin_embeddings
    from featx.targets import (
        expression_targets,
        mutation_targets,
        read_gene_list,
        read_maf,
        read_rsem_matrix,
    )

    root = data_dir()
    matrix = data_file("tables", "openomics_luad", "LUAD__geneExp.txt.gz")
    maf = data_file("tables", "selectsim_luad_maf", "luad_maf.tsv.gz")
    slides = data_file("tables", "deeppath_luad", "LUAD_slides_from_manifest_DERIVED.tsv")
    if root is None or matrix is None or maf is None or slides is None:
        notes.append("No TCGA-LUAD tables in the data folder: expression and mutation skipped.")
        return None
    manifest = pd.read_csv(slides, sep="\t", dtype=str)
    with_slides = set(manifest.loc[manifest["sample_type_code"] == "01", "patient"])
    tables = {"expression": expression_targets(read_rsem_matrix(matrix),
                                               genes=read_gene_list("immune")[0],
                                               sources=[matrix]),
              "mutation": mutation_targets(read_maf(maf), sources=[maf],
                                           genes=read_gene_list("luad_coudray2018")[0])}
    lines = []
    for kind, table in tables.items():
        table.save(out / "targets" / f"{kind}.tsv")
        frame = table.frame.loc[table.frame.index.isin(with_slides)]
        if kind == "expression":
            frame = frame.iloc[:, :size.n_genes]
        features = standin_embeddings(root, list(frame.index))
        options: dict[str, Any] = {"transform": "none"} if kind == "expression" else {}
        done = run_evaluation(kind, features, frame, out / "results", n_splits=5,
                              n_repeats=size.cv_repeats, seed=0, provenance={
                                  "embeddings": LABEL, "targets": str(out / "targets")}, **options)
        better = int((done.comparison["verdict"] == "STANDIN-IMMUNE").sum())  # BH q < 0.05
        lines.append(f"{kind} {frame.shape[0]} patients x {frame.shape[1]} genes "
                     f"(STANDIN-IMMUNE significantly better for {better})")
    notes.append("Expression and mutation: real TCGA-LUAD target tables (featx targets) of the "
                 "patients with a slide in the GDC manifest, with " + LABEL + ".")
    return "; ".join(lines)


# --------------------------------------------------------------------------- demo


def run_demo(out_dir: str | Path = "reports/demo", *, size: DemoSize = FULL,
             progress: bool = True, log: Callable[[str], None] = print) -> DemoResult:
    """Run the whole pipeline on built-in data and write the report.

    Parameters
    ----------
    out_dir : str or Path, default "reports/demo"
        Output folder (created); the report is ``<out_dir>/report/report.html``.
    size : DemoSize
        :data:`FULL` (README's demo) or :data:`QUICK` (tests).
    progress : bool
        Show progress bars.
    log : callable
        Receives one line per finished stage.
    """
    from featx.extractors import ExtractorFactory, get_extractor
    from featx.report import build_report, write_report
    from featx.stain import MacenkoNormalizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out, out / "report" / "report.html")
    clock = _Clock(result, log)

    slides = generated_slides(out / "slides", size.n_slides)
    result.slides = {sid: s.path for sid, s in slides.items()}
    cmu1 = cmu1_slide(out / "downloads", result.notes)
    if cmu1 is not None:
        result.slides["CMU-1-Small-Region"] = cmu1
    manifest = pd.DataFrame({"path": [str(p) for p in result.slides.values()]})
    clock.lap("slides", f"{len(result.slides)} slides ({len(slides)} generated"
                        f"{', CMU-1-Small-Region' if cmu1 else '; CMU-1-Small-Region missing'})")
    clock.notes()

    target, target_name = stain_target()
    per_slide = MacenkoNormalizer(mode="per_slide").fit(target)
    per_tile = MacenkoNormalizer(mode="per_tile").fit(target)
    per_slide.save(out / "stain_fit.json")
    weights = imagenet_weights(result.notes)
    clock.notes()
    store = out / "store"
    imgnet_factory = ExtractorFactory.of("IMGNET-2048", weights=weights)
    imgnet = get_extractor(imgnet_factory)  # built once, cached; "RANDOM-..." without weights
    clock.begin(f"embedding every slide with {imgnet.name}"
                + (" (seeded random weights: no ImageNet weights found)" if weights == "random"
                   else " (ImageNet weights)"))
    extract(manifest, store, imgnet_factory, per_slide, progress)
    clock.lap("imagenet", f"{imgnet.name} embeddings in the store")

    tiles_for_ftx = data_file("tiles", "kather2016_samples") or slide_tiles_folder(
        store, imgnet.name, slides, out / "finetune_tiles", 12)
    clock.begin(f"fine-tuning FTX-2048 on {tiles_for_ftx} ({sum(size.finetune_epochs)} "
                "epochs; the longest stage)")
    model = finetune(out / "ftx", tiles_for_ftx, weights, per_tile.transform,
                     size.finetune_epochs)
    clock.lap("finetune", f"FTX-2048 fine-tuned on {tiles_for_ftx}")
    extract(manifest, store, ExtractorFactory.of("FTX-2048", model_path=str(model)), per_slide,
            progress)
    clock.lap("ftx", "FTX-2048 embeddings in the store")

    lc25000 = data_file("tiles", "lc25000_lung_224px")
    classify_dir = lc25000 or slide_tiles_folder(store, imgnet.name, slides,
                                                 out / "classify_tiles", size.tiles_per_class)
    from featx.extractors import FineTunedXception

    extractors = {"FTX-2048": FineTunedXception(model), imgnet.name: imgnet}
    clock.begin(f"tissue classification: {size.cv_repeats} x 5-fold CV of both extractors")
    features, labels = tissue_features(extractors, classify_dir, size.tiles_per_class,
                                       per_tile.transform)
    provenance = {"extractors": {n: e.config for n, e in extractors.items()},
                  "stain": per_tile.config, "stain_target": target_name,
                  "tiles": str(classify_dir), "tile_spec": SPEC.config}
    comparison = compare_tissue(features, labels, out / "results", size.cv_repeats, provenance)
    row = comparison.iloc[0]
    clock.lap("compare", f"tissue accuracy {row['mean_a']:.3f} ({row['a']}) vs "
                         f"{row['mean_b']:.3f} ({row['b']}), corrected p={row['p_corrected']:.2g}")

    targets = luad_targets(out, size, result.notes)
    if targets is not None:
        clock.lap("targets", targets)

    scores = slide_scores(store, "FTX-2048", slides, out / "slidescores")
    clock.lap("slidescores", f"{len(scores)} slides scored")

    intro = _intro(cmu1 is not None, weights == "random", imgnet.name, target_name,
                   str(tiles_for_ftx), lc25000 is not None, len(labels))
    caveats = list(result.notes)
    if lc25000 is None:
        caveats.append("Tissue classification ran on tiles cut from the generated slides (the "
                       "data folder's LC25000 tiles were not found): a stand-in for real tissue.")
    report = build_report(
        f"featx demo: FTX-2048 vs {imgnet.name}", results=out / "results",
        slidescores=out / "slidescores", store=store, nearest_extractor="FTX-2048",
        slides=result.slides, intro=intro, caveats=caveats,
        provenance={"demo": {"size": size.__dict__, "seconds": result.seconds,
                             "featx_version": __version__, "slides": {k: str(v) for k, v in
                                                                      result.slides.items()}}},
    )
    write_report(report, out / "report")
    clock.lap("report", f"report at {result.report}")
    write_json(out / "demo.json", {"seconds": result.seconds, "notes": result.notes,
                                   "report": str(result.report)})
    return result


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


class _Clock:
    """Times the demo's stages and logs each as it ends."""

    def __init__(self, result: DemoResult, log: Callable[[str], None]) -> None:
        self.result, self.log = result, log
        self.start = self.last = time.perf_counter()
        self.logged = 0

    def begin(self, message: str) -> None:
        """Say what a stage over a few seconds is doing before it starts."""
        self.log(f"[{time.perf_counter() - self.start:6.1f} s] {message} ...")

    def notes(self) -> None:
        """Log the notes not logged yet (missing data, random weights) as they arise."""
        for note in self.result.notes[self.logged:]:
            self.log(f"note: {note}")
        self.logged = len(self.result.notes)

    def lap(self, stage: str, message: str) -> None:
        now = time.perf_counter()
        self.result.seconds[stage] = round(now - self.last, 1)
        self.log(f"[{now - self.start:6.1f} s] {stage}: {message}")
        self.last = now


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("reports/demo"),
    quick: Annotated[bool, typer.Option(
        "--quick", help="Fewer slides, repetitions and epochs (one to three minutes, for "
        "tests).")
    ] = False,
) -> None:
    """Run the whole pipeline on built-in data and print where the report is.

    Generated slides with known tumour plus OpenSlide's CMU-1-Small-Region -> tissue ->
    tiles -> Macenko -> IMGNET-2048 and a small fine-tuned FTX-2048 -> Parquet store ->
    tissue classification on identical folds with paired tests -> slide scores -> an HTML
    report. Uses the public data folder (`$FEATX_DATA_DIR`) when present and downloads
    what it can otherwise; a rerun reuses what is done.
    """
    output_dir(out)
    result = run_demo(out, size=QUICK if quick else FULL, log=typer.echo)
    typer.echo(f"demo finished in {sum(result.seconds.values()):.0f} s; report: "
               f"{result.report.resolve()}\nnext: open the report in a browser; then try "
               "featx info SLIDE and featx tile SLIDE on your own slides")
