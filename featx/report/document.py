"""Write reports: one HTML file that travels, plus Markdown, CSV tables and provenance.

A report is built only from stored tables and figures drawn from them; nothing
is recomputed here. Every report carries a provenance block (data, extractors
and weights hashes, stain fit, folds, seeds, featx version) so a reader can
reproduce it; files are named there by name and hash, never by a machine path.

Layout of ``reports/<name>/``::

    report.html        self-contained: figures, CSV tables and provenance.json embedded
    report.md          the same text; figures referenced from figures/
    figures/*.png
    tables/*.csv
    provenance.json
    viewer-*.html      slide viewers (with their tile folders), where slides were given

:func:`featx.report.bundle.write_bundle` zips the folder, so the viewers travel too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from featx import __version__
from featx._io import write_bytes, write_json, write_table, write_text
from featx.report import page
from featx.report.model import (
    Figure,
    Report,
    ReportFiles,
    Section,
    Summary,
    Table,
    Verdict,
    format_cell,
    slug,
)
from featx.report.text import strip_paths, strip_paths_in

#: Tables larger than this are linked beside the page instead of embedded in it.
MAX_EMBEDDED_BYTES = 2_000_000

__all__ = ["MAX_EMBEDDED_BYTES", "Figure", "Report", "ReportFiles", "Section", "Summary",
           "Table", "Verdict", "format_cell", "write_report"]


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
    provenance = strip_paths_in({"featx_version": __version__, **report.provenance})
    figures = [write_bytes(out / "figures" / f"{slug(fig.name)}.png", fig.png)
               for section in report.sections for fig in section.figures]
    tables = [write_table(table.frame, out / "tables" / f"{slug(table.name)}.csv")
              for section in report.sections for table in section.tables]
    for section in report.sections:
        for relative, data in section.files.items():
            write_bytes(out / relative, data)
    record = write_json(out / "provenance.json", provenance)
    embedded = {path.relative_to(out).as_posix(): path.read_bytes()
                for path in [*tables, record] if path.stat().st_size <= MAX_EMBEDDED_BYTES}
    write_text(out / "report.html", page.render(report, provenance, embedded=embedded))
    write_text(out / "report.md", _markdown(report, provenance))
    return ReportFiles(out, out / "report.html", out / "report.md", tuple(figures), tuple(tables))


def _markdown(report: Report, provenance: dict[str, Any]) -> str:
    lines = [f"# {report.title}", ""]
    lines += [*(f"> **{flag}**" for flag in report.flags), ""] if report.flags else []
    if report.summary is not None:
        lines += _summary_markdown(report.summary)
    for section in report.sections:
        lines += [f"## {section.heading}", ""]
        if section.verdict is not None:
            lines += [f"> **{section.verdict.headline}**", ">"]
            lines += [f"> *{flag}*" for flag in section.verdict.flags]
            lines += [f"> - {k}: {v}" for k, v in section.verdict.facts]
            lines += [">", f"> {section.verdict.sentence}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        lines += [*(f"- {b}" for b in section.bullets), ""] if section.bullets else []
        for fig in section.figures:
            lines += [f"![{fig.caption or fig.name}](figures/{slug(fig.name)}.png)", ""]
        lines += [*(f"- [{text}]({href})" for text, href in section.links), ""] if section.links else []
        for table in section.tables:
            shown = table.display if table.display is not None else table.frame
            lines += [f"**{table.caption or table.name}** (`tables/{slug(table.name)}.csv`)", ""]
            lines += [_markdown_table(shown.head(table.max_rows)), ""]
    lines += ["## Provenance", ""]
    if report.facts is not None and len(report.facts):
        lines += [_markdown_table(report.facts), ""]
    lines += ["```json", json.dumps(provenance, indent=2, default=str, ensure_ascii=False),
              "```", ""]
    return strip_paths("\n".join(lines))


def _summary_markdown(summary: Summary) -> list[str]:
    lines = ["## Summary", ""]
    if len(summary.answers):
        lines += [_markdown_table(summary.answers), ""]
    for heading, items in (("What was run", [*summary.extractors, *summary.data]),
                           ("Read with care", summary.caveats)):
        if items:
            lines += [f"**{heading}**", "", *(f"- {item}" for item in items), ""]
    return lines


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return format_cell(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
