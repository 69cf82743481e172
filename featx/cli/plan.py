"""``featx plan``: what a cohort costs (tiles, store disk, hours) before it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from featx.cli._app import SlideMppOption, app, parse_kv


def print_plan(manifest: Path, *, slides: Path | None, extractor: str, kwargs: dict[str, Any],
               tile_px: int, tile_mpp: float, min_tissue: float, dtype: str,
               slide_mpp: float | None, gpu_rate: float | None, gpus: int,
               measure: bool) -> None:
    """Build the extractor, measure its rate here, plan the manifest and print the plan.

    The one printer of a cohort's plan: ``featx plan`` and ``featx extract --plan``.
    """
    from featx.embed.plan import measure_rate, plan_cohort, plan_rates
    from featx.extractors import ExtractorFactory
    from featx.extractors.registry import get_extractor
    from featx.wsi import TileSpec

    spec = TileSpec(tile_px=tile_px, tile_mpp=tile_mpp, min_tissue=min_tissue)
    model = get_extractor(ExtractorFactory.of(extractor, **kwargs))
    rates = plan_rates(model.name, measured=measure_rate(model, tile_px=tile_px) if measure
                       else None, gpu_rate=gpu_rate, gpus=gpus)
    plan = plan_cohort(manifest, spec=spec, slide_dir=slides, n_features=int(model.n_features),
                       dtype=dtype, rates=rates, slide_mpp=slide_mpp)
    typer.echo(plan.summary())
    if gpu_rate is None:
        typer.echo("GPU time: pass --gpu-rate TILES_PER_S (benchmarks/bench_extract.py on the "
                   "GPU prints it) and --gpus N")


@app.command()
def plan(
    manifest: Annotated[Path, typer.Argument(
        help="A GDC manifest (its `size` column), a table with a `path` column, or the name "
        "of a manifest shipped with featx (tcga_luad_slides).")],
    slides: Annotated[Path | None, typer.Option(
        "--slides", "-s", help="Folder of the slides: those found there are counted exactly "
        "and calibrate the estimate for the others.")] = None,
    extractor: Annotated[str, typer.Option(help="Extractor name or import path.")] = "IMGNET-2048",
    extractor_arg: Annotated[list[str] | None, typer.Option(
        "--extractor-arg", help="KEY=VALUE passed to the extractor. Repeatable.")] = None,
    tile_px: Annotated[int, typer.Option(help="Tile side in pixels.", min=1)] = 224,
    tile_mpp: Annotated[float, typer.Option(help="Microns per pixel of the tiles.")] = 0.5,
    min_tissue: Annotated[float, typer.Option(help="Least tissue fraction of a kept tile.",
                                              min=0.0, max=1.0)] = 0.8,
    dtype: Annotated[str, typer.Option(help="Embedding storage: float32 or float16.")
                     ] = "float32",
    slide_mpp: SlideMppOption = None,
    gpu_rate: Annotated[float | None, typer.Option(
        help="Tiles/s of one GPU, end to end (from benchmarks/bench_extract.py).")] = None,
    gpus: Annotated[int, typer.Option(help="GPUs (one Dask worker each).", min=1)] = 1,
    measure: Annotated[bool, typer.Option(
        help="Time the extractor's forward pass on this machine.")] = True,
) -> None:
    """Print a cohort's expected tiles, store size and time, before anything runs.

    Example:

        featx plan tcga_luad_slides --tile-mpp 0.25 --gpu-rate 1000 --gpus 4
    """
    from featx._validate import positive_float
    from featx.downloads.manifests import find_manifest

    if gpu_rate is not None:
        positive_float("--gpu-rate", gpu_rate)
    print_plan(find_manifest(manifest), slides=slides, extractor=extractor,
               kwargs=parse_kv(extractor_arg, option="--extractor-arg"), tile_px=tile_px,
               tile_mpp=tile_mpp, min_tissue=min_tissue, dtype=dtype, slide_mpp=slide_mpp,
               gpu_rate=gpu_rate, gpus=gpus, measure=measure)
