"""The ``featx`` command-line tool.

Thin by design: each command parses options, imports the module that does the
work (lazily, so ``featx --help`` stays fast and TensorFlow loads only when a
model runs) and prints where its output went.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from featx import __version__
from featx.errors import FeatxError

# TensorFlow's C++ start-up chatter is noise on a terminal; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = typer.Typer(
    name="featx",
    help=(
        "Whole-slide images to Macenko-normalised tile embeddings, and the statistics "
        "to compare extractors.\n\n"
        "Start with `featx demo`, then `featx info SLIDE` and `featx tile SLIDE`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

MppOption = Annotated[
    float | None,
    typer.Option(
        "--mpp",
        help="Microns per pixel of the slide's level 0, for slides whose metadata lacks it "
        "(overrides the metadata).",

    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"featx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """featx command-line tool."""


def _macenko_from_image(target: Path) -> object:
    """A Macenko normaliser fitted to one target image (featx.stain), as a batch callable."""
    import numpy as np
    from PIL import Image

    try:
        from featx.stain import MacenkoNormalizer
    except ImportError as error:  # the stain module lands separately
        raise FeatxError(f"--macenko-target needs featx.stain ({error})") from error
    with Image.open(target) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return MacenkoNormalizer().fit(pixels).transform


@app.command()
def finetune(
    tiles: Annotated[Path, typer.Argument(
        help="Folder with one sub-folder of tiles (.tif/.png/.jpg) per class, the "
        "NCT-CRC-HE-100K layout: TILES/ADI/*.tif, TILES/BACK/*.tif, ...")],
    out_dir: Annotated[Path, typer.Argument(
        help="Where checkpoints, ftx2048.keras and ftx2048.card.json go. Running again with "
        "the same OUT_DIR resumes an interrupted run.")],
    weights: Annotated[Path | None, typer.Option(
        "--weights", help="ImageNet Xception weights file (default: $FEATX_XCEPTION_WEIGHTS, "
        "the featx data folder, then Keras's download cache).")] = None,
    input_px: Annotated[int, typer.Option(
        help="Tile side fed to Xception (224 as in the paper; 299 native; >= 71).")] = 224,
    epochs_step1: Annotated[int, typer.Option(
        help="Epochs of step 1: Xception frozen, head trained.")] = 10,
    epochs_step2: Annotated[int, typer.Option(
        help="Epochs of step 2: head frozen, Xception trained.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Batch size of both steps (paper: 128).")] = 128,
    lr_step1: Annotated[float, typer.Option(help="Adam learning rate of step 1.")] = 4e-4,
    lr_step2: Annotated[float, typer.Option(help="Adam learning rate of step 2.")] = 5e-5,
    steps_per_epoch: Annotated[int | None, typer.Option(
        help="Cap batches per epoch (quick trial runs).")] = None,
    val_fraction: Annotated[float, typer.Option(
        help="Stratified share of tiles held out for validation accuracy.")] = 0.1,
    augment: Annotated[bool, typer.Option(
        help="Rotations, flips, colour jitter and blur on training batches.")] = True,
    macenko_target: Annotated[Path | None, typer.Option(
        help="Macenko-normalise every tile to this target H&E image.")] = None,
    cached_step1: Annotated[bool, typer.Option(
        help="Train step 1 on backbone features computed once (fast; no augmentation in "
        "step 1).")] = False,
    max_per_class: Annotated[int | None, typer.Option(
        help="Use at most this many tiles per class.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, head and augmentations.")] = 0,
) -> None:
    """Fine-tune ImageNet Xception into FTX-2048 (two steps, as in the paper).

    Step 1 trains the head (Dense(2048)+ReLU, softmax) on the frozen Xception with Adam
    4e-4; step 2 trains Xception under the frozen head with Adam 5e-5. Then extract with
    the saved model: `FineTunedXception(OUT_DIR)`.
    """
    from featx.finetune import XceptionFineTuner

    normalizer = _macenko_from_image(macenko_target) if macenko_target is not None else None
    tuner = XceptionFineTuner(
        out_dir=out_dir, base_weights=weights, input_px=input_px, epochs_step1=epochs_step1,
        epochs_step2=epochs_step2, batch_size=batch_size, lr_step1=lr_step1, lr_step2=lr_step2,
        steps_per_epoch=steps_per_epoch, val_fraction=val_fraction, augment=augment,
        normalizer=normalizer, step1_cached_features=cached_step1, max_per_class=max_per_class,
        seed=seed, progress=True,
    ).fit(tiles)
    accuracy = ", ".join(f"{k} {v:.3f}" for k, v in tuner.card_["validation_accuracy"].items())
    typer.echo(f"model: {tuner.model_path_}\nvalidation accuracy: {accuracy}")


@app.command()
def info(
    slide: Annotated[Path, typer.Argument(help="Slide file (any format OpenSlide reads).")],
    mpp: MppOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a slide's size, pyramid levels, vendor and microns per pixel.

    Example: `featx info CMU-1-Small-Region.svs`
    """
    import json

    from featx.slide import open_slide

    with open_slide(slide, mpp=mpp) as opened:
        details = opened.info.to_dict()
    if as_json:
        typer.echo(json.dumps(details, indent=2))
        return
    for key, value in details.items():
        typer.echo(f"{key:>18}: {value}")


