"""Reports a PI can read: one self-contained HTML file, plus Markdown, CSV tables and provenance.

:func:`build_report` assembles sections from stored results (``featx evaluate`` and
``featx slidescore`` outputs, a store); :func:`write_report` writes the document.
Nothing is refitted or recomputed here.
"""

from featx.report.builder import build_report, collect_provenance
from featx.report.document import (
    Figure,
    Report,
    ReportFiles,
    Section,
    Table,
    Verdict,
    format_cell,
    write_report,
)
from featx.report.experiments import experiment_section, experiment_sections
from featx.report.slides import nearest_tiles_section, slidescore_section

__all__ = ["Figure", "Report", "ReportFiles", "Section", "Table", "Verdict", "build_report",
           "collect_provenance", "experiment_section", "format_cell", "experiment_sections",
           "nearest_tiles_section", "slidescore_section", "write_report"]
