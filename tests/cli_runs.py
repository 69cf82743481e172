"""Running ``featx`` as its script runs it, in this process: ``main()`` with ``sys.argv`` set."""

from __future__ import annotations

import sys

import pytest

from featx.cli import main


def run_main(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
             *args: str) -> tuple[int, str]:
    """Run ``featx ARGS``; return its exit code and its one stderr line (asserted to be one)."""
    monkeypatch.setattr(sys, "argv", ["featx", *args])
    code = 0
    try:
        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    _, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return code, lines[0]
