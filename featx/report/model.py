"""What a report is made of: figures, tables, verdict cards, sections, the summary at the top.

:mod:`featx.report.document` writes a :class:`Report` to disk; :mod:`featx.report.page`
renders its HTML. Nothing here computes a statistic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._figures import figure_png


@dataclass
class Figure:
    """A figure: PNG bytes and a caption."""

    name: str
    png: bytes
    caption: str = ""
    colour_bar: bool = False  # marks heatmaps drawn with their scale, for the browser test

    @classmethod
    def from_matplotlib(cls, name: str, figure: Any, caption: str = "", *, dpi: int = 110,
                        colour_bar: bool = False) -> Figure:
        """Render a matplotlib figure to PNG."""
        return cls(name, figure_png(figure, dpi=dpi), caption, colour_bar)


@dataclass
class Table:
    """A table written whole as CSV and shown, key columns first, in the report.

    Parameters
    ----------
    name : str
        File stem of ``tables/<name>.csv``.
    frame : pandas.DataFrame
        Everything, written to the CSV.
    caption : str
    max_rows : int
        Rows shown; the CSV has all of them.
    display : pandas.DataFrame, optional
        What the page shows instead of ``frame`` (a few readable columns); the page
        links to the CSV for the rest.
    """

    name: str
    frame: pd.DataFrame
    caption: str = ""
    max_rows: int = 60
    display: pd.DataFrame | None = None


@dataclass
class Verdict:
    """The answer of one experiment, shown first under its heading.

    Parameters
    ----------
    headline : str
        One line: which extractor is better, or that there is no evidence of a difference.
    facts : list of (label, value)
        Difference with its stated interval, the test by name, p, q, n.
    significant : bool
        Whether the headline names a winner (styles the card).
    sentence : str
        One plain sentence of interpretation.
    test : str
        The test behind the verdict, as the result names it (for the summary table).
    extractors : tuple of str
        The extractors the card is about.
    flags : list of str
        What a reader must know about those extractors before believing the card
        (stand-ins, random weights, barely trained), shown inside it.
    """

    headline: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    significant: bool = False
    sentence: str = ""
    test: str = ""
    extractors: tuple[str, ...] = ()
    flags: list[str] = field(default_factory=list)


@dataclass
class Section:
    """A heading, its verdict, paragraphs, figures and tables."""

    heading: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    verdict: Verdict | None = None
    bullets: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, path in the folder)
    files: dict[str, bytes] = field(default_factory=dict)  # written beside the report


@dataclass
class Summary:
    """The top of a report: every experiment's answer, what was run on what, the caveats.

    Parameters
    ----------
    answers : pandas.DataFrame
        One row per verdict card: experiment, extractors, answer, test.
    extractors : list of str
        Each extractor and its state (trained, fine-tuned for how long, random, stand-in).
    data : list of str
        What the experiments ran on (patients, slides, tiles, targets, folds).
    caveats : list of str
        What changes the reading of the answers.
    """

    answers: pd.DataFrame
    extractors: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)


@dataclass
class Report:
    """A whole report.

    Parameters
    ----------
    title : str
    provenance : dict
        JSON-serialisable record of what produced the results.
    sections : list of Section
    facts : pandas.DataFrame, optional
        The provenance as a readable table (source, fact, value); the JSON stays one
        click away.
    summary : Summary, optional
        Shown first, under the title.
    flags : list of str
        Shown with the title: extractors that are not what their names promise.
    """

    title: str
    provenance: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    facts: pd.DataFrame | None = None
    summary: Summary | None = None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`~featx.report.document.write_report` put things."""

    folder: Path
    html: Path
    markdown: Path
    figures: tuple[Path, ...]
    tables: tuple[Path, ...]


def slug(name: str) -> str:
    """A name as a file stem."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "item"


def format_cell(value: object) -> str:
    """A table cell for reading: 3 significant digits, thousands as integers, "–" for missing."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        if abs(value) >= 1000 or float(value).is_integer():
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)
