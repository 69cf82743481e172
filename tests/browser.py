"""Open pages in headless Chromium: count rendered figures, take screenshots, drive a page.

:func:`render` and :func:`dump_dom` run Chromium once on a page; :func:`browser_page` drives
one through Playwright (the system Chromium, no browser download), so a test waits for what
the page does (a tile loaded, a key handled) instead of for a fixed time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def visible_text(html: str) -> str:
    """What a reader sees of some HTML: the text without tags, non-breaking spaces as spaces."""
    return re.sub(r"<[^>]+>", "", html).replace("\u00a0", " ")


def html_data(dom: str, name: str) -> str | None:
    """A ``data-<name>`` attribute of the page's <html> element, as the page's script set it."""
    head = re.search(r"<html[^>]*>", dom)
    found = re.search(rf'data-{name}="([^"]*)"', head.group(0)) if head else None
    return found.group(1) if found else None


@contextmanager
def browser_page(*, width: int = 1200, height: int = 800) -> Iterator[Any]:
    """A Playwright page in headless Chromium (skips without Playwright or Chromium).

    Wait on the page's own state, e.g. ``page.wait_for_function("...")``: the test then holds
    on a loaded machine, where a fixed time budget runs out before tiles arrive.
    """
    binary = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (pip install "
                                   "playwright; featx[dev] has it) drives Chromium")
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith(("--headless", "--virtual-time"))]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=flags)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def wait_for_data(page: Any, name: str, test: str, *, timeout_s: float = 120.0) -> str:
    """Wait until the <html> element's ``data-<name>`` satisfies the JS expression ``test``
    on ``v`` (its value), then return that value."""
    key = "".join(w.title() if i else w for i, w in enumerate(name.split("-")))
    page.wait_for_function(f"(() => {{ const v = document.documentElement.dataset.{key}; "
                           f"return v !== undefined && ({test}); }})()", timeout=timeout_s * 1000)
    return page.evaluate(f"document.documentElement.dataset.{key}")
