"""The ``featx`` command-line tool.

Thin by design: each command parses options, imports the module that does the
work (lazily, so ``featx --help`` stays fast and TensorFlow loads only when a
model runs) and prints where its output went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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
    Optional[float],
    typer.Option(
        "--mpp",
        help="Microns per pixel of the slide's level 0, for slides whose metadata lacks it "
        "(overrides the metadata).",
        min=0.0, min_open=True,
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
    weights: Annotated[Optional[Path], typer.Option(
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
    steps_per_epoch: Annotated[Optional[int], typer.Option(
        help="Cap batches per epoch (quick trial runs).")] = None,
    val_fraction: Annotated[float, typer.Option(
        help="Stratified share of tiles held out for validation accuracy.")] = 0.1,
    augment: Annotated[bool, typer.Option(
        help="Rotations, flips, colour jitter and blur on training batches.")] = True,
    macenko_target: Annotated[Optional[Path], typer.Option(
        help="Macenko-normalise every tile to this target H&E image.")] = None,
    cached_step1: Annotated[bool, typer.Option(
        help="Train step 1 on backbone features computed once (fast; no augmentation in "
        "step 1).")] = False,
    max_per_class: Annotated[Optional[int], typer.Option(
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


def main() -> None:
    """Entry point: run the app, turning featx errors into one clear line and exit code 2."""
    try:
        app()
    except FeatxError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