@app.command()
def tile(
    slides: Annotated[list[Path], typer.Argument(help="One or more slide files.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("tiles"),
    tile_px: Annotated[int, typer.Option(help="Tile side in pixels.", min=1)] = 224,
    target_mpp: Annotated[float, typer.Option(
        help="Microns per pixel of the tiles: 0.5 for NCT-CRC-like tiles, 0.25 for TCGA work.",
        )] = 0.5,
    overlap_px: Annotated[int, typer.Option(help="Overlap between neighbouring tiles.", min=0)] = 0,
    min_tissue: Annotated[float, typer.Option(
        help="Keep tiles with at least this tissue fraction.", min=0.0, max=1.0)] = 0.8,
    tissue_method: Annotated[str, typer.Option(
        help="Tissue threshold: `otsu` or `otsu-equal-weights` (both class weights 0.5).")] = "otsu",
    table_format: Annotated[str, typer.Option("--format", help="`parquet` or `csv`.")] = "parquet",
    mpp: MppOption = None,
) -> None:
    """Find tissue and lay a tile grid at a physical resolution.

    For each slide writes `<slide_id>.tiles.parquet` (one row per tile: grid position,
    level-0 x and y, level, read size, tissue fraction) and `<slide_id>.tiles.png`
    (thumbnail with tissue tinted and tiles outlined).

    Example: `featx tile slide.svs --tile-px 224 --target-mpp 0.5 -o tiles/`
    """
    from tqdm.auto import tqdm

    from featx.slide import open_slide
    from featx.tiling import TileSpec
    from featx.tiling_job import tile_slide

    spec = TileSpec(tile_px=tile_px, mpp=target_mpp, overlap_px=overlap_px, min_tissue=min_tissue)
    for path in tqdm(slides, unit="slide", disable=len(slides) < 2):
        with open_slide(path, mpp=mpp) as opened:
            done = tile_slide(opened, spec, out_dir=out, tissue_method=tissue_method,
                              table_format=table_format)
        typer.echo(f"{done.slide_id}: {done.n_tiles} tiles -> {done.table_path}, {done.figure_path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("reports/demo"),
    quick: Annotated[bool, typer.Option(
        "--quick", help="Fewer slides, repetitions and epochs (about a minute, for tests).")
    ] = False,
) -> None:
    """Run the whole pipeline on built-in data and print where the report is.

    Generated slides with known tumour plus OpenSlide's CMU-1-Small-Region -> tissue ->
    tiles -> Macenko -> IMGNET-2048 and a small fine-tuned FTX-2048 -> Parquet store ->
    tissue classification on identical folds with paired tests -> slide scores -> an HTML
    report. Uses the public data folder (`$FEATX_DATA_DIR`) when present and downloads
    what it can otherwise; a rerun reuses what is done.
    """
    from featx.demo import FULL, QUICK, run_demo

    result = run_demo(out, size=QUICK if quick else FULL, log=typer.echo)
    typer.echo(f"demo finished in {sum(result.seconds.values()):.0f} s; report: "
               f"{result.report.resolve()}")


@app.command()
def evaluate(
    embeddings: Annotated[list[str], typer.Argument(
        help="Embedding tables, one per extractor: Parquet files (named by file stem), "
        "`NAME=path`, a folder of Parquet files, or a featx store folder "
        "(`extractor=NAME` sub-folders).")],
    targets: Annotated[Path, typer.Option(
        "--targets", "-t", help="Target table (TSV, CSV or Parquet), one row per patient "
        "(expression, mutation) or tile (tissue); IDs in the first column or --target-id-column.")],
    experiment: Annotated[str, typer.Option(
        "--experiment", "-e", help="`tissue` (LinearSVC, accuracy), `expression` (SVR per "
        "target, Pearson r) or `mutation` (LASSO logistic per gene, ROC AUC).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("results"),
    columns: Annotated[str | None, typer.Option(
        help="Comma-separated target columns to use (default: all but the ID; tissue: `label`).")
    ] = None,
    n_splits: Annotated[int, typer.Option("--folds", help="Folds per repetition.", min=2)] = 5,
    n_repeats: Annotated[int, typer.Option("--repeats", help="Repetitions of the K-fold.", min=1)] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the folds (same for every extractor).", min=0)] = 0,
    id_mode: Annotated[str, typer.Option(
        help="`tcga`: match on the patient part of TCGA barcodes (first 12 characters); "
        "`exact`: match IDs as they are (tissue always uses exact).")] = "tcga",
    id_column: Annotated[str | None, typer.Option(
        help="ID column of the embedding tables (default: patient_id, patient, slide_id, "
        "sample, tile_id, file, else the index).")] = None,
    target_id_column: Annotated[str | None, typer.Option(
        help="ID column of the target table (default: its first column).")] = None,
    group_column: Annotated[str | None, typer.Option(
        help="Tissue only: column of the target table naming each tile's patient, so that "
        "a patient's tiles stay in one fold (StratifiedGroupKFold).")] = None,
    pool: Annotated[bool, typer.Option(
        "--pool/--no-pool", help="Average each patient's rows (tiles, slides) into one "
        "patient-mean embedding (expression and mutation only).")] = True,
    transform: Annotated[str, typer.Option(
        help="Expression targets: `log2p1` = log2(x + 1), `log1p` = ln(x + 1) or `none`.")
    ] = "log2p1",
    kernel: Annotated[str, typer.Option(help="Expression SVR kernel: `rbf` or `linear`.")] = "rbf",
    jobs: Annotated[int, typer.Option(
        help="Parallel workers: threads for expression, processes for tissue (results do "
        "not depend on it).", min=1)] = 1,
    table_format: Annotated[str, typer.Option("--format", help="`parquet` or `csv`.")] = "parquet",
) -> None:
    """Cross-validate every extractor on the same folds and write tidy score tables.

    Writes `<experiment>_scores.<format>` (experiment, extractor, target, repetition,
    fold, metric, value, n_train, n_test, n_splits; fold -1 = a whole repetition's
    out-of-fold score), for tissue also `tissue_confusion`, and with two or more
    extractors `<experiment>_comparison.csv`: per target, the first extractor against
    each other one (Nadeau-Bengio corrected t-test, plain t-test, Wilcoxon, with
    Benjamini-Hochberg q-values).

    Example: `featx evaluate FTX=ftx.parquet IMGNET=imgnet.parquet -t mutations.tsv
    -e mutation --folds 5 --repeats 50 -o results/`
    """
    import pandas as pd

    from featx._validate import one_of
    from featx.atomic import atomic_path
    from featx.datasets import (
        embedding_sources,
        mean_by_patient,
        read_embeddings,
        source_provenance,
    )
    from featx.extractors.weights import file_sha256
    from featx.models import EXPERIMENTS
    from featx.models import evaluate as run_experiment
    from featx.stats import compare_extractors

    one_of("--experiment", experiment, EXPERIMENTS)
    one_of("--format", table_format, ("parquet", "csv"))
    target_table = _read_table(targets, target_id_column)
    groups = None
    if group_column is not None:
        if experiment != "tissue" or group_column not in target_table.columns:
            raise FeatxError(f"--group-column {group_column!r}: needs --experiment tissue and a "
                             f"column of {targets} (columns: {list(target_table.columns)[:10]})")
        groups = target_table[group_column]
    if columns:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
    else:
        wanted = ["label"] if experiment == "tissue" else list(target_table.columns)
    missing = [c for c in wanted if c not in target_table.columns]
    if missing:
        raise FeatxError(f"--columns: {missing} not in {targets} (columns: "
                         f"{list(target_table.columns)[:10]})")
    target_table = target_table[wanted]
    features = {}
    sources = embedding_sources(embeddings)
    for name, path in sources.items():
        table = read_embeddings(path, id_column=id_column)
        if pool and experiment != "tissue":
            table = mean_by_patient(table, id_mode=id_mode)
        features[name] = table
        typer.echo(f"{name}: {table.shape[0]} rows x {table.shape[1]} features from {path}")
    options: dict[str, object] = {"n_splits": n_splits, "n_repeats": n_repeats, "seed": seed,
                                  "progress": True}
    if experiment != "tissue":
        options["id_mode"] = id_mode
    if experiment == "expression":
        options.update(transform=transform, kernel=kernel, n_jobs=jobs)
    if experiment == "tissue":
        options.update(n_jobs=jobs, groups=groups)
    result = run_experiment(experiment, features, target_table, **options)
    provenance = {
        "extractors": {name: source_provenance(path) for name, path in sources.items()},
        "targets": {"path": str(targets), "sha256": file_sha256(targets), "columns": wanted},
        "options": {k: v for k, v in options.items() if k not in ("progress", "groups")},
    }
    written = result.save(out, fmt=table_format, provenance=provenance)
    names = list(features)
    metric = {"tissue": "accuracy", "expression": "pearson_r", "mutation": "roc_auc"}[experiment]
    if len(names) > 1:
        table = pd.concat([compare_extractors(result.scores, names[0], other, metric=metric)
                           for other in names[1:]], ignore_index=True)
        path = Path(out) / f"{experiment}_comparison.csv"
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
        written.append(path)
        for other in names[1:]:
            rows = table[table["b"] == other]
            typer.echo(f"{names[0]} vs {other}: better in {int((rows['better'] == names[0]).sum())}"
                       f" of {len(rows)} targets; q_corrected < 0.05 in "
                       f"{int((rows['q_corrected'] < 0.05).sum())}")
    typer.echo(f"{len(result.ids)} rows used; wrote " + ", ".join(str(p) for p in written))


def _read_any(path: Path):  # -> pandas.DataFrame
    """A Parquet file or folder, or a CSV/TSV table, or a clear error naming the path."""
    import pandas as pd

    from featx.errors import DataNotFoundError

    if not path.exists():
        raise DataNotFoundError(f"table {path}", "Check the path: Parquet, CSV or TSV expected.")
    if path.is_dir() or path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".txt") else ",")


def _read_table(path: Path, id_column: str | None):  # -> pandas.DataFrame
    """Read a TSV/CSV/Parquet target table indexed by its ID column."""
    table = _read_any(path)
    if path.suffix == ".parquet" and id_column is None and table.index.name is not None:
        table = table.reset_index()
    id_column = id_column or str(table.columns[0])
    if id_column not in table.columns:
        raise FeatxError(f"--target-id-column: {id_column!r} not in {path}")
    table = table.set_index(id_column)
    table.index = table.index.astype(str)
    return table


@app.command()
def fetch(
    manifest: Annotated[Path, typer.Argument(
        help="A featx manifest (data_manifests/*.tsv) or a GDC portal manifest.",
        exists=True, dir_okay=False)],
    dest: Annotated[Path, typer.Option("--dest", "-d", help="Folder to download into.")] = Path(
        "featx-data"),
    local_dir: Annotated[list[Path] | None, typer.Option(
        "--local-dir", help="A folder that may already hold the files (searched recursively; "
        "a copy that verifies is used in place). Repeatable.")] = None,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Fetch only this file name. Repeatable.")] = None,
    retries: Annotated[int, typer.Option(help="Retries per file after a transient error.",
                                         min=0)] = 5,
    backoff: Annotated[float, typer.Option(help="First wait between retries, in seconds "
                                           "(doubles each retry).", min=0.0)] = 2.0,
    timeout: Annotated[float, typer.Option(help="Socket timeout in seconds.", min=0.1)] = 60.0,
    progress: Annotated[bool, typer.Option(help="Show download progress.")] = True,
) -> None:
    """Download the files a manifest names, verified by size and md5/sha256.

    Interrupted downloads resume from `<file>.part` (HTTP Range); a file that
    fails its checksum is deleted, never kept under its final name. GDC manifests
    download from https://api.gdc.cancer.gov/data/<id>. Example:

        featx fetch data_manifests/nct_crc_he.tsv --dest data --only CRC-VAL-HE-7K.zip
    """
    from featx.fetch import FetchError
    from featx.fetch import fetch as run_fetch

    try:
        table = run_fetch(manifest, dest, names=only or None, local_dirs=local_dir or (),
                          retries=retries, backoff_s=backoff, timeout_s=timeout,
                          progress=progress)
    except FetchError as error:
        table = error.table
    for row in table.itertuples():
        line = f"{row.status:10s} {row.filename} -> {row.path}"
        typer.echo(line + (f"\n           {row.error}" if row.error else ""))
    if (table["status"] == "failed").any():
        raise typer.Exit(1)


def _parse_kv(pairs: list[str] | None) -> dict:
    import json

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}",
                                     param_hint="--extractor-arg")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@app.command()
