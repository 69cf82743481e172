"""``featx status``: what a store holds, per extractor: slides done, failed (with errors),
missing, and tiles; or a tile set's tiles and classes."""

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
    """Count what each extractor of a store holds, and list the failed or missing slides.

    A slide store (`featx extract`, `featx import`): slides by status from
    `STORE/extractor=NAME/_status.csv`, and tiles. A tile set (`featx embed`): tiles,
    chunk files and classes. Exits 1 when a slide failed or is missing.

    \b
    Example:
      featx status store/
    """
    from featx.embed import list_extractors
    from featx.embed.inventory import store_contents

    names = list_extractors(store)
    if not names:
        raise typer.BadParameter(f"{store} holds no extractor=NAME folders; run featx extract "
                                 "first", param_hint="STORE")
    bad, statuses = False, set()
    for name in names:
        contents = store_contents(store, name)
        typer.echo(f"{name}: {contents.describe()}")
        bad = _report_damaged(contents.damaged) or bad
        table = contents.status
        if table is None or table.empty:
            continue
        failed = table[table["status"].isin(["failed", "retry", "missing"])]
        for row in failed.head(errors).itertuples():
            typer.echo(f"  {row.status:8s} {row.slide_id}: {row.error}")
        if len(failed) > errors:
            typer.echo(f"  ... and {len(failed) - errors} more in "
                       f"{store}/extractor={name}/_status.csv")
        statuses |= set(failed["status"])
        bad = bad or len(failed) > 0
    if bad:
        typer.echo(_next_step(statuses))
        raise typer.Exit(1)


def _next_step(statuses: set[str]) -> str:
    """What to do: failed slides wait for --retry-failed; retry and missing ones are redone."""
    if "failed" in statuses:
        return ("next: fix the paths or files above, then rerun featx extract with "
                "--retry-failed (done slides are skipped)")
    return ("next: rerun featx extract: damaged files and slides marked retry or missing are "
            "redone without any flag (done slides are skipped)")


def _report_damaged(damaged: dict[str, str]) -> bool:
    """List store files that do not hold what they say (every file counted is verified)."""
    for slide, problem in damaged.items():
        typer.echo(f"  damaged  {slide}: {problem}; featx extract redoes it")
    return bool(damaged)
