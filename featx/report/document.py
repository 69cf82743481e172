"""Write self-contained reports: one HTML file with figures embedded, plus Markdown and CSV.

A report is built only from stored tables and figures drawn from them; nothing
is recomputed here. Every report carries a provenance block (data, extractors
and weights hashes, stain fit, folds, seeds, featx version) so a reader can
reproduce it.

Layout of ``reports/<name>/``::

    report.html        self-contained: figures as data URIs, inline CSS
    report.md          the same text; figures referenced from figures/
    figures/*.png
    tables/*.csv
    provenance.json
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from featx import __version__
from featx._figures import figure_png
from featx._io import write_bytes, write_json, write_table, write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{border-bottom:2px solid #2a5db0}h2{margin-top:2em;color:#2a5db0}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}.scroll{overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#eef2fa}
td:first-child,th:first-child{text-align:left}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.8em}
"""
# Marks on the page how many figures decoded, so a headless browser can check them.
_SCRIPT = """
window.addEventListener('load',function(){var i=Array.from(document.images);
document.documentElement.dataset.figuresTotal=i.length;
document.documentElement.dataset.figuresRendered=
  i.filter(function(x){return x.complete&&x.naturalWidth>0}).length;});
"""


@dataclass
class Figure:
    """A figure: PNG bytes and a caption."""

    name: str
    png: bytes
    caption: str = ""

    @classmethod
    def from_matplotlib(cls, name: str, figure: Any, caption: str = "", *, dpi: int = 110) -> Figure:
        """Render a matplotlib figure to PNG."""
        return cls(name, figure_png(figure, dpi=dpi), caption)


@dataclass
class Table:
    """A table shown in the report and written as CSV."""

    name: str
    frame: pd.DataFrame
    caption: str = ""
    max_rows: int = 60


@dataclass
class Section:
    """A heading, paragraphs, figures and tables."""

    heading: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Report:
    """A whole report.

    Parameters
    ----------
    title : str
    provenance : dict
        JSON-serialisable record of what produced the results.
    sections : list of Section
    """

    title: str
    provenance: dict[str, Any]
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`write_report` put things."""

    folder: Path
    html: Path
    markdown: Path
    figures: tuple[Path, ...]
    tables: tuple[Path, ...]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "item"


def write_report(report: Report, folder: str | Path) -> ReportFiles:
    """Write ``report.html``, ``report.md``, figures, tables and provenance into ``folder``.

    Parameters
    ----------
    report : Report
    folder : str or Path
        Created if missing; files are written atomically.

    Returns
    -------
    ReportFiles
    """
    out = Path(folder)
    provenance = {"featx_version": __version__, **report.provenance}
    figures = [write_bytes(out / "figures" / f"{_slug(fig.name)}.png", fig.png)
               for section in report.sections for fig in section.figures]
    tables = [write_table(table.frame, out / "tables" / f"{_slug(table.name)}.csv")
              for section in report.sections for table in section.tables]
    write_json(out / "provenance.json", provenance)
    write_text(out / "report.html", _html(report, provenance))
    write_text(out / "report.md", _markdown(report, provenance))
    return ReportFiles(out, out / "report.html", out / "report.md", tuple(figures), tuple(tables))


def _html(report: Report, provenance: dict[str, Any]) -> str:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{html.escape(report.title)}</title><style>{_CSS}</style>"
             f"<script>{_SCRIPT}</script></head><body><h1>{html.escape(report.title)}</h1>"]
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        for fig in section.figures:
            data = base64.b64encode(fig.png).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(fig.name)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")
        for table in section.tables:
            shown = table.frame.head(table.max_rows)
            more = len(table.frame) - len(shown)
            note = f" (first {len(shown)} of {len(table.frame)} rows; all in tables/)" if more > 0 else ""
            parts.append(f"<p><b>{html.escape(table.caption or table.name)}</b>{note}</p>")
            parts.append("<div class='scroll'>" + shown.to_html(
                index=False, float_format=lambda v: f"{v:.4g}", border=0) + "</div>")
    parts.append("<h2>Provenance</h2><pre>" + html.escape(json.dumps(provenance, indent=2, default=str))
                 + "</pre></body></html>")
    return "\n".join(parts)


def _markdown(report: Report, provenance: dict[str, Any]) -> str:
    lines = [f"# {report.title}", ""]
    for section in report.sections:
        lines += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for fig in section.figures:
            lines += [f"![{fig.caption or fig.name}](figures/{_slug(fig.name)}.png)", ""]
        for table in section.tables:
            lines += [f"**{table.caption or table.name}** (`tables/{_slug(table.name)}.csv`)", ""]
            lines += [_markdown_table(table.frame.head(table.max_rows)), ""]
    lines += ["## Provenance", "", "```json", json.dumps(provenance, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
