"""``featx extractors``: every kind of extractor featx runs or imports, and what a store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app


@app.command()
def extractors(
    store: Annotated[Path | None, typer.Option(
        help="Also list the extractors in this store, extracted or imported.", exists=True,
        file_okay=False)] = None,
) -> None:
    """List the extractor names `--extractor` takes, the import formats, and a store's extractors."""
    from featx.extractors.keras_apps import KERAS_APPLICATIONS
    from featx.extractors.registry import IMPORT_FORMATS, KNOWN_EXTRACTORS

    typer.echo("built in:")
    for name, target in KNOWN_EXTRACTORS.items():
        typer.echo(f"  {name:<14} {target}")
    typer.echo("keras:<Name>     any keras.applications backbone: " + ", ".join(KERAS_APPLICATIONS))
    typer.echo("onnx:<file>      any ONNX image model through onnxruntime (featx[onnx]); with "
               "--preset NAME, a published model (featx convert exports timm ones):")
    from featx.extractors.presets import PRESETS

    for preset in PRESETS.values():
        typer.echo(f"  {preset.name:<14} {preset.input_px} px, {preset.n_features} features; "
                   f"licence {preset.licence}; gated: {preset.gated}; commercial use: "
                   f"{preset.commercial_use}; {preset.source}")
    typer.echo("package.module:Callable   your own extractor")
    typer.echo(f"featx import     {', '.join(IMPORT_FORMATS)} (featx[import] for h5)")
    if store is not None:
        from featx.embed.inventory import store_contents
        from featx.embed.store import list_extractors, list_slides, provenance, slide_path

        if not list_extractors(store):
            raise typer.BadParameter(f"{store} is not a featx store: it holds no "
                                     "extractor=NAME folders", param_hint="--store")
        typer.echo(f"in {store}:")
        for name in list_extractors(store):
            contents = store_contents(store, name)
            whole = [s for s in list_slides(store, extractor=name) if s not in contents.damaged]
            kind = "empty"
            if whole:
                record = provenance(slide_path(store, extractor=name, slide_id=whole[0]))
                config = record.get("extractor") or {}
                kind = (f"imported from {config.get('source_format')}" if config.get("imported")
                        else f"extracted ({config.get('weights', 'featx')} weights)"
                        if "weights" in config else "extracted")
                preset = config.get("preset") or {}
                if preset:
                    kind += (f"; preset {preset.get('name')}: licence {preset.get('licence')}, "
                             f"commercial use: {preset.get('commercial_use')}")
            typer.echo(f"  {name:<22} {contents.describe()}; {kind}" + (
                f" (featx status {store} names the damaged)" if contents.damaged else ""))
