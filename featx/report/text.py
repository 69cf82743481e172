"""How a report writes numbers and names: one p-value format, signed differences, no machine paths.

Every card, caption, table and sentence of a report formats through these, so one
p-value reads the same everywhere ("p = 0.012", "p < 0.0001"; in a table cell
"0.012", "<0.0001") and no absolute path of the machine that ran it reaches the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Below this a p- or q-value is written as "<0.0001".
P_FLOOR = 1e-4


def _finite(value: object) -> bool:
    try:
        return value is not None and bool(np.isfinite(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def fmt_p(value: object) -> str:
    """A p- or q-value for a table cell: two significant digits, "<0.0001" below that."""
    if not _finite(value):
        return "n/a"
    number = float(value)  # type: ignore[arg-type]
    return "<0.0001" if number < P_FLOOR else f"{number:.2g}"


def p_phrase(value: object, name: str = "p") -> str:
    """A p- or q-value in a sentence: "p = 0.012", "p < 0.0001", "p n/a"."""
    cell = fmt_p(value)
    if cell == "n/a":
        return f"{name} n/a"
    return f"{name} < {cell[1:]}" if cell.startswith("<") else f"{name} = {cell}"


def fmt_num(value: object, digits: int = 3) -> str:
    """A signed difference, ``digits`` decimals ("+0.042"), "n/a" when undefined."""
    return f"{float(value):+.{digits}f}" if _finite(value) else "n/a"  # type: ignore[arg-type]


def fmt_score(value: object, digits: int = 3) -> str:
    """A score (accuracy, r, AUC), ``digits`` decimals, "n/a" when undefined."""
    return f"{float(value):.{digits}f}" if _finite(value) else "n/a"  # type: ignore[arg-type]


def fmt_interval(low: object, high: object, *, signed: bool = True) -> str:
    """An interval "[+0.290, +0.354]" (``signed``) or "[0.290, 0.354]"."""
    number = fmt_num if signed else fmt_score
    return f"[{number(low)}, {number(high)}]"


# An absolute POSIX path (two or more parts) or a Windows one, not part of a URL.
_PATH = re.compile(r"(?<![\w.:/~-])(?:/(?:[^\s/'\"<>|]+/)+[^\s/'\"<>|,;)]*"
                   r"|[A-Za-z]:\\(?:[^\s\\'\"<>|]+\\)*[^\s\\'\"<>|,;)]*)")


def strip_paths(text: str) -> str:
    """``text`` with every absolute path shortened to its last part: ``…/name``.

    A report travels (e-mailed, printed); the folders of the machine that made it say
    nothing to its reader and may say too much about that machine. Files are named by
    name and hash; the inputs' own provenance files keep the full paths.
    """
    def short(match: re.Match[str]) -> str:
        parts = [p for p in re.split(r"[/\\]", match.group(0)) if p]
        return "…/" + parts[-1] if parts else match.group(0)

    return _PATH.sub(short, text)


def strip_paths_in(value: Any) -> Any:
    """A JSON-like record with :func:`strip_paths` applied to every string in it."""
    if isinstance(value, str):
        return strip_paths(value)
    if isinstance(value, Mapping):
        return {strip_paths(str(k)): strip_paths_in(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strip_paths_in(v) for v in value]
    return value


__all__ = ["P_FLOOR", "fmt_interval", "fmt_num", "fmt_p", "fmt_score", "p_phrase",
           "strip_paths", "strip_paths_in"]
