"""featx fetch against a loopback HTTP server: resume, corruption, retries, local copies."""

from __future__ import annotations

import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from typer.testing import CliRunner

from featx.cli._app import app
from featx.downloads.fetch import ChecksumError, DownloadError, FetchError, download, fetch, verify_file
from featx.errors import DiskSpaceError, InvalidParameterError

GOOD = os.urandom(300_000)
OTHER = os.urandom(120_000)
ENDLESS = 64 * 2**20  # what an endless body sends at most, so a test on old code ends


class _Handler(BaseHTTPRequestHandler):
    """Serves ``files``; ``behaviour`` per path: truncate-once, corrupt, no-range, 503-once."""

    files: dict[str, bytes] = {}
    behaviour: dict[str, str] = {}
    log: list[tuple[str, str | None]] = []
    sent: dict[str, int] = {}  # bytes the endless body got out before the client hung up

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        name = self.path.lstrip("/")
        self.log.append((name, self.headers.get("Range")))
        if name not in self.files:
            self.send_error(404)
            return
        data, mode = self.files[name], self.behaviour.get(name, "")
        if mode == "endless":  # no Content-Length: a body that ends only when the client leaves
            self.send_response(200)
            self.end_headers()
            self.sent[name] = 0
            try:
                while self.sent[name] < ENDLESS:
                    self.wfile.write(b"\0" * 65536)
                    self.sent[name] += 65536
            except OSError:  # the client stopped reading
                pass
            self.close_connection = True
            return
        if mode == "503-once" and sum(n == name for n, _ in self.log) == 1:
            self.send_error(503)
            return
        if mode == "corrupt":
            data = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "no-range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate-once" and sum(n == name for n, _ in self.log) == 1:
            self.wfile.write(body[: len(body) // 2])  # then hang up mid-body
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    _Handler.files = {"good.bin": GOOD, "truncated.bin": GOOD, "corrupt.bin": GOOD,
                      "norange.bin": GOOD, "flaky.bin": OTHER, "endless.bin": b"",
                      "big.bin": OTHER}
    _Handler.behaviour = {"truncated.bin": "truncate-once", "corrupt.bin": "corrupt",
                          "norange.bin": "no-range", "flaky.bin": "503-once",
                          "endless.bin": "endless"}
    _Handler.log, _Handler.sent = [], {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_plain_download_verifies(server, tmp_path):
    dest = download(server + "good.bin", tmp_path / "good.bin", size=len(GOOD), md5=_md5(GOOD),
                    sha256=hashlib.sha256(GOOD).hexdigest(), backoff_s=0.01)
    assert dest.read_bytes() == GOOD
    assert not (tmp_path / "good.bin.part").exists()
    # Already there and valid: no request at all.
    before = len(_Handler.log)
    download(server + "good.bin", dest, size=len(GOOD), md5=_md5(GOOD))
    assert len(_Handler.log) == before


def test_truncated_response_is_resumed_with_range(server, tmp_path):
    dest = download(server + "truncated.bin", tmp_path / "t.bin", size=len(GOOD),
                    md5=_md5(GOOD), backoff_s=0.01)
    assert dest.read_bytes() == GOOD
    requests = [r for n, r in _Handler.log if n == "truncated.bin"]
    assert requests == [None, f"bytes={len(GOOD) // 2}-"]


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    (tmp_path / "g.bin.part").write_bytes(GOOD[:123_456])
    dest = download(server + "good.bin", tmp_path / "g.bin", md5=_md5(GOOD), backoff_s=0.01)
    assert dest.read_bytes() == GOOD
    assert _Handler.log == [("good.bin", "bytes=123456-")]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    (tmp_path / "n.bin.part").write_bytes(GOOD[:1000])
    dest = download(server + "norange.bin", tmp_path / "n.bin", md5=_md5(GOOD), backoff_s=0.01)
    assert dest.read_bytes() == GOOD


def test_corrupted_file_is_detected_and_never_kept(server, tmp_path):
    with pytest.raises(ChecksumError, match="md5"):
        download(server + "corrupt.bin", tmp_path / "c.bin", size=len(GOOD), md5=_md5(GOOD),
                 backoff_s=0.01)
    assert not (tmp_path / "c.bin").exists() and not (tmp_path / "c.bin.part").exists()


def test_transient_errors_are_retried_permanent_ones_not(server, tmp_path):
    dest = download(server + "flaky.bin", tmp_path / "f.bin", md5=_md5(OTHER), backoff_s=0.01)
    assert dest.read_bytes() == OTHER
    assert [n for n, _ in _Handler.log].count("flaky.bin") == 2
    with pytest.raises(DownloadError, match="404"):
        download(server + "absent.bin", tmp_path / "a.bin", retries=3, backoff_s=0.01)
    assert [n for n, _ in _Handler.log].count("absent.bin") == 1


def test_unreachable_server_gives_up_after_retries(tmp_path):
    with pytest.raises(DownloadError, match="gave up after 2 retries"):
        download("http://127.0.0.1:9/x.bin", tmp_path / "x.bin", retries=2, backoff_s=0.01,
                 timeout_s=2)


def _manifest(tmp_path, server):
    table = pd.DataFrame({
        "filename": ["good.bin", "truncated.bin", "corrupt.bin", "flaky.bin"],
        "url": [server + n for n in ("good.bin", "truncated.bin", "corrupt.bin", "flaky.bin")],
        "size": [len(GOOD), len(GOOD), len(GOOD), ""],
        "md5": [_md5(GOOD), _md5(GOOD), _md5(GOOD), _md5(OTHER)],
        "sha256": ["", "", "", ""],
        "dest": ["sub", "sub", "sub", ""],
    })
    path = tmp_path / "manifest.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


def test_fetch_manifest_reports_each_file(server, tmp_path):
    manifest = _manifest(tmp_path, server)
    with pytest.raises(FetchError) as caught:
        fetch(manifest, tmp_path / "out", backoff_s=0.01)
    table = caught.value.table.set_index("filename")
    assert table.loc["corrupt.bin", "status"] == "failed"
    assert "md5" in table.loc["corrupt.bin", "error"]
    assert (table.drop("corrupt.bin")["status"] == "downloaded").all()
    assert (tmp_path / "out" / "sub" / "truncated.bin").read_bytes() == GOOD
    assert not list((tmp_path / "out").rglob("corrupt.bin*"))
    again = fetch(manifest, tmp_path / "out", names=["good.bin"], backoff_s=0.01)
    assert again["status"].tolist() == ["present"]


def test_local_folder_copy_is_used_when_it_verifies(server, tmp_path):
    manifest = _manifest(tmp_path, server)
    local = tmp_path / "mirror" / "deep"
    local.mkdir(parents=True)
    (local / "good.bin").write_bytes(GOOD)
    (local / "flaky.bin").write_bytes(OTHER[:-1] + b"\x00")  # a damaged copy: not used
    got = fetch(manifest, tmp_path / "out", names=["good.bin", "flaky.bin"],
                local_dirs=[tmp_path / "mirror"], backoff_s=0.01).set_index("filename")
    assert got.loc["good.bin", "status"] == "local"
    assert got.loc["good.bin", "path"] == str(local / "good.bin")
    assert got.loc["flaky.bin", "status"] == "downloaded"
    assert "good.bin" not in [n for n, _ in _Handler.log]


def test_row_without_url_needs_a_local_folder(tmp_path):
    path = tmp_path / "m.tsv"
    pd.DataFrame({"filename": ["x.tsv"], "url": [""], "md5": [_md5(b"abc")]}).to_csv(
        path, sep="\t", index=False)
    with pytest.raises(FetchError, match="local folder"):
        fetch(path, tmp_path / "out")
    (tmp_path / "have").mkdir()
    (tmp_path / "have" / "x.tsv").write_bytes(b"abc")
    assert fetch(path, tmp_path / "out", local_dirs=[tmp_path / "have"])["status"][0] == "local"


def test_verify_file_messages(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert verify_file(path, size=3, md5=_md5(b"abc")) is None
    assert "size 3 bytes, expected 4" in verify_file(path, size=4)
    assert verify_file(tmp_path / "none") == "file absent"


def test_cli_fetch(server, tmp_path):
    manifest = _manifest(tmp_path, server)
    result = CliRunner().invoke(app, ["fetch", str(manifest), "--dest", str(tmp_path / "out"),
                                      "--only", "good.bin", "--only", "truncated.bin",
                                      "--backoff", "0.01"])
    assert result.exit_code == 0, result.output
    assert "downloaded" in result.output
    bad = CliRunner().invoke(app, ["fetch", str(manifest), "--dest", str(tmp_path / "out"),
                                   "--only", "corrupt.bin", "--backoff", "0.01"])
    assert bad.exit_code == 1 and "md5" in bad.output


# --------------------------------------------------------------------------- attacks


def _write_manifest(tmp_path, rows: list[dict]) -> object:
    path = tmp_path / "evil.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize("filename, dest", [
    ("../escaped.bin", ""), ("ABS/escaped.bin", ""), ("sub/../../escaped.bin", ""),
    ("..\\escaped.bin", ""), ("good.bin", "../../outside"), ("good.bin", "ABS/outside"),
])
def test_file_names_cannot_leave_the_destination(server, tmp_path, filename, dest):
    """A manifest (or a server through `featx gdc`) names where a file goes: only inside -d."""
    # Absolute paths point into tmp_path too, so the attack cannot escape the test either.
    filename, dest = (v.replace("ABS", str(tmp_path)) for v in (filename, dest))
    manifest = _write_manifest(tmp_path, [
        {"filename": filename, "url": server + "good.bin", "size": len(GOOD), "md5": _md5(GOOD),
         "dest": dest},
        {"filename": "flaky.bin", "url": server + "flaky.bin", "size": len(OTHER),
         "md5": _md5(OTHER), "dest": ""}])
    out = tmp_path / "a" / "b" / "out"
    table = fetch(manifest, out, backoff_s=0.01, strict=False).set_index("filename")
    assert table.loc[filename, "status"] == "failed"
    assert "stays inside the destination folder" in table.loc[filename, "error"]
    assert table.loc["flaky.bin", "status"] == "downloaded"  # the others go on
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - {manifest}
    assert written == {out / "flaky.bin"}
    assert "good.bin" not in [n for n, _ in _Handler.log]  # refused before any request


def test_a_download_stops_at_the_declared_size(server, tmp_path):
    """An entry declaring 16 bytes keeps no more than 16, however much the server sends."""
    with pytest.raises(ChecksumError, match="manifest declares 16; the download was stopped"):
        download(server + "endless.bin", tmp_path / "e.bin", size=16, retries=0)
    assert not list(tmp_path.iterdir())  # neither the file nor its .part
    # The client hung up after 17 bytes: the server got out what the socket buffers hold,
    # not the 64 MiB an unbounded read takes in.
    assert _Handler.sent["endless.bin"] < ENDLESS // 2


def test_a_declared_length_above_the_size_is_refused_before_reading(server, tmp_path):
    with pytest.raises(ChecksumError, match=f"sends {len(OTHER)} bytes or more"):
        download(server + "big.bin", tmp_path / "b.bin", size=16, retries=0)
    assert not list(tmp_path.iterdir())


def test_declared_sizes_must_fit_on_the_disk_before_any_download(server, tmp_path):
    manifest = _write_manifest(tmp_path, [
        {"filename": "good.bin", "url": server + "good.bin", "size": len(GOOD), "md5": ""},
        {"filename": "huge.bin", "url": server + "good.bin", "size": 10**15, "md5": ""}])
    with pytest.raises(DiskSpaceError, match=r"GiB to download, but only .* free there"):
        fetch(manifest, tmp_path / "out")
    assert _Handler.log == []  # not one request
    assert not (tmp_path / "out").exists()
    # What is already on disk is not counted again.
    fetch(manifest, tmp_path / "out", names=["good.bin"], backoff_s=0.01)
    assert (tmp_path / "out" / "good.bin").read_bytes() == GOOD


@pytest.mark.parametrize("size", ["-5", "many", "1.5", "inf"])
def test_a_size_that_is_not_a_byte_count_is_one_line(tmp_path, size):
    manifest = _write_manifest(tmp_path, [{"filename": "a.bin", "url": "http://127.0.0.1:9/a",
                                           "size": size, "md5": ""}])
    with pytest.raises(InvalidParameterError, match="size column of the manifest must be whole "
                       "numbers of bytes"):
        fetch(manifest, tmp_path / "out")
