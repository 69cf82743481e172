"""``featx convert``: a timm model you have into ONNX, checked against torch on real tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_dir


@app.command()
def convert(
    model: Annotated[str, typer.Argument(
        help="A preset with a timm architecture (UNI, UNI2-h, Virchow2, H-optimus-0, "
        "H-optimus-1, Prov-GigaPath) or timm:<architecture>.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
    tiles: Annotated[Path, typer.Option(
        "--tiles", help="A folder of real tiles (PNG, JPEG, TIFF) to check the export on.",
        exists=True, file_okay=False)],
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="The model's weights file you downloaded from its page "
        "(pytorch_model.bin, .pth, .safetensors).", exists=True, dir_okay=False)] = None,
    random_weights: Annotated[bool, typer.Option(
        "--random-weights", help="Seeded random weights instead: to test the conversion "
        "only.")] = False,
    max_tiles: Annotated[int, typer.Option(help="Tiles of --tiles checked.", min=1)] = 16,
    min_cosine: Annotated[float, typer.Option(
        help="Least cosine similarity of torch's and ONNX's embedding of every tile.",
        min=0.0, max=1.0)] = 0.9999,
) -> None:
    """Export a timm model to ONNX on your machine and check it against torch.

    The model's token pooling goes inside the ONNX graph, so the file gives the
    embedding itself; then `featx extract --extractor onnx:OUT --preset NAME` runs it
    without PyTorch. The check runs the same tiles through torch and onnxruntime and
    writes nothing unless every tile's cosine similarity reaches --min-cosine; OUT.json
    records the architecture, the checkpoint's sha256 and the check. featx downloads
    no weights and ships none: get them from the model's page, under its terms
    (`featx extractors` lists them). Needs `pip install featx[convert]`.

    \b
    Example:
      featx convert UNI2-h --checkpoint pytorch_model.bin --tiles tiles/ -o uni2.onnx
    """
    from featx._io import read_rgb
    from featx.extractors.convert import convert_timm

    output_dir(out.parent if str(out.parent) else Path("."))
    files = sorted(p for p in tiles.iterdir() if p.suffix.lower() in
                   (".png", ".jpg", ".jpeg", ".tif", ".tiff"))[:max_tiles]
    if not files:
        raise typer.BadParameter(f"no PNG, JPEG or TIFF tiles in {tiles}", param_hint="--tiles")
    import numpy as np

    size = min(min(read_rgb(p).shape[:2]) for p in files)
    batch = np.stack([read_rgb(p, size=size) for p in files])
    preset, architecture = ((None, model.removeprefix("timm:")) if model.startswith("timm:")
                            else (model, None))
    done = convert_timm(out, batch, preset=preset, architecture=architecture,
                        checkpoint=checkpoint, random_weights=random_weights,
                        min_cosine=min_cosine)
    typer.echo(f"{done.path}: {done.n_features} features; torch and ONNX agree on "
               f"{done.n_tiles} tiles (cosine similarity min {done.min_cosine:.8f}, mean "
               f"{done.mean_cosine:.8f}); record in {done.record_path}")
    name = f" --preset {preset}" if preset else ""
    typer.echo(f"next: featx extract MANIFEST -o store --extractor onnx:{done.path}{name}")
