"""The HTML page of a report: one file that travels, answers first, nothing broken.

* **Self-contained**: figures are data URIs; the CSV tables and ``provenance.json`` are
  embedded as downloads (``<a download href="data:...">``), so the page alone, e-mailed or
  moved, keeps every link but the slide viewers (folders of tiles; the report folder or
  its zip, ``featx report --bundle``, has them). A viewer link checks that its files are
  there and says so when they are not.
* **Readable**: the summary of every experiment under the title; no line break inside a
  number, an interval, an ID or a gene name, on screen or in print (tables scroll
  sideways on a narrow screen instead); no machine path anywhere.
* **Checkable**: the page's script writes what a headless browser needs on ``<html>``:
  ``data-figures-rendered``/``-total``, ``data-tables-overflowing``,
  ``data-tokens-broken``, ``data-links-missing``; ``featxLayout()`` measures again after
  a resize.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from featx.report.model import Report, Section, Summary, Table, Verdict, format_cell, slug
from featx.report.text import strip_paths

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:1.2em auto;
padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{border-bottom:2px solid #2a5db0;margin:.2em 0 .3em;font-size:1.7em}
h2{margin-top:1.8em;color:#2a5db0}h3{margin:.6em 0 .2em;font-size:1em}
.flags{background:#fff4e5;border-left:6px solid #d97706;padding:.4em .8em;margin:.4em 0;font-weight:600}
.flag{color:#9a3412;font-weight:600;margin:.3em 0}
.summary{margin-top:.6em}.summary h2{margin-top:.4em}
.summary .cols{display:grid;grid-template-columns:1fr 1fr;gap:0 2em}
.summary ul{margin:.2em 0;padding-left:1.2em}.summary li{margin:.15em 0}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption,p.caption{font-size:.9em;color:#444}p.caption{margin:1.2em 0 .2em}
.table-wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#eef2fa;overflow-wrap:normal;word-break:normal;hyphens:manual}
td{white-space:nowrap}td.long{white-space:normal;min-width:16em}
td:first-child,th:first-child,td.text,th.text{text-align:left}
.w{white-space:nowrap}
.verdict{border-left:6px solid #888;background:#f5f5f5;padding:.6em 1em;margin:1em 0}
.verdict.significant{border-color:#1a7f37;background:#eef8f0}
.verdict .headline{font-size:1.15em;font-weight:600;margin:0 0 .3em}
.verdict dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.4em 0}
.verdict dt{color:#555}.verdict dd{margin:0}
.caveats li{margin:.3em 0}
a.missing{color:#999}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.8em;white-space:pre-wrap}
@media print{body{max-width:none;margin:0;font-size:10pt}h2{break-before:auto;break-after:avoid}
figure,table,.verdict,.summary{break-inside:avoid}a{color:inherit;text-decoration:none}
table{font-size:8pt}.table-wrap{overflow:visible}
details{display:none}figure img{max-height:22cm}}
"""
# Writes on <html> what a headless browser checks; featxLayout() measures again after a resize.
_SCRIPT = """
function featxLayout(){var d=document.documentElement.dataset;
d.tablesOverflowing=Array.from(document.querySelectorAll('.table-wrap'))
  .filter(function(w){return w.scrollWidth>w.clientWidth+1}).length;
d.tokensBroken=Array.from(document.querySelectorAll('.w'))
  .filter(function(s){return s.getClientRects().length>1}).length;}
window.addEventListener('load',function(){var i=Array.from(document.images);
var d=document.documentElement.dataset;d.figuresTotal=i.length;
d.figuresRendered=i.filter(function(x){return x.complete&&x.naturalWidth>0}).length;
featxLayout();
var probes=Array.from(document.querySelectorAll('a[data-probe]')),left=probes.length,missing=0;
if(!left){d.linksMissing=0;}
probes.forEach(function(a){var img=new Image();
  function done(ok){if(!ok){missing++;a.classList.add('missing');a.insertAdjacentText('afterend',
    ' (not in this copy: open the report folder, or unzip the report bundle)');}
    if(--left===0){d.linksMissing=missing;}}
  img.onload=function(){done(true)};img.onerror=function(){done(false)};
  img.src=a.getAttribute('data-probe');});});
window.addEventListener('resize',featxLayout);
"""
_INTERVAL = re.compile(r"\[[^\]]*\]")
_RELATION = re.compile(r"\b([pq]) ([=<]) ")


def words(text: str) -> str:
    """``text`` as HTML that breaks only between words, never inside a number or a name.

    Machine paths are shortened first (:func:`featx.report.text.strip_paths`). An
    interval ("[+0.29, +0.35]") and "p = 0.01" keep their spaces unbreakable, and a word
    with a hyphen or slash (STANDIN-IMMUNE, HLA-DRA) is kept whole.
    """
    text = strip_paths(str(text))
    text = _INTERVAL.sub(lambda m: m.group(0).replace(" ", "\u00a0"), text)
    text = _RELATION.sub(lambda m: f"{m.group(1)}\u00a0{m.group(2)}\u00a0", text)
    out = []
    for token in text.split(" "):
        escaped = html.escape(token)
        out.append(f"<span class='w'>{escaped}</span>" if re.search(r"\w[-/‐–]\w", token)
                   else escaped)
    return " ".join(out)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _link(href: str, text: str, embedded: Mapping[str, bytes]) -> str:
    """A link to a file of the report folder: embedded as a download when it is."""
    if href in embedded:
        mime = "application/json" if href.endswith(".json") else "text/csv"
        return (f"<a download='{html.escape(href.rsplit('/', 1)[-1])}' "
                f"href='{_data_uri(embedded[href], mime)}'>{words(text)}</a>")
    return f"<a href='{html.escape(href)}'>{words(text)}</a>"


