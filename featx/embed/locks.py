"""Per-slide lock files, safe across processes and hosts that share a store folder.

Each slide is processed under a lock file created with ``O_CREAT | O_EXCL`` in
``<root>/extractor=<NAME>/.locks/``; its owner refreshes it every few seconds. A
lock whose owner process is gone (same host) or that was not refreshed for
``stale_after_s`` (other hosts) is broken, without ever breaking a fresh lock that
another process took in between.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

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
        try:
            owner = json.loads(content)
        except ValueError:
            # Created but not yet written, or its writer died between the two.
            return age > 10.0
        if owner.get("host") == socket.gethostname() and not pid_alive(int(owner["pid"])):
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
                    raise LockTimeoutError(self.path, content.decode(errors="replace"),
                                           self.wait_s) from None
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
            if json.loads(self.path.read_bytes()).get("token") == self.token:
                self.path.unlink()
        except (FileNotFoundError, ValueError):
            pass

    def __enter__(self) -> SlideLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

