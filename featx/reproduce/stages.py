"""Finished stages of a run (a reproduction, the demo), recorded so that a rerun skips them.

``<out>/_stages.json`` maps each finished stage to the configuration it ran with, a
one-line summary and the seconds it took (what the plan's measured costs are derived
from). A stage whose configuration changed runs again; the stages
themselves are resumable too (downloads resume from ``.part`` files, extraction skips
finished slides, fine-tuning resumes from its checkpoint), so an interruption inside a
stage loses little.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from featx._io import write_json
from featx._provenance import json_value
from featx.embed.plan import duration_text

STAGES_FILE = "_stages.json"


class StageLog:
    """The record of finished stages in one output folder.

    Parameters
    ----------
    out : path
        The run's output folder.
    echo : callable
        Where progress lines go (``print``, ``typer.echo``).
    """

    def __init__(self, out: str | Path, echo: Callable[[str], None] = print) -> None:
        self.path = Path(out) / STAGES_FILE
        self.echo = echo
        self.done: dict[str, Any] = (json.loads(self.path.read_text(encoding="utf-8"))
                                     if self.path.is_file() else {})

    def run(self, name: str, config: dict[str, Any], work: Callable[[], str]) -> bool:
        """Run ``work`` unless stage ``name`` finished with this ``config``; return whether it ran.

        ``work`` returns a one-line summary, recorded and printed with the time it took.
        """
        config = json_value(config)
        previous = self.done.get(name)
        if previous is not None and previous.get("config") == config:
            self.echo(f"[{name}] done before: {previous.get('summary', '')}")
            return False
        self.echo(f"[{name}] running")
        start = time.perf_counter()
        summary = work()
        seconds = round(time.perf_counter() - start, 1)
        self.done[name] = {"config": config, "summary": summary, "seconds": seconds}
        write_json(self.path, self.done)
        self.echo(f"[{name}] {summary} ({duration_text(seconds)})")
        return True

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds each finished stage took when it ran."""
        return {name: record.get("seconds", 0.0) for name, record in self.done.items()}
