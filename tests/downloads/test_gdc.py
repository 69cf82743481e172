"""The GDC client against a loopback server answering GDC-shaped JSON: paging, errors, fetch."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from typer.testing import CliRunner

from featx.cli._app import app
from featx.downloads.fetch import fetch
from featx.downloads.gdc import kind_filters, project_manifest, query_files
from featx.errors import DataError, DownloadError
from featx.targets.expression import read_sample_sheet
from tests.cli_runs import run_main

BODIES = {f"uuid-{i}": os.urandom(50_000 + i) for i in range(5)}


def gdc_hit(i: int) -> dict:
    """One /files hit as the GDC API documents it (fields asked for, nested cases)."""
    patient = f"TCGA-AA-{i:04d}"
    return {"id": f"uuid-{i}", "file_id": f"uuid-{i}",
            "file_name": f"uuid-{i}.rna_seq.augmented_star_gene_counts.tsv",
            "md5sum": hashlib.md5(BODIES[f"uuid-{i}"]).hexdigest(),
            "file_size": len(BODIES[f"uuid-{i}"]), "state": "released",
            "data_type": "Gene Expression Quantification",
            "analysis": {"workflow_type": "STAR - Counts"},
            "cases": [{"submitter_id": patient, "samples": [
                {"submitter_id": f"{patient}-01A", "sample_type": "Primary Tumor"}]}],
            "associated_entities": [{"entity_submitter_id": f"{patient}-01A-11R-A000-07"}]}


class _Gdc(BaseHTTPRequestHandler):
    mode = ""
    bodies: list[dict] = []
    data_requests: list[tuple[str, str | None]] = []

    def log_message(self, *args):
        pass

    def _json(self, code: int, payload: object) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append(body)
        if self.mode == "500":
            self.send_error(500)
            return
        if self.mode == "html":
            self.send_response(200)
            self.send_header("Content-Length", "15")
            self.end_headers()
            self.wfile.write(b"<html>no</html>")
            return
        if len(self.bodies) > 250:  # bounds a test of a client that would follow forever
            self.send_error(404)
            return
        hits = [] if self.mode == "empty" else [gdc_hit(i) for i in range(len(BODIES))]
        start, size = body["from"], body["size"]
        page, total = hits[start:start + size], len(hits)
        if self.mode in ("evil-name", "evil-id"):
            key, value = (("file_name", "../../escaped.tsv") if self.mode == "evil-name"
                          else ("file_id", "../../v0/escaped"))
            page = [{**hit, key: value} for hit in page]
        elif self.mode == "repeat":  # the first page, forever
            page, total = hits[:size], 10_000
        elif self.mode == "growing":  # new files on every page, and a total that keeps up
            page = [{**gdc_hit(0), "file_id": f"new-{start + k}"} for k in range(size)]
            total = start + 2 * size
        elif self.mode == "trickle":  # one new file a page, never the total
            page, total = [{**gdc_hit(0), "file_id": f"new-{start}"}], 20
        elif self.mode == "short":  # announces more than it lists
            total = 50
        elif self.mode == "text-total":
            total = "lots"
        self._json(200, {"data": {"hits": page, "pagination": {
            "count": len(page), "total": total, "size": size, "from": start,
            "page": start // size + 1, "pages": 1, "sort": ""}},
            "warnings": {}})

    def do_GET(self):  # noqa: N802
        name = self.path.rsplit("/", 1)[-1]
        rng = self.headers.get("Range")
        self.data_requests.append((name, rng))
        data = BODIES[name]
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        self.send_response(206 if rng else 200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        first = sum(n == name for n, _ in self.data_requests) == 1
        if name == "uuid-1" and first:  # a truncated download: half, then hang up
            self.wfile.write(body[: len(body) // 2])
            return
        self.wfile.write(body)


@pytest.fixture()
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gdc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Gdc.mode, _Gdc.bodies, _Gdc.data_requests = "", [], []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pages_through_every_hit(api):
    hits = query_files(kind_filters("TCGA-AA", "rnaseq"), api=api, page_size=2)
    assert [h["file_id"] for h in hits] == [f"uuid-{i}" for i in range(5)]
    assert [b["from"] for b in _Gdc.bodies] == [0, 2, 4]
    terms = {t["content"]["field"]: t["content"]["value"] for t in _Gdc.bodies[0]["filters"]["content"]}
    assert terms["cases.project.project_id"] == ["TCGA-AA"] and terms["access"] == ["open"]
    assert terms["analysis.workflow_type"] == ["STAR - Counts"]


def test_manifest_fetches_with_a_resumed_truncated_download(api, tmp_path):
    table = project_manifest("TCGA-AA", "rnaseq", api=api, page_size=3)
    assert table["url"].tolist()[0] == f"{api}/data/uuid-0"
    assert table.loc[1, "sample"] == "TCGA-AA-0001-01A-11R-A000-07"
    path = tmp_path / "manifest.tsv"
    table.to_csv(path, sep="\t", index=False)
    done = fetch(path, tmp_path / "data", retries=2, backoff_s=0.0)
    assert (done["status"] == "downloaded").all()
    assert ("uuid-1", "bytes=25000-") in _Gdc.data_requests  # resumed after the half
    got = (tmp_path / "data" / "TCGA-AA/rnaseq" / table.loc[1, "filename"]).read_bytes()
    assert got == BODIES["uuid-1"]
    sheet = read_sample_sheet(path)
    assert sheet[table.loc[0, "filename"]] == "TCGA-AA-0000-01A-11R-A000-07"


def test_http_error_bad_answer_and_empty_project_fail_cleanly(api):
    _Gdc.mode = "500"
    with pytest.raises(DownloadError, match="HTTP 500"):
        query_files(kind_filters("TCGA-AA", "maf"), api=api, retries=1, backoff_s=0.0)
    assert len(_Gdc.bodies) == 2  # one retry of a transient error
    _Gdc.mode = "html"
    with pytest.raises(DataError, match="not the /files JSON shape"):
        query_files(kind_filters("TCGA-AA", "maf"), api=api)
    _Gdc.mode = "empty"
    with pytest.raises(DataError, match="no open-access maf files"):
        project_manifest("TCGA-AA", "maf", api=api)


def test_cli_writes_the_manifest_and_reports_errors_in_one_line(api, tmp_path):
    out = tmp_path / "m.tsv"
    result = CliRunner().invoke(app, ["gdc", "rnaseq", "--project", "TCGA-AA", "--api", api,
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 rnaseq files of TCGA-AA" in result.output and "5 patients" in result.output
    assert len(pd.read_csv(out, sep="\t")) == 5
    from featx.cli import main  # the entry point turns featx errors into one line

    _Gdc.mode = "500"
    import sys
    argv = sys.argv
    sys.argv = ["featx", "gdc", "maf", "--api", api, "--retries", "0", "-o", str(out)]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = argv
    assert exit_info.value.code == 2


# --------------------------------------------------------------------------- a hostile server


@pytest.mark.parametrize("mode, needle", [
    ("evil-name", "file_name '../../escaped.tsv' is not a plain file name"),
    ("evil-id", "file_id '../../v0/escaped' is not a GDC UUID"),
])
def test_a_server_cannot_name_files_outside_the_destination(api, tmp_path, monkeypatch, capfd,
                                                           mode, needle):
    _Gdc.mode = mode
    with pytest.raises(DataError, match=needle):
        project_manifest("TCGA-AA", "rnaseq", api=api)
    out = tmp_path / "m.tsv"
    code, line = run_main(monkeypatch, capfd, "gdc", "rnaseq", "--project", "TCGA-AA",
                          "--api", api, "-o", str(out))
    assert code == 2 and needle in line and not out.exists()


@pytest.mark.parametrize("mode, needle, most_requests", [
    ("repeat", "already listed", 2),
    ("growing", "the total changed from 4 to 6", 2),
    ("trickle", "still paging after 11 pages of 2 for 20 files", 11),
    ("short", "the listing ended after 5 of the 50 files", 4),
    ("text-total", "pagination.total is 'lots', not a count", 1),
])
def test_paging_is_bounded_and_a_server_that_never_ends_is_not_followed(api, mode, needle,
                                                                        most_requests):
    _Gdc.mode = mode
    with pytest.raises(DataError, match=needle):
        query_files(kind_filters("TCGA-AA", "rnaseq"), api=api, page_size=2, retries=0)
    assert len(_Gdc.bodies) <= most_requests
