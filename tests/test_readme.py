"""CI proves the README: .ci/run runs the README's commands verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_has_install_and_test_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "pip install" in commands[0] and "featx demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_exactly_the_readme_commands_in_order():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install, test = readme_commands()
    assert install in ci_lines and test in ci_lines
    assert ci_lines.index(install) < ci_lines.index(test)
