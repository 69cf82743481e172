"""``featx view``: a local viewer for a folder of slides, with scores and overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import SlideMppOption, app, warn


@app.command()
def view(
    slides: Annotated[list[Path], typer.Argument(
        help="Slide files or folders holding them (any format featx reads; a folder of DICOM "
        "instances is one slide).")],
    slidescores: Annotated[Path | None, typer.Option(
        "--slidescores", help="A `featx slidescore` folder: scores on the slide list, tumour "
        "probability and heatmap overlays.", exists=True, file_okay=False)] = None,
    store: Annotated[Path | None, typer.Option(
        help="A featx store: an overlay of embedding clusters (one k-means over the tiles of "
        "these slides).", exists=True, file_okay=False)] = None,
    extractor: Annotated[str | None, typer.Option(
        help="Whose embeddings to cluster (default: the store's first extractor).")] = None,
    n_clusters: Annotated[int, typer.Option(help="Clusters of the cluster overlay.",
                                            min=2, max=20)] = 8,
    host: Annotated[str, typer.Option(
        help="Address to listen on. 127.0.0.1 serves this machine only; 0.0.0.0 serves "
        "your network (anyone who reaches it sees the slides).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one). The report's slide links "
                                      "open here on the default port.", min=0,
                                      max=65535)] = 8765,
    slide_mpp: SlideMppOption = None,
) -> None:
    """Serve slides to your browser: deep zoom at full resolution, overlays, scores.

    Open the printed URL: a list of the slides (with their scores when --slidescores is
    given) links to each slide's viewer. The space bar shows and hides the overlay, the
    menu (or [ and ]) switches between tumour probability, heatmap and embedding
    clusters, and the read-out gives the value under the pointer. While it runs, the
    slide links in featx reports open here. Ctrl-C stops it.

    \b
    Example:
      featx view slides/ --slidescores scores/ --store store/
    """
    from featx.report.live_viewer import ViewerSources, serve, viewer_slides

    found = _readable(viewer_slides(slides), slide_mpp)
    if store is not None:  # before serving: a damaged store would fail a page, not here
        from featx.embed.store import check_store

        check_store(store, extractor=extractor)
    sources = ViewerSources(found, slidescores=slidescores, store=store, extractor=extractor,
                            n_clusters=n_clusters, slide_mpp=slide_mpp)
    try:
        server = serve(sources, host=host, port=port)
    except OSError as error:
        raise typer.BadParameter(f"cannot listen on {host}:{port} ({error.strerror or error}); "
                                 "pick another --port, or 0 for any free one",
                                 param_hint="--port") from None
    typer.echo(f"featx view: {len(found)} slides at {server.url} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("featx view stopped")
    finally:
        server.server_close()
        server.viewer.close()


def _readable(found: dict[str, Path], slide_mpp: float | None) -> dict[str, Path]:
    """The slides that open; each that does not is said once, and none at all is an error."""
    from featx._validate import mpp
    from featx.errors import SlideError
    from featx.wsi import open_slide

    if slide_mpp is not None:
        mpp("--slide-mpp", slide_mpp)
    readable = {}
    for slide_id, path in found.items():
        try:
            open_slide(path, slide_mpp=slide_mpp).close()
        except SlideError as error:
            if len(found) == 1:
                raise
            warn(f"left out: {error}")
            continue
        readable[slide_id] = path
    if not readable:
        raise typer.BadParameter(f"none of the {len(found)} slides opens (each is named above)",
                                 param_hint="SLIDES")
    return readable