def extract(
    manifest: Annotated[Path, typer.Argument(
        help="A GDC manifest (id, filename, md5, size, state) or a CSV/TSV with a `path` "
        "column (optional `slide_id`, `patient_id`).", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The store's root folder.")],
    slides: Annotated[Path | None, typer.Option(
        "--slides", "-s", help="Folder holding the slides (flat, or `<id>/<filename>` as "
        "gdc-client writes them); paths in the manifest are relative to it.")] = None,
    extractor: Annotated[str, typer.Option(
        help="Extractor name (COLORSTATS, IMGNET-2048, FTX-2048 with `--extractor-arg "
        "model_path=OUT_DIR` of `featx finetune`) or import path `package.module:Callable`.")
    ] = "COLORSTATS",
    weights: Annotated[Path | None, typer.Option(
        "--weights", help="IMGNET-2048's ImageNet Xception weights file (default: "
        "$FEATX_XCEPTION_WEIGHTS, the featx data folder, then Keras's download cache).",
        exists=True, dir_okay=False)] = None,
    extractor_arg: Annotated[list[str] | None, typer.Option(
        "--extractor-arg", help="KEY=VALUE passed to the extractor (JSON values). "
        "Repeatable.")] = None,
    tile_px: Annotated[int, typer.Option(help="Tile side in pixels given to the model.",
                                         min=1)] = 224,
    tile_mpp: Annotated[float, typer.Option(help="Microns per pixel of the tiles.")] = 0.5,
    min_tissue: Annotated[float, typer.Option(help="Least tissue fraction of a kept tile.",
                                              min=0.0, max=1.0)] = 0.8,
    dtype: Annotated[str, typer.Option(help="Embedding storage: float32, or float16 (half "
                                       "the disk).")] = "float32",
    batch_size: Annotated[int, typer.Option(help="Tiles per forward pass.", min=1)] = 64,
    workers: Annotated[int | None, typer.Option(
        help="0: run here without Dask. N: a local Dask cluster of N worker processes. "
        "Default: a local cluster sized to this machine.", min=0)] = None,
    threads_per_worker: Annotated[int, typer.Option(help="Threads per local worker.",
                                                    min=1)] = 1,
    scheduler: Annotated[str | None, typer.Option(
        help="Address of a running Dask scheduler (tcp://host:8786), e.g. from dask-jobqueue "
        "(SLURM) or dask-kubernetes. Overrides --workers.")] = None,
    stain_fit: Annotated[Path | None, typer.Option(
        "--stain-fit", help="A Macenko fit saved by `featx normalize` (`stain_fit.json`) or "
        "`MacenkoNormalizer.save`: tiles are normalised to it before the model. Default: "
        "no normalisation.", exists=True, dir_okay=False)] = None,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Process slides whose last status was failed again.")] = False,
    full_hash: Annotated[bool, typer.Option(
        "--full-hash", help="Fingerprint slides by a full sha256 (reads every byte) instead "
        "of size + sha256 of the first, middle and last MiB.")] = False,
    progress: Annotated[bool, typer.Option(help="Show slides and tiles per second.")] = True,
) -> None:
    """Extract tile embeddings of every slide in a manifest into a Parquet store.

    Resumable: slides already in the store with the same extractor, tiling,
    stain normaliser and slide fingerprint are skipped; killing the run at any
    moment loses at most the slides in progress. The status of every slide
    (done, no_tissue, failed with its error, missing) is in
    `OUT/extractor=NAME/_status.csv`. Example:

        featx extract gdc_manifest.txt --slides /data/luad --out store --workers 2
    """
    from featx.batch import ExtractorFactory, run_batch
    from featx.tiling import TileSpec

    kwargs = _parse_kv(extractor_arg)
    if weights is not None:
        if extractor != "IMGNET-2048" and ":" not in extractor:
            raise typer.BadParameter(f"applies to IMGNET-2048 (or an import path taking "
                                     f"weights=), not {extractor}", param_hint="--weights")
        kwargs["weights"] = str(weights.resolve())
    factory = ExtractorFactory.of(extractor, **kwargs)
    spec = TileSpec(tile_px=tile_px, mpp=tile_mpp, min_tissue=min_tissue)
    normalizer = None
    if stain_fit is not None:
        from featx.stain import MacenkoNormalizer

        normalizer = MacenkoNormalizer.load(stain_fit)
    status = run_batch(manifest, out, slide_dir=slides, extractor=factory, spec=spec,
                       normalizer=normalizer, dtype=dtype, batch_size=batch_size, workers=workers,
                       threads_per_worker=threads_per_worker, scheduler=scheduler,
                       retry_failed=retry_failed, full_hash=full_hash, progress=progress)
    counts = status["status"].value_counts()
    summary = ", ".join(f"{counts[k]} {k}" for k in counts.index)
    typer.echo(f"{len(status)} slides: {summary}; {int(status['n_tiles'].sum())} tiles in {out}")
    if (status["status"] == "failed").any():
        raise typer.Exit(1)


@app.command()
def pool(
    store: Annotated[Path, typer.Argument(help="The store's root folder (from `featx extract`).",
                                          exists=True, file_okay=False)],
    extractor: Annotated[str, typer.Option(help="Whose embeddings, e.g. IMGNET-2048.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output table (.parquet or .csv).")],
    level: Annotated[str, typer.Option(help="`patient`: mean of all a patient's tiles (as in "
                                       "the papers); `slide`: mean per slide.")] = "patient",
    progress: Annotated[bool, typer.Option(help="Show a progress bar over slides.")] = True,
) -> None:
    """Mean embeddings per patient or per slide, one row each, from the store.

    Reads one slide file at a time. Example:

        featx pool store --extractor IMGNET-2048 --level patient -o patients.parquet
    """
    from featx.atomic import atomic_path
    from featx.pooling import pool_embeddings

    table = pool_embeddings(store, extractor=extractor, level=level, progress=progress)
    with atomic_path(out) as tmp:
        if out.suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
    typer.echo(f"{len(table)} {level}s x {table.shape[1] - 3} features -> {out}")


@app.command()
def normalize(
    source: Annotated[Path, typer.Argument(
        help="A folder of tiles (png, jpg, tif; searched recursively) or a slide file.")],
    target: Annotated[Path, typer.Option(
        "--target", "-t",
        help="Target H&E image whose stains every tile takes on, or the `stain_fit.json` "
        "of an earlier run (to normalise many slides to the same fit).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("normalized"),
    mode: Annotated[str, typer.Option(
        help="`per_tile`: each tile's own stains (as staintools). `per_slide`: one stain fit "
        "on a sample of the slide's (or folder's) tiles for all of them; faster, steadier.")
    ] = "per_tile",
    save_tiles: Annotated[bool | None, typer.Option(
        "--save-tiles/--no-save-tiles",
        help="Write the normalised tiles as PNG under OUT/tiles (default: yes for a folder, "
        "no for a slide).")] = None,
    background: Annotated[str, typer.Option(
        help="Glass and faint tiles: `unchanged` (returned as they are) or `normalize` "
        "(mapped with the target's or the slide's stains).")] = "unchanged",
    min_tissue_fraction: Annotated[float, typer.Option(
        help="Tiles with less tissue than this are flagged `faint`.", min=0.0, max=1.0)] = 0.02,
    montage_tiles: Annotated[int, typer.Option(help="Tiles shown in the montage.", min=1)] = 16,
    sample_tiles: Annotated[int, typer.Option(
        help="Tiles the per-slide source fit uses.", min=1)] = 32,
    batch_size: Annotated[int, typer.Option(help="Tiles normalised at once.", min=1)] = 64,
    tile_px: Annotated[int, typer.Option(help="Slides only: tile side in pixels.", min=1)] = 224,
    target_mpp: Annotated[float, typer.Option(
        help="Slides only: microns per pixel of the tiles.")] = 0.5,
    min_tissue: Annotated[float, typer.Option(
        help="Slides only: keep tiles with at least this tissue fraction.", min=0.0, max=1.0)
    ] = 0.8,
    mpp: MppOption = None,
) -> None:
    """Macenko-normalise tiles to a target image's stains; write a before/after montage.

    Writes OUT/montage.png (a spread of tiles, originals above, normalised below; tiles
    left unchanged because they are glass or faint have an orange frame), OUT/status.csv
    (one row per tile: `ok`, `background` or `faint`), OUT/stain_fit.json (the fit to
    record beside embeddings, reusable as --target) and, with --save-tiles, OUT/tiles/.

    Examples:

    `featx normalize tiles/ --target target.png -o normalized/`

    `featx normalize slide.svs --target stain_fit.json --mode per_slide --tile-px 224 --target-mpp 0.5`
    """
    from featx.stain import MacenkoNormalizer
    from featx.stain_job import normalize_folder, normalize_slide, read_rgb

    options = dict(mode=mode, background=background, min_tissue_fraction=min_tissue_fraction)
    if target.suffix.lower() == ".json":
        normalizer = MacenkoNormalizer.load(target).set_params(**options)
    else:
        normalizer = MacenkoNormalizer(**options).fit(read_rgb(target))
    common = dict(out_dir=out, montage_tiles=montage_tiles, sample_tiles=sample_tiles,
                  batch_size=batch_size, progress=True)
    if source.is_dir():
        done = normalize_folder(source, normalizer, save_tiles=save_tiles is not False, **common)
    else:
        from featx.slide import open_slide
        from featx.tiling import TileSpec

        spec = TileSpec(tile_px=tile_px, mpp=target_mpp, min_tissue=min_tissue)
        with open_slide(source, mpp=mpp) as opened:
            done = normalize_slide(opened, spec, normalizer, save_tiles=bool(save_tiles), **common)
    typer.echo(f"{len(done.table)} tiles normalised, {done.n_flagged} flagged glass or faint "
               f"(background={background}); montage {done.montage_path}, status "
               f"{done.table_path}, fit {done.fit_path}")


@app.command()
def slidescore(
    table: Annotated[Path, typer.Argument(
        help="Tile probabilities: a Parquet, CSV or TSV table with columns slide_id, row, col "
        "and a tumour-probability column (one row per tissue tile).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("slidescore"),
    labels: Annotated[Path | None, typer.Option(
        help="Slide labels: CSV/TSV/Parquet with slide_id and label (1 tumour, 0 normal). "
        "Adds metrics, ROC and violin figures, and the random-forest score.")] = None,
    prob_column: Annotated[str, typer.Option(help="Column of tile tumour probabilities.")] = "prob",
    classifier: Annotated[Path | None, typer.Option(
        help="A fitted scikit-learn tile classifier saved with joblib.dump. Then TABLE holds "
        "embeddings instead of probabilities: an `embedding` column of arrays (the featx "
        "store's Parquet files; TABLE may be their folder) or numeric feature columns. "
        "joblib files run code when loaded: use only your own.")] = None,
    k: Annotated[int, typer.Option(
        help="Top-k score: mean of the k highest values.", min=1)] = 1000,
    unit: Annotated[str, typer.Option(
        help="What k counts: `tile`, or `pixel` of the heatmap upsampled --pixels-per-tile "
        "times per side (the gastric paper's top 1000 pixels).")] = "tile",
    pixels_per_tile: Annotated[int, typer.Option(
        help="Heatmap pixels per tile side, for --unit pixel.", min=1)] = 1,
    forest: Annotated[bool, typer.Option(
        help="Also train a random forest on 30 heatmap features (needs --labels); its scores "
        "are out-of-fold, so every slide is scored by a forest that never saw it.")] = True,
    cv: Annotated[int, typer.Option(help="Cross-validation folds for the forest.", min=2)] = 5,
    min_sensitivity: Annotated[float, typer.Option(
        help="Screening operating point: the threshold keeping at least this sensitivity.",
        min=0.0, max=1.0)] = 0.99,
) -> None:
    """Turn tile tumour probabilities into heatmaps and slide scores.

    Writes `slide_scores.csv` (top-k score, and with --labels the forest's out-of-fold
    score and the label), `heatmap_features.csv`, `heatmaps.npz` (one [row, col] array per
    slide, NaN off tissue) and `heatmaps/<slide_id>.png`. With --labels also
    `metrics.csv` (ROC AUC, PR-AUC, accuracy, sensitivity, specificity and Cohen's kappa
    at 0.5 and at the screening threshold), `roc.png` and `violin_<score>.png`.

    Examples: `featx slidescore tile_probs.parquet --labels slides.csv --k 10 -o scores/`;
    from stored embeddings and a tile classifier:
    `featx slidescore store/extractor=FTX-2048/ --classifier tumour_lr.joblib -o scores/`
    """
    import numpy as np

    from featx.errors import DataNotFoundError, InvalidParameterError
    from featx.slidescore_job import score_slides

    tiles = _read_any(table)
    if classifier is not None:
        import joblib

        from featx.slidescore import embedding_probabilities

        if not classifier.is_file():
            raise DataNotFoundError(f"classifier {classifier}", "Save it with joblib.dump.")
        if "embedding" in tiles.columns:
            embeddings = np.stack(tiles["embedding"].to_numpy())
        else:
            meta = {"slide_id", "patient_id", "row", "col", "x", "y", "level", "read_px",
                    "tile_px", "mpp", "tissue_fraction", "stain_status", "extractor"}
            embeddings = tiles[[c for c in tiles.columns if c not in meta]].to_numpy(float)
        prob_column = "prob"
        tiles = tiles.assign(prob=embedding_probabilities(joblib.load(classifier), embeddings))
    truth = None
    if labels is not None:
        truth = _read_any(labels)
        if not {"slide_id", "label"} <= set(truth.columns):
            raise InvalidParameterError("--labels", "a table with slide_id and label columns",
                                        list(truth.columns))
        truth = truth.assign(slide_id=truth["slide_id"].astype(str)).set_index("slide_id")["label"]
    done = score_slides(tiles, out, labels=truth, prob_column=prob_column, k=k, unit=unit,
                        pixels_per_tile=pixels_per_tile, forest=forest, cv=cv,
                        min_sensitivity=min_sensitivity)
    if done.metrics is not None:
        for name, row in done.metrics.iterrows():
            typer.echo(f"{name}: ROC AUC {row['roc_auc']:.3f}, PR-AUC {row['pr_auc']:.3f}, "
                       f"sensitivity/specificity at 0.5 {row['sensitivity_at_0.5']:.2f}/"
                       f"{row['specificity_at_0.5']:.2f}")
    ids = done.scores["slide_id"]
    typer.echo(f"{len(ids)} slides scored -> {out.resolve()}")

@app.command()
def report(
    name: Annotated[str, typer.Argument(help="Report name: the folder reports/<name>/.")],
    results: Annotated[Path | None, typer.Option(
        help="Folder of `featx evaluate` outputs (tissue, expression, mutation tables).")] = None,
    slidescores: Annotated[Path | None, typer.Option(
        help="Folder of `featx slidescore` outputs.")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Embedding store, for the tiles nearest each patient's mean (needs --slides).")
    ] = None,
    extractor: Annotated[str | None, typer.Option(
        help="Whose embeddings to use for the nearest tiles (default: the store's first).")
    ] = None,
    slides: Annotated[Path | None, typer.Option(
        help="Folder of the slide files (searched recursively), for tiles and heatmap overlays.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title (default: the name).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Parent folder of the report.")] = Path(
        "reports"),
) -> None:
    """Write a self-contained HTML report (plus Markdown and CSV) from stored results.

    Nothing is recomputed: figures and tables come from the tables `featx evaluate`
    and `featx slidescore` wrote, and the provenance they recorded (extractors and
    weights hashes, stain fit, folds and seeds, featx version) is reproduced.

    Example: `featx report luad --results results/ --slidescores scores/ --store store/
    --slides slides/` writes `reports/luad/report.html`.
    """
    from featx.report import write_report
    from featx.reporting import build_report, find_slides

    if results is None and slidescores is None:
        raise typer.BadParameter("give --results and/or --slidescores")
    slide_files = find_slides(slides) if slides is not None else None
    built = build_report(title or name, results=results, slidescores=slidescores, store=store,
                         nearest_extractor=extractor, slides=slide_files)
    files = write_report(built, out / name)
    typer.echo(f"report: {files.html.resolve()} ({len(files.figures)} figures, "
               f"{len(files.tables)} tables)")



def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
