"""Per-slide lock files, safe across processes and hosts that share a store folder.

Each slide is processed under a lock file created with ``O_CREAT | O_EXCL`` in
``<root>/extractor=<NAME>/.locks/``; its owner refreshes it every few seconds. A
lock whose owner process is gone (same host) or that was not refreshed for
``stale_after_s`` (other hosts) is broken, without ever breaking a fresh lock that
another process took in between.

A lock file featx did not write whole (JSON of another shape, or anything unreadable
after a few seconds) is stale too, and breaking it says so in one warning naming the
file, so a stray file never blocks every run. Waiting for a live owner says whose lock it
is and how long the wait may last.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from featx._io import pid_alive
from featx._validate import positive_float
from featx.errors import LockTimeoutError


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second (as locks and status tables write it)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class SlideLock:
    """An exclusive per-slide lock file, safe across processes and hosts sharing a folder.

    Parameters
    ----------
    path : path
        The lock file.
    stale_after_s : float
        A lock not refreshed for this long is considered abandoned.
    wait_s : float
        How long :meth:`acquire` waits for a live owner before raising
        :class:`LockTimeoutError`.
    """

    def __init__(self, path: str | Path, *, stale_after_s: float = 300.0,
                 wait_s: float = 3600.0) -> None:
        self.path = Path(path)
        self.stale_after_s = positive_float("stale_after_s", stale_after_s)
        self.wait_s = float(wait_s)
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.waited = False

    def _content(self) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                           "token": self.token, "since": utc_now()}).encode()

    def _is_stale(self, content: bytes, mtime: float) -> bool:
        age = time.time() - mtime
        owner = _owner(content)
        if owner is None:
            being_written = not content or (content.startswith(b"{") and not _is_json(content))
            if age <= 10.0 and being_written:
                return False  # created, not yet written whole: give its writer a moment
            warnings.warn(f"{self.path}: not a lock featx wrote ({content[:60]!r}); treated as "
                          "stale and removed", UserWarning, stacklevel=3)
            return True
        if owner["host"] == socket.gethostname() and not pid_alive(owner["pid"]):
            return True
        return age > self.stale_after_s

    def _break(self, content: bytes) -> None:
        # Move the lock aside, then check we moved the stale one and not a fresh lock
        # another process created in between; if fresh, put it back.
        aside = self.path.with_name(f"{self.path.name}.stale-{uuid.uuid4().hex}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if aside.read_bytes() != content:
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)

    def clear_if_stale(self) -> bool:
        """Remove the lock if its owner is gone; return whether none is left."""
        try:
            content, mtime = self.path.read_bytes(), self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        if self._is_stale(content, mtime):
            self._break(content)
            return not self.path.exists()
        return False

    def acquire(self) -> SlideLock:
        """Take the lock, waiting for a live owner and breaking a stale one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    content, mtime = self.path.read_bytes(), self.path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if self._is_stale(content, mtime):
                    self._break(content)
                    continue
                if time.monotonic() > deadline:
                    raise LockTimeoutError(self.path, describe_owner(content),
                                           self.wait_s) from None
                if not self.waited and self.wait_s >= 1.0:
                    warnings.warn(f"waiting for {self.path}, held by {describe_owner(content)}, "
                                  f"for up to {self.wait_s:.0f} s (if no run is active, delete it)",
                                  UserWarning, stacklevel=2)
                self.waited = True
                time.sleep(0.2)
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(self._content())
            self._start_heartbeat()
            return self

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            interval = max(0.5, min(30.0, self.stale_after_s / 4))
            while not self._stop.wait(interval):
                try:
                    os.utime(self.path)
                except FileNotFoundError:
                    return

        self._heartbeat = threading.Thread(target=beat, daemon=True, name="featx-lock")
        self._heartbeat.start()

    def release(self) -> None:
        """Stop refreshing and remove the lock if it is still ours."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        try:
            owner = _owner(self.path.read_bytes())
        except FileNotFoundError:
            return
        if owner is not None and owner.get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> SlideLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()



def _owner(content: bytes) -> dict[str, Any] | None:
    """The lock's owner (host, pid int, since, token) if it is a lock featx wrote, else None."""
    try:
        owner = json.loads(content)
    except ValueError:
        return None
    if not isinstance(owner, dict) or not isinstance(owner.get("host"), str):
        return None
    pid = owner.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**31:
        return None
    return owner


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


def describe_owner(content: bytes) -> str:
    """Who holds a lock, in words: host, process and since when."""
    owner = _owner(content)
    if owner is None:
        return f"an unreadable lock ({content[:60]!r})"
    return f"process {owner['pid']} on {owner['host']} since {owner.get('since', '?')}"
