"""``featx embed``: a labelled class-per-folder tile set to embeddings and a label table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import PrecisionOption, app, parse_kv, precision_kwargs


@app.command()
def embed(
    tiles: Annotated[Path, typer.Argument(
        help="Class-per-folder tiles (NCT-CRC-HE-100K layout: TILES/ADI/*.tif, TILES/BACK/*.tif, "
        "...).", exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: extractor=NAME/ "
                                      "chunk files, labels.tsv and its provenance.")],
    extractor: Annotated[str, typer.Option(
        help="IMGNET-2048, FTX-2048 (with `--extractor-arg model_path=OUT_DIR` of `featx "
        "finetune`), COLORSTATS, or an import path `package.module:Callable`.")] = "IMGNET-2048",
    weights: Annotated[Path | None, typer.Option(
        "--weights", help="IMGNET-2048's ImageNet Xception weights file (default: "
        "$FEATX_XCEPTION_WEIGHTS, the featx data folder, then Keras's download cache).",
        exists=True, dir_okay=False)] = None,
    extractor_arg: Annotated[list[str] | None, typer.Option(
        "--extractor-arg", help="KEY=VALUE passed to the extractor (JSON values). "
        "Repeatable.")] = None,
    stain_fit: Annotated[Path | None, typer.Option(
        "--stain-fit", help="A Macenko fit (`stain_fit.json` of `featx normalize`): tiles are "
        "normalised to it first. NCT-CRC-HE-100K is already Macenko-normalised.",
        exists=True, dir_okay=False)] = None,
    tile_px: Annotated[int | None, typer.Option(
        help="Resize tiles to this side (default: the extractor's input size).", min=1)] = None,
    max_per_class: Annotated[int | None, typer.Option(
        help="A seeded random choice of at most N tiles per class.", min=1)] = None,
    chunk_size: Annotated[int, typer.Option(help="Tiles per chunk file (the unit of resumption).",
                                            min=1)] = 1000,
    batch_size: Annotated[int, typer.Option(help="Tiles per forward pass.", min=1)] = 64,
    dtype: Annotated[str, typer.Option(help="float32, or float16 (half the disk).")] = "float32",
    precision: PrecisionOption = "float32",
    progress: Annotated[bool, typer.Option(help="Show tiles per second.")] = True,
) -> None:
    """Embed a labelled tile set, resumably, and write its label table beside it.

    A rerun skips the chunks already embedded with the same extractor and stain fit.
    Then run experiment 1 (tissue classification) with no Python:

        featx embed CRC-VAL-HE-7K/ --extractor IMGNET-2048 -o tiles_store/
        featx evaluate tiles_store/ -t tiles_store/labels.tsv -e tissue
    """
    from featx.embed.tile_sets import embed_tile_folder
    from featx.extractors import ExtractorFactory

    kwargs = parse_kv(extractor_arg, option="--extractor-arg")
    if weights is not None:
        kwargs["weights"] = str(weights.resolve())
    precision_kwargs(precision, extractor, kwargs)
    normalizer = None
    if stain_fit is not None:
        from featx.stain import MacenkoNormalizer

        normalizer = MacenkoNormalizer.load(stain_fit)
    run = embed_tile_folder(tiles, out, extractor=ExtractorFactory.of(extractor, **kwargs),
                            normalizer=normalizer, tile_px=tile_px, chunk_size=chunk_size,
                            batch_size=batch_size, dtype=dtype, max_per_class=max_per_class,
                            progress=progress)
    typer.echo(f"{run.n_tiles} tiles in {run.n_chunks} chunks ({run.n_skipped} already done) -> "
               f"{run.store}; labels -> {run.labels}")
