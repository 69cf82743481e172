"""featx.embed.locks: malformed lock files are stale and named; waiting says whose and how long."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from featx.embed.locks import SlideLock, describe_owner
from featx.errors import LockTimeoutError


@pytest.mark.parametrize("content", [
    b"123", b"[1, 2]", b'"a string"', b"null", b'{"host": "h"}',
    b'{"host": "HOST", "pid": "12"}', b'{"host": "HOST", "pid": true}',
    b'{"host": "HOST", "pid": -4}', b'{"host": "HOST", "pid": 99999999999999999999}',
    b'{"pid": 12}', b"\xff\xfe garbage",
])
def test_a_lock_of_any_other_shape_is_stale_and_named(tmp_path, content):
    path = tmp_path / "S1.lock"
    path.write_bytes(content.replace(b"HOST", socket.gethostname().encode()))
    with pytest.warns(UserWarning, match=r"S1.lock: not a lock featx wrote .* treated as stale"):
        with SlideLock(path, stale_after_s=3600, wait_s=0.5) as lock:
            assert json.loads(path.read_text())["token"] == lock.token
    assert not path.exists()


def test_an_empty_lock_is_its_writer_s_for_a_moment_then_stale(tmp_path):
    path = tmp_path / "S1.lock"
    path.write_bytes(b"")  # created, not yet written
    with pytest.raises(LockTimeoutError):
        SlideLock(path, stale_after_s=3600, wait_s=0.3).acquire()
    old = time.time() - 60
    os.utime(path, (old, old))
    with pytest.warns(UserWarning, match="not a lock featx wrote"):
        assert SlideLock(path).clear_if_stale()


def test_waiting_on_a_live_lock_says_whose_and_how_long(tmp_path):
    path = tmp_path / "S1.lock"
    with SlideLock(path, stale_after_s=60) as held:
        with pytest.warns(UserWarning, match=rf"waiting for .*S1.lock, held by process "
                          rf"{os.getpid()} on {socket.gethostname()} since .*, for up to 1 s"):
            with pytest.raises(LockTimeoutError, match=rf"held by a live worker \(process "
                               rf"{os.getpid()} on "):
                SlideLock(path, stale_after_s=60, wait_s=1.0).acquire()
        assert json.loads(path.read_text())["token"] == held.token


def test_a_lock_passed_over_without_waiting_says_nothing(tmp_path, recwarn):
    path = tmp_path / "S1.lock"
    with SlideLock(path, stale_after_s=60):
        with pytest.raises(LockTimeoutError):
            SlideLock(path, stale_after_s=60, wait_s=0.0).acquire()
    assert not [w for w in recwarn if "waiting" in str(w.message)]


def test_owners_are_described_in_words():
    assert describe_owner(b'{"host": "h", "pid": 7, "since": "t"}') == "process 7 on h since t"
    assert describe_owner(b"123").startswith("an unreadable lock")
