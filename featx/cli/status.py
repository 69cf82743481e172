"""``featx status``: what a store holds, per extractor: done, failed (with errors), missing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app


@app.command()
def status(
    store: Annotated[Path, typer.Argument(help="The store's root folder (from `featx extract`).",
                                          exists=True, file_okay=False)],
    errors: Annotated[int, typer.Option(help="Failed slides listed with their error, per "
                                        "extractor.", min=0)] = 10,
) -> None:
    """Count the slides of each extractor in a store by status, and list the failures.

    Reads `STORE/extractor=NAME/_status.csv`, which `featx extract` keeps. Exits 1 when a
    slide failed or is missing.

    \b
    Example:
      featx status store/
    """
    from featx.embed import list_extractors, read_status
    from featx.embed.store import damaged_files

    names = list_extractors(store)
    if not names:
        raise typer.BadParameter(f"{store} holds no extractor=NAME folders; run featx extract "
                                 "first", param_hint="STORE")
    bad = False
    for name in names:
        table = read_status(store, extractor=name)
        counts = table["status"].value_counts()
        summary = ", ".join(f"{counts[k]} {k}" for k in counts.index) or "no status file"
        typer.echo(f"{name}: {len(table)} slides: {summary}; {int(table['n_tiles'].sum())} tiles")
        failed = table[table["status"].isin(["failed", "retry", "missing"])]
        for row in failed.head(errors).itertuples():
            typer.echo(f"  {row.status:8s} {row.slide_id}: {row.error}")
        if len(failed) > errors:
            typer.echo(f"  ... and {len(failed) - errors} more in "
                       f"{store}/extractor={name}/_status.csv")
        bad = _report_damaged(damaged_files(store, extractor=name)) or bad or len(failed) > 0
    if bad:
        typer.echo("next: fix the paths or files above, then rerun featx extract with "
                   "--retry-failed (done slides are skipped)")
        raise typer.Exit(1)


def _report_damaged(damaged: dict[str, str]) -> bool:
    """List store files that do not hold what they say (every file counted is verified)."""
    for slide, problem in damaged.items():
        typer.echo(f"  damaged  {slide}: {problem}; featx extract redoes it")
    return bool(damaged)
