"""Matplotlib figures without pyplot: no global state, no display, safe in threads and workers.

Every featx figure is a :class:`matplotlib.figure.Figure` on an Agg canvas, so nothing
depends on the user's backend and nothing needs closing.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from featx._io import atomic_path


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (5.0, 4.5),
             dpi: int = 100, **options: Any) -> tuple[Any, Any]:
    """A new figure and its axes, as ``pyplot.subplots`` returns them (``squeeze`` etc. apply)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **options)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a figure atomically; the format follows the suffix (png, pdf, svg)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")
    return path


def figure_png(fig: Any, *, dpi: int = 110) -> bytes:
    """A figure rendered to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()
