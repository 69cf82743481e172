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

import numpy as np
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
table{border-collapse:collapse;font-size:.85em;margin:1em 0;max-width:100%}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#eef2fa;overflow-wrap:anywhere}
td:first-child,th:first-child{text-align:left}td.text{text-align:left;overflow-wrap:anywhere}
.verdict{border-left:6px solid #888;background:#f5f5f5;padding:.6em 1em;margin:1em 0}
.verdict.significant{border-color:#1a7f37;background:#eef8f0}
.verdict .headline{font-size:1.15em;font-weight:600;margin:0 0 .3em}
.verdict dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.4em 0}
.verdict dt{color:#555}.verdict dd{margin:0}
.caveats li{margin:.3em 0}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.8em;white-space:pre-wrap}
@media print{body{max-width:none;margin:0;font-size:10pt}h2{break-before:auto;break-after:avoid}
figure,table,.verdict{break-inside:avoid}a{color:inherit;text-decoration:none}
details{display:none}figure img{max-height:22cm}}
"""
# Marks on the page how many figures decoded, so a headless browser can check them.
_SCRIPT = """
window.addEventListener('load',function(){var i=Array.from(document.images);
document.documentElement.dataset.figuresTotal=i.length;
document.documentElement.dataset.figuresRendered=
  i.filter(function(x){return x.complete&&x.naturalWidth>0}).length;
var w=document.body.clientWidth;
document.documentElement.dataset.tablesOverflowing=Array.from(document.querySelectorAll('table'))
  .filter(function(t){return t.getBoundingClientRect().width>w+1}).length;});
"""


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
        Difference with its stated interval, p, q, n.
    significant : bool
        Whether the headline names a winner (styles the card).
    sentence : str
        One plain sentence of interpretation.
    """

    headline: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    significant: bool = False
    sentence: str = ""


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
    """

    title: str
    provenance: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    facts: pd.DataFrame | None = None


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


def format_cell(value: object) -> str:
    """A table cell for reading: 3 significant digits, thousands as integers, "–" for missing."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        if abs(value) >= 1000 or float(value).is_integer():
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


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
    for section in report.sections:
        for relative, data in section.files.items():
            write_bytes(out / relative, data)
    write_json(out / "provenance.json", provenance)
    write_text(out / "report.html", _html(report, provenance))
    write_text(out / "report.md", _markdown(report, provenance))
    return ReportFiles(out, out / "report.html", out / "report.md", tuple(figures), tuple(tables))


def _html(report: Report, provenance: dict[str, Any]) -> str:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
             f"<title>{html.escape(report.title)}</title><style>{_CSS}</style>"
             f"<script>{_SCRIPT}</script></head><body><h1>{html.escape(report.title)}</h1>"]
    for section in report.sections:
        parts.append(f"<section><h2>{html.escape(section.heading)}</h2>")
        if section.verdict is not None:
            parts.append(_verdict_html(section.verdict))
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        if section.bullets:
            parts.append("<ul class='caveats'>" + "".join(
                f"<li>{html.escape(b)}</li>" for b in section.bullets) + "</ul>")
        for fig in section.figures:
            data = base64.b64encode(fig.png).decode("ascii")
            bar = " data-colour-bar='true'" if fig.colour_bar else ""
            parts.append(f"<figure{bar}><img alt='{html.escape(fig.name)}' "
                         f"src='data:image/png;base64,{data}'><figcaption>{html.escape(fig.caption)}</figcaption></figure>")
        if section.links:
            parts.append("<ul class='links'>" + "".join(
                f"<li><a href='{html.escape(href)}'>{html.escape(text)}</a></li>"
                for text, href in section.links) + "</ul>")
        parts += [_table_html(table) for table in section.tables]
        parts.append("</section>")
    parts.append("<section><h2>Provenance</h2>")
    if report.facts is not None and len(report.facts):
        parts.append(_frame_html(report.facts))
    parts.append("<details><summary>Full provenance (JSON; also "
                 "<a href='provenance.json'>provenance.json</a>)</summary><pre>"
                 + html.escape(json.dumps(provenance, indent=2, default=str))
                 + "</pre></details></section></body></html>")
    return "\n".join(parts)


def _verdict_html(verdict: Verdict) -> str:
    facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in verdict.facts)
    kind = "verdict significant" if verdict.significant else "verdict"
    return (f"<div class='{kind}'><p class='headline'>{html.escape(verdict.headline)}</p>"
            f"<dl>{facts}</dl><p>{html.escape(verdict.sentence)}</p></div>")


def _table_html(table: Table) -> str:
    full = table.display if table.display is not None else table.frame
    shown, total = full.head(table.max_rows), len(full)
    link = f"<a href='tables/{_slug(table.name)}.csv'>tables/{_slug(table.name)}.csv</a>"
    note = (f" (first {len(shown)} of {total} rows; all rows and columns in {link})"
            if len(shown) < total else f" (all columns in {link})")
    return (f"<p><b>{html.escape(table.caption or table.name)}</b>{note}</p>"
            + _frame_html(shown))


def _frame_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            text = format_cell(value)
            numeric = isinstance(value, (int, float, np.number)) or text == "–"
            cells.append(f"<td{'' if numeric else ' class=text'}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _markdown(report: Report, provenance: dict[str, Any]) -> str:
    lines = [f"# {report.title}", ""]
    for section in report.sections:
        lines += [f"## {section.heading}", ""]
        if section.verdict is not None:
            lines += [f"> **{section.verdict.headline}**", ">"]
            lines += [f"> - {k}: {v}" for k, v in section.verdict.facts]
            lines += [">", f"> {section.verdict.sentence}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        lines += [*(f"- {b}" for b in section.bullets), ""] if section.bullets else []
        for fig in section.figures:
            lines += [f"![{fig.caption or fig.name}](figures/{_slug(fig.name)}.png)", ""]
        lines += [*(f"- [{text}]({href})" for text, href in section.links), ""] if section.links else []
        for table in section.tables:
            shown = table.display if table.display is not None else table.frame
            lines += [f"**{table.caption or table.name}** (`tables/{_slug(table.name)}.csv`)", ""]
            lines += [_markdown_table(shown.head(table.max_rows)), ""]
    lines += ["## Provenance", ""]
    if report.facts is not None and len(report.facts):
        lines += [_markdown_table(report.facts), ""]
    lines += ["```json", json.dumps(provenance, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return format_cell(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
