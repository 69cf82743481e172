"""Reports a PI can read: one HTML file that travels, plus Markdown, CSV tables and provenance.

:func:`build_report` assembles the summary and the sections from stored results
(``featx evaluate`` and ``featx slidescore`` outputs, a store); :func:`write_report`
writes the document and :func:`write_bundle` zips its folder. Nothing is refitted or
recomputed here.
"""

from featx.report.builder import build_report, collect_provenance
from featx.report.bundle import write_bundle
from featx.report.document import write_report
from featx.report.experiments import experiment_section, experiment_sections
from featx.report.model import (
    Figure,
    Report,
    ReportFiles,
    Section,
    Summary,
    Table,
    Verdict,
    format_cell,
)
from featx.report.slides import nearest_tiles_section, slidescore_section

__all__ = ["Figure", "Report", "ReportFiles", "Section", "Summary", "Table", "Verdict",
           "build_report", "collect_provenance", "experiment_section", "experiment_sections",
           "format_cell", "nearest_tiles_section", "slidescore_section", "write_bundle",
           "write_report"]
