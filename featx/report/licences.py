"""The terms of the published models behind a report's results, beside those results.

An extractor run with ``--preset`` (:mod:`featx.extractors.presets`) records the model's
licence, gating and commercial-use terms in the provenance of its embeddings, from
where ``featx evaluate`` carries them into its results. This section lists them, so a
reader of a result knows under which terms the model that made it may be used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from featx.report.document import Section


def _presets(value: Any) -> dict[str, dict[str, Any]]:
    """Extractor name -> preset record, for every extractor config holding one."""
    found: dict[str, dict[str, Any]] = {}
    if isinstance(value, Mapping):
        preset = value.get("preset")
        if isinstance(preset, Mapping) and "licence" in preset:
            found[str(value.get("name") or preset.get("name"))] = dict(preset)
        for item in value.values():
            found.update(_presets(item))
    elif isinstance(value, list):
        for item in value:
            found.update(_presets(item))
    return found


def licence_section(record: Mapping[str, Any]) -> Section | None:
    """A section naming each preset model's terms, or None when no result used one."""
    presets = _presets(record)
    if not presets:
        return None
    bullets = [f"{extractor} is {p['name']} ({p.get('repository', '')}): licence "
               f"{p['licence']}; gated: {p.get('gated')}; commercial use: "
               f"{p.get('commercial_use')}. Source: {p.get('source')}"
               for extractor, p in sorted(presets.items())]
    return Section("Terms of the models behind these results", [
        "These results use embeddings of published models; their authors' terms apply to "
        "any use of the models and, for some, of what is derived from them."], bullets=bullets)


__all__ = ["licence_section"]
