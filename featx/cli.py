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
) -> None:
    """Run featx end to end on built-in data and print where the results are.

    Uses generated slides with known tissue, plus OpenSlide's CMU-1-Small-Region test
    slide when the public data folder (`$FEATX_DATA_DIR`) has it.
    """
    from featx.demo import run_demo

    result = run_demo(out)
    typer.echo(f"demo finished: {len(result.slides)} slides; results in {result.out_dir.resolve()}")


def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
