"""``featx finetune``: the two-step fine-tuning of ImageNet Xception into FTX-2048."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_dir


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
    the saved model.

    \b
    Examples:
      featx finetune NCT-CRC-HE-100K/ ftx/ --epochs-step1 10 --epochs-step2 10
      featx extract manifest.csv -o store --extractor FTX-2048 --extractor-arg model_path=ftx/
    """
    from featx.extractors.ftx import XceptionFineTuner

    output_dir(out_dir, option="OUT_DIR")
    normalizer = None
    if macenko_target is not None:
        from featx._io import read_rgb
        from featx.stain import MacenkoNormalizer

        normalizer = MacenkoNormalizer().fit(read_rgb(macenko_target)).transform
    tuner = XceptionFineTuner(
        out_dir=out_dir, base_weights=weights, input_px=input_px, epochs_step1=epochs_step1,
        epochs_step2=epochs_step2, batch_size=batch_size, lr_step1=lr_step1, lr_step2=lr_step2,
        steps_per_epoch=steps_per_epoch, val_fraction=val_fraction, augment=augment,
        normalizer=normalizer, step1_cached_features=cached_step1, max_per_class=max_per_class,
        seed=seed, progress=True,
    ).fit(tiles)
    accuracy = ", ".join(f"{k} {v:.3f}" for k, v in tuner.card_["validation_accuracy"].items())
    typer.echo(f"model: {tuner.model_path_}\nvalidation accuracy: {accuracy}\n"
               f"next: featx extract MANIFEST -o store --extractor FTX-2048 "
               f"--extractor-arg model_path={out_dir}")
