"""Open an HTML file in headless Chromium: count rendered figures and take a screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=5000",
]


def chromium() -> str:
    """Path of a Chromium binary, or skip the test saying how to install one."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")


def render(page: Path, screenshot: Path, *, height_px: int = 6000) -> tuple[int, int]:
    """Load ``page``; save a full screenshot; return (figures rendered, figures total).

    Reads the counts that the report's own script writes on the <html> element once
    every image has loaded.
    """
    binary = chromium()
    url = page.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run([binary, *flags, "--dump-dom", url], capture_output=True,
                             text=True, timeout=120, check=True).stdout
        subprocess.run([binary, *flags, f"--screenshot={screenshot}",
                        f"--window-size=1200,{height_px}", url],
                       capture_output=True, timeout=120, check=True)
    rendered = re.search(r'data-figures-rendered="(\d+)"', dom)
    total = re.search(r'data-figures-total="(\d+)"', dom)
    if not (rendered and total):
        raise AssertionError("the page did not report its figures (did its script run?)")
    return int(rendered.group(1)), int(total.group(1))


def dump_dom(url: str, *, screenshot: Path | None = None, window: str = "1200,800") -> str:
    """The DOM of ``url`` (a file URI, a ``#fragment`` allowed) after its scripts ran."""
    binary = chromium()
    with tempfile.TemporaryDirectory() as profile:
        flags = [*CHROMIUM_FLAGS, "--virtual-time-budget=10000", f"--user-data-dir={profile}",
                 f"--window-size={window}"]
        dom = subprocess.run([binary, *flags, "--dump-dom", url], capture_output=True,
                             text=True, timeout=120, check=True).stdout
        if screenshot is not None:
            subprocess.run([binary, *flags, f"--screenshot={screenshot}", url],
                           capture_output=True, timeout=120, check=True)
    return dom


def html_data(dom: str, name: str) -> str | None:
    """A ``data-<name>`` attribute of the page's <html> element, as the page's script set it."""
    head = re.search(r"<html[^>]*>", dom)
    found = re.search(rf'data-{name}="([^"]*)"', head.group(0)) if head else None
    return found.group(1) if found else None
