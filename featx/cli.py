"""The ``featx`` command-line tool.

Thin by design: each command parses options, imports the module that does the
work (lazily, so ``featx --help`` stays fast and TensorFlow loads only when a
model runs) and prints where its output went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx import __version__
from featx.errors import FeatxError

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
) -> None:
    """Run featx end to end on built-in data and print where the results are.

    Uses generated slides with known tissue, plus OpenSlide's CMU-1-Small-Region test
    slide when the public data folder (`$FEATX_DATA_DIR`) has it.
    """
    from featx.demo import run_demo

    result = run_demo(out)
    typer.echo(f"demo finished: {len(result.slides)} slides; results in {result.out_dir.resolve()}")


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
    jobs: Annotated[int, typer.Option(help="Threads (results do not depend on it).", min=1)] = 1,
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
    from featx.datasets import embedding_sources, mean_by_patient, read_embeddings
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
    for name, path in embedding_sources(embeddings).items():
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
    written = result.save(out, fmt=table_format)
    names = list(features)
    metric = {"tissue": "accuracy", "expression": "pearson_r", "mutation": "roc_auc"}[experiment]
    if len(names) > 1:
        table = pd.concat([compare_extractors(result.scores, names[0], other, metric=metric)
                           for other in names[1:]], ignore_index=True)
        path = Path(out) / f"{experiment}_comparison.csv"
        table.to_csv(path, index=False)
        written.append(path)
        for other in names[1:]:
            rows = table[table["b"] == other]
            typer.echo(f"{names[0]} vs {other}: better in {int((rows['better'] == names[0]).sum())}"
                       f" of {len(rows)} targets; q_corrected < 0.05 in "
                       f"{int((rows['q_corrected'] < 0.05).sum())}")
    typer.echo(f"{len(result.ids)} rows used; wrote " + ", ".join(str(p) for p in written))


def _read_table(path: Path, id_column: str | None):  # -> pandas.DataFrame
    """Read a TSV/CSV/Parquet target table indexed by its ID column."""
    import pandas as pd

    from featx.errors import DataNotFoundError

    if not path.exists():
        raise DataNotFoundError(f"target table {path}", "Pass --targets a TSV, CSV or Parquet file")
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
        if id_column is None and table.index.name is not None:
            table = table.reset_index()
    else:
        table = pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".txt") else ",")
    id_column = id_column or str(table.columns[0])
    if id_column not in table.columns:
        raise FeatxError(f"--target-id-column: {id_column!r} not in {path}")
    table = table.set_index(id_column)
    table.index = table.index.astype(str)
    return table


def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