def render(report: Report, provenance: dict[str, Any], *,
           embedded: Mapping[str, bytes]) -> str:
    """The page of ``report``; ``embedded``: files of the folder carried in the page."""
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width,initial-scale=1'>"
             f"<title>{html.escape(strip_paths(report.title))}</title><style>{_CSS}</style>"
             f"<script>{_SCRIPT}</script></head><body><h1>{words(report.title)}</h1>"]
    if report.flags:
        parts.append("<p class='flags'>" + "<br>".join(words(f) for f in report.flags) + "</p>")
    if report.summary is not None:
        parts.append(_summary_html(report.summary))
    parts += [_section_html(section, embedded) for section in report.sections]
    parts.append("<section><h2>Provenance</h2>")
    if report.facts is not None and len(report.facts):
        parts.append(_frame_html(report.facts))
    parts.append("<details><summary>Full provenance (JSON; also "
                 + _link("provenance.json", "provenance.json", embedded) + ")</summary><pre>"
                 + html.escape(strip_paths(json.dumps(provenance, indent=2, default=str,
                                                      ensure_ascii=False)))
                 + "</pre></details></section></body></html>")
    return "\n".join(parts)


def _summary_html(summary: Summary) -> str:
    parts = ["<section class='summary'><h2>Summary</h2>"]
    if len(summary.answers):
        parts.append(_frame_html(summary.answers))
    columns = []
    for heading, items in (("What was run", [*summary.extractors, *summary.data]),
                           ("Read with care", summary.caveats)):
        if items:
            columns.append(f"<div><h3>{heading}</h3><ul class='caveats'>"
                           + "".join(f"<li>{words(i)}</li>" for i in items) + "</ul></div>")
    parts.append(f"<div class='cols'>{''.join(columns)}</div></section>")
    return "".join(parts)


def _section_html(section: Section, embedded: Mapping[str, bytes]) -> str:
    parts = [f"<section><h2>{words(section.heading)}</h2>"]
    if section.verdict is not None:
        parts.append(_verdict_html(section.verdict))
    parts += [f"<p>{words(p)}</p>" for p in section.paragraphs]
    if section.bullets:
        parts.append("<ul class='caveats'>" + "".join(
            f"<li>{words(b)}</li>" for b in section.bullets) + "</ul>")
    for fig in section.figures:
        bar = " data-colour-bar='true'" if fig.colour_bar else ""
        parts.append(f"<figure{bar}><img alt='{html.escape(fig.name)}' "
                     f"src='{_data_uri(fig.png, 'image/png')}'>"
                     f"<figcaption>{words(fig.caption)}</figcaption></figure>")
    if section.links:
        parts.append("<ul class='links'>" + "".join(
            f"<li>{_file_link(text, href, section.files)}</li>"
            for text, href in section.links) + "</ul>")
    parts += [_table_html(table, embedded) for table in section.tables]
    parts.append("</section>")
    return "".join(parts)


def _file_link(text: str, href: str, files: Mapping[str, bytes]) -> str:
    """A link to a page written beside the report, with an image of its folder as a probe."""
    probe = next((name for name in files if name.startswith(href.removesuffix(".html") + "/")
                  and name.endswith((".png", ".jpeg", ".jpg"))), None)
    attribute = f" data-probe='{html.escape(probe)}'" if probe else ""
    return f"<a href='{html.escape(href)}'{attribute}>{words(text)}</a>"


def _verdict_html(verdict: Verdict) -> str:
    facts = "".join(f"<dt>{words(k)}</dt><dd>{words(v)}</dd>" for k, v in verdict.facts)
    flags = "".join(f"<p class='flag'>{words(f)}</p>" for f in verdict.flags)
    kind = "verdict significant" if verdict.significant else "verdict"
    return (f"<div class='{kind}'><p class='headline'>{words(verdict.headline)}</p>{flags}"
            f"<dl>{facts}</dl><p>{words(verdict.sentence)}</p></div>")


def _table_html(table: Table, embedded: Mapping[str, bytes]) -> str:
    full = table.display if table.display is not None else table.frame
    shown, total = full.head(table.max_rows), len(full)
    path = f"tables/{slug(table.name)}.csv"
    link = _link(path, f"{slug(table.name)}.csv", embedded)
    note = (f" (first {len(shown)} of {total} rows; all rows and columns in {link})"
            if len(shown) < total else f" (all columns in {link})")
    return (f"<p class='caption'>{words(table.caption or table.name)}{note}</p>"
            + _frame_html(shown))


def _frame_html(frame: pd.DataFrame) -> str:
    text = [not (pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
        frame[c])) for c in frame.columns]
    head = "".join(f"<th{' class=text' if t else ''}>{words(str(c))}</th>"
                   for c, t in zip(frame.columns, text))
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for value, text_column in zip(row, text):
            shown = format_cell(value)
            numeric = isinstance(value, (int, float, np.number)) or (shown == "–"
                                                                    and not text_column)
            kind = "" if numeric else (" class='text long'" if len(shown) > 40 else " class='text'")
            cells.append(f"<td{kind}>{words(shown)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


__all__ = ["render", "words"]
