"""``featx extract``: resumable batch extraction of a manifest's slides into the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from featx.cli._app import (
    PrecisionOption,
    SlideMppOption,
    app,
    output_dir,
    parse_kv,
    precision_kwargs,
)
from featx.cli._regions import (
    AnnotationsOption,
    ExcludeClassOption,
    KeepClassOption,
    MinAnnotatedOption,
    region_filter,
)
from featx.extractors.registry import describe_extractors

if TYPE_CHECKING:
    import pandas as pd

    from featx.embed.settings import EmbedFunction


@app.command()
def extract(
    manifest: Annotated[Path, typer.Argument(
        help="A GDC manifest (id, filename, md5, size, state) or a CSV/TSV with a `path` "
        "column (optional `slide_id`, `patient_id`, `slide_mpp`, `annotations`).", exists=True,
        dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The store's root folder.")],
    slides: Annotated[Path | None, typer.Option(
        "--slides", "-s", help="Folder holding the slides (flat, or `<id>/<filename>` as "
        "gdc-client writes them); paths in the manifest are relative to it.")] = None,
    extractor: Annotated[str, typer.Option(
        help="Extractor: " + describe_extractors() + ". FTX-2048 takes `--extractor-arg "
        "model_path=OUT_DIR` of `featx finetune`; keras:<Name> takes `--extractor-arg "
        "weights=imagenet|random|PATH`; onnx:<file> takes `--extractor-arg input_px=224` "
        "(mean, std, output, layout). `featx extractors` lists them all. COLORSTATS (colour "
        "statistics, no network) is for quick tests only.")
    ] = "IMGNET-2048",
    weights: Annotated[Path | None, typer.Option(
        "--weights", help="IMGNET-2048's ImageNet Xception weights file (default: "
        "$FEATX_XCEPTION_WEIGHTS, the featx data folder, then Keras's download cache).",
        exists=True, dir_okay=False)] = None,
    preset: Annotated[str | None, typer.Option(
        "--preset", help="With --extractor onnx:FILE: a published model's input size, "
        "normalisation and pooling, and its licence terms in the provenance (UNI, UNI2-h, "
        "CONCH, Virchow2, H-optimus-0, H-optimus-1, Prov-GigaPath, Phikon-v2, Hibou-B, "
        "Hibou-L, Midnight-12k; `featx extractors` lists their terms).")] = None,
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
    slide_mpp: SlideMppOption = None,
    progress: Annotated[bool, typer.Option(help="Show slides and tiles per second.")] = True,
    preprocess: Annotated[str, typer.Option(
        help="Where the per-slide Macenko apply and the resize run: auto (the GPU when "
        "TensorFlow sees one), cpu (NumPy in the producer threads) or device.")] = "auto",
    precision: PrecisionOption = "float32",
    plan: Annotated[bool, typer.Option(
        "--plan", help="Print the expected tiles, store size and time (see `featx plan`), "
        "then stop before extracting anything.")] = False,
    annotations: AnnotationsOption = None,
    keep_class: KeepClassOption = None,
    exclude_class: ExcludeClassOption = None,
    min_annotated: MinAnnotatedOption = 0.5,
) -> None:
    """Extract tile embeddings of every slide in a manifest into a Parquet store.

    Resumable: slides already in the store with the same extractor, tiling,
    stain normaliser and slide fingerprint are skipped; killing the run at any
    moment loses at most the slides in progress. The status of every slide
    (done, no_tissue, failed with its error, missing) is in
    `OUT/extractor=NAME/_status.csv`. With --keep-class/--exclude-class, each slide is
    tiled only in (or out of) the regions of its QuPath annotations: the manifest's
    `annotations` column, else --annotations (a file, or a folder of <slide_id>.geojson).

    \b
    Examples:
      featx extract gdc_manifest.txt --slides /data/luad --out store --extractor IMGNET-2048
      featx extract slides.csv --out store --extractor onnx:uni2.onnx --preset UNI2-h
    """
    from featx.embed import ClusterSettings, ExtractionSettings, run_batch
    from featx.extractors import ExtractorFactory
    from featx.wsi import TileSpec

    kwargs = parse_kv(extractor_arg, option="--extractor-arg")
    if preset is not None:
        if not extractor.startswith("onnx:"):
            raise typer.BadParameter(f"applies to --extractor onnx:FILE, not {extractor}",
                                     param_hint="--preset")
        from featx.extractors.presets import get_preset

        kwargs["preset"] = get_preset(preset).name
    if weights is not None:
        if extractor != "IMGNET-2048" and ":" not in extractor:
            raise typer.BadParameter(f"applies to IMGNET-2048 (or an import path taking "
                                     f"weights=), not {extractor}", param_hint="--weights")
        kwargs["weights"] = str(weights.resolve())
    name = precision_kwargs(precision, extractor, kwargs, remote=scheduler is not None)
    if plan:
        from featx.cli.plan import print_plan

        print_plan(manifest, slides=slides, extractor=extractor, kwargs=kwargs, tile_px=tile_px,
                   tile_mpp=tile_mpp, min_tissue=min_tissue, dtype=dtype, slide_mpp=slide_mpp,
                   gpu_rate=None, gpus=1, measure=True)
        return
    factory = ExtractorFactory.of(extractor, **kwargs)
    factory.resolve()  # a missing model_path fails here, in one line, before any slide
    output_dir(out)
    normalizer = None
    if stain_fit is not None:
        from featx.stain import MacenkoNormalizer

        normalizer = MacenkoNormalizer.load(stain_fit)
    settings = ExtractionSettings(
        factory, spec=TileSpec(tile_px=tile_px, tile_mpp=tile_mpp, min_tissue=min_tissue),
        normalizer=normalizer, embed=_embed_function(preprocess), dtype=dtype,
        batch_size=batch_size, slide_mpp=slide_mpp, full_hash=full_hash,
        retry_failed=retry_failed,
        regions=region_filter(keep_class, exclude_class, min_annotated), annotations=annotations)
    cluster = ClusterSettings(workers=workers, threads_per_worker=threads_per_worker,
                              scheduler=scheduler, progress=progress)
    try:
        status = run_batch(manifest, out, settings, slide_dir=slides, cluster=cluster)
    except KeyboardInterrupt:
        typer.secho(f"interrupted: slides finished so far are kept in {out} (see "
                    f"{out}/extractor=NAME/_status.csv); rerun the same command to resume, "
                    "done slides are skipped", err=True, fg=typer.colors.YELLOW)
        raise typer.Exit(130) from None
    _summarise(status, out, slides, name)


def _embed_function(preprocess: str) -> EmbedFunction | None:
    """embed_slide with ``--preprocess`` fixed (None: the default, auto)."""
    if preprocess == "auto":
        return None
    from functools import partial

    from featx.embed.pipeline import PREPROCESS, embed_slide

    if preprocess not in PREPROCESS:
        raise typer.BadParameter(f"one of {', '.join(PREPROCESS)}, not {preprocess}",
                                 param_hint="--preprocess")
    return partial(embed_slide, preprocess=preprocess)  # pickles: workers import it


def _summarise(status: pd.DataFrame, out: Path, slides: Path | None, name: str) -> None:
    """The closing line; exit 1 when a slide did not finish or nothing was extracted at all."""
    counts = status["status"].value_counts()
    summary = ", ".join(f"{counts[k]} {k}" for k in counts.index) or "no slides"
    typer.echo(f"{len(status)} slides: {summary}; {int(status['n_tiles'].sum())} tiles in {out}")
    if not status["status"].isin(["done", "no_tissue"]).any():
        typer.secho(f"error: nothing was extracted ({summary}); {_causes(status, slides)}",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    if status["status"].isin(["failed", "retry", "missing", "locked"]).any():
        typer.secho(f"some slides did not finish: {_causes(status, slides)}", err=True,
                    fg=typer.colors.YELLOW)
        raise typer.Exit(1)
    typer.echo(f"next: featx pool {out} --extractor {name} -o patients.parquet (then featx "
               "evaluate)")


def _causes(status: pd.DataFrame, slides: Path | None) -> str:
    """What kept slides from finishing, by cause, each with its fix (one line)."""
    by = {k: status[status["status"] == k] for k in ("missing", "retry", "failed", "locked")}
    no_mpp = by["failed"]["error"].str.startswith("MissingMppError")
    causes = []
    if len(by["missing"]):
        causes.append(f"{len(by['missing'])} slide files not found: " + (
            "check --slides" if slides is not None else
            "paths in the manifest are relative to --slides; pass the slide folder"))
    if no_mpp.any():
        causes.append(f"{int(no_mpp.sum())} slides record no microns per pixel: pass --slide-mpp "
                      "or a slide_mpp column in the manifest, then rerun with --retry-failed")
    if len(by["retry"]):
        causes.append(f"{len(by['retry'])} hit a passing error ({by['retry']['error'].iloc[0]:.90}"
                      "); fix it (free the space...) and rerun: they are retried without "
                      "--retry-failed")
    other = by["failed"][~no_mpp]
    if len(other):
        causes.append(f"{len(other)} failed (first: {other['slide_id'].iloc[0]}: "
                      f"{other['error'].iloc[0]:.90}); fix them and rerun with --retry-failed")
    if len(by["locked"]):
        causes.append(f"{len(by['locked'])} stayed locked by another live run; rerun when it ends")
    return "; ".join(causes) + " (errors in OUT/extractor=NAME/_status.csv; featx status OUT)"
