"""A small client of the public GDC REST API: find a project's files, write a featx manifest.

``POST <api>/files`` takes a JSON body ``{"filters": ..., "fields": "a,b", "size": n,
"from": k, "format": "JSON"}`` and answers (GDC API docs, "Search and Retrieval")::

    {"data": {"hits": [{"file_id": ..., "file_name": ..., "md5sum": ..., "file_size": ...,
                        "cases": [{"submitter_id": "TCGA-05-4244",
                                   "samples": [{"submitter_id": "TCGA-05-4244-01A",
                                                "sample_type": "Primary Tumor"}]}],
                        "associated_entities": [{"entity_submitter_id": "TCGA-05-4244-01A-01R-1107-07"}]},
                       ...],
              "pagination": {"count": 2, "total": 3, "size": 2, "from": 0, "page": 1,
                             "pages": 2, "sort": ""}},
     "warnings": {}}

:func:`query_files` pages through every hit, within a bound: the first page's ``total``
fixes how many pages there may be, and a total that changes, a file listed twice, a page
that ends early or pages beyond the bound stop it with one line (a server that never ends
is not followed). :func:`project_manifest` turns the hits of
one kind of file (STAR-counts RNA-seq, diagnostic or tissue slides, the masked somatic
MAF) into a featx manifest whose URLs are ``<api>/data/<file_id>``, so ``featx fetch``
downloads them with the verified, resumable :mod:`featx.downloads.fetch`. Only open-access
files are asked for. What the server names is checked before it goes in a manifest: a
file name must be a plain name and an ID a plain token, so no answer can make ``featx
fetch`` write outside its folder.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from featx import __version__
from featx._validate import non_negative_int, one_of, positive_int, relative_path
from featx.downloads.manifests import MANIFEST_COLUMNS
from featx.errors import DataError, DownloadError, InvalidParameterError

#: The public GDC API.
GDC_API = "https://api.gdc.cancer.gov"
FIELDS = ("file_id", "file_name", "md5sum", "file_size", "state", "data_type",
          "experimental_strategy", "analysis.workflow_type", "cases.submitter_id",
          "cases.samples.submitter_id", "cases.samples.sample_type",
          "associated_entities.entity_submitter_id")
#: The file kinds featx asks for: the GDC's data_type, data_format and workflow or strategy.
KINDS: dict[str, dict[str, str]] = {
    "rnaseq": {"data_type": "Gene Expression Quantification", "data_format": "TSV",
               "analysis.workflow_type": "STAR - Counts"},
    "diagnostic-slides": {"data_type": "Slide Image", "experimental_strategy": "Diagnostic Slide"},
    "tissue-slides": {"data_type": "Slide Image", "experimental_strategy": "Tissue Slide"},
    "maf": {"data_type": "Masked Somatic Mutation", "data_format": "MAF"},
}
_RETRY = {408, 429, 500, 502, 503, 504}
#: Most files one query may list: the largest GDC projects hold tens of thousands.
MAX_FILES = 1_000_000
# A GDC file ID is a UUID; anything else could steer the download URL.
_FILE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")


def _in(field: str, value: str | Sequence[str]) -> dict[str, Any]:
    values = [value] if isinstance(value, str) else list(value)
    return {"op": "in", "content": {"field": field, "value": values}}


def kind_filters(project: str, kind: str) -> dict[str, Any]:
    """The GDC filter of one project's open-access files of one kind (see :data:`KINDS`)."""
    one_of("kind", kind, tuple(KINDS))
    terms = [_in("cases.project.project_id", project), _in("access", "open")]
    terms += [_in(field, value) for field, value in KINDS[kind].items()]
    return {"op": "and", "content": terms}


def _post(url: str, body: Mapping[str, Any], *, timeout_s: float, retries: int,
          backoff_s: float) -> dict[str, Any]:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": f"featx/{__version__}"}
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers),
                                        timeout=timeout_s) as response:
                raw = response.read()
            break
        except urllib.error.HTTPError as error:
            if error.code not in _RETRY or attempt == retries:
                raise DownloadError(url, f"GDC query failed: HTTP {error.code} {error.reason}. "
                                    "Check the project name and filters, or retry later") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            if attempt == retries:
                raise DownloadError(url, f"GDC query failed after {retries} retries ({error}). "
                                    "Check the network, or pass --api for a mirror") from None
        time.sleep(backoff_s * 2**attempt)
    try:
        answer = json.loads(raw)
        if not isinstance(answer["data"]["hits"], list):
            raise TypeError("hits")
        answer["data"]["pagination"]["total"]  # noqa: B018 - shape check
    except (ValueError, KeyError, TypeError):
        raise DataError(f"GDC answer from {url}", f"not the /files JSON shape (starts "
                        f"{raw[:80]!r})", "Check --api: it must be a GDC API root") from None
    return answer


def query_files(filters: Mapping[str, Any], *, fields: Sequence[str] = FIELDS,
                api: str = GDC_API, page_size: int = 500, timeout_s: float = 60.0,
                retries: int = 3, backoff_s: float = 2.0) -> list[dict[str, Any]]:
    """Every hit of ``POST <api>/files`` for ``filters``, paging ``page_size`` at a time.

    The first page's ``pagination.total`` (at most :data:`MAX_FILES`) bounds the pages
    asked for; the answer must keep that total, list each file once and deliver it all.

    Raises
    ------
    DownloadError
        An HTTP error (after retries for transient ones) or no connection.
    DataError
        An answer that is not GDC-shaped JSON, or pages that are not one listing (a
        changing total, a file twice, an early end, more pages than the total allows).
    """
    positive_int("page_size", page_size)
    non_negative_int("retries", retries)
    if not isinstance(api, str) or not re.match(r"^https?://[^/\s]+", api):
        raise InvalidParameterError("--api", "an http(s) URL of a GDC API root (e.g. "
                                    f"{GDC_API})", api)
    url = api.rstrip("/") + "/files"
    hits: list[dict[str, Any]] = []
    seen: set[str] = set()
    total, pages = -1, 0
    while True:
        body = {"filters": filters, "fields": ",".join(fields), "format": "JSON",
                "size": page_size, "from": len(hits)}
        page = _post(url, body, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)["data"]
        pages += 1
        announced = _total(page["pagination"]["total"], url)
        if total < 0:
            total = announced
        elif announced != total:
            raise DataError(f"GDC answer from {url}", f"the total changed from {total} to "
                            f"{announced} files while paging", "Run the query again")
        new = [_checked_hit(hit, url) for hit in page["hits"]]
        twice = [h["file_id"] for h in new if h["file_id"] in seen]
        if twice or len(new) > page_size:
            raise DataError(f"GDC answer from {url}", f"page {pages} lists {len(new)} files, "
                            f"{len(twice)} of them already listed (e.g. {twice[:1]})",
                            "Run the query again; a server that repeats itself is not followed")
        seen.update(h["file_id"] for h in new)
        hits += new
        if len(hits) >= total:
            return hits
        if not new:
            raise DataError(f"GDC answer from {url}", f"the listing ended after {len(hits)} of "
                            f"the {total} files it announced", "Run the query again")
        if pages >= math.ceil(total / page_size) + 1:
            raise DataError(f"GDC answer from {url}", f"still paging after {pages} pages of "
                            f"{page_size} for {total} files", "Check --api: a GDC server ends")


def _total(value: Any, url: str) -> int:
    """``pagination.total`` as a count of files, at most :data:`MAX_FILES`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FILES:
        raise DataError(f"GDC answer from {url}", f"pagination.total is {value!r:.40}, not a "
                        f"count of files up to {MAX_FILES:,}", "Check --api: it must be a GDC "
                        "API root, or narrow the query")
    return value


def _checked_hit(hit: Any, url: str) -> dict[str, Any]:
    """A hit whose ID and file name are safe to put in a URL and a path."""
    if not isinstance(hit, dict):
        raise DataError(f"GDC answer from {url}", f"a hit is {hit!r:.60}, not an object",
                        "Check --api: it must be a GDC API root")
    file_id, name = hit.get("file_id"), hit.get("file_name")
    problem = ""
    if not isinstance(file_id, str) or not _FILE_ID.match(file_id):
        problem = f"file_id {file_id!r:.60} is not a GDC UUID"
    try:
        relative_path("file_name", name, one_part=True)
    except InvalidParameterError:
        problem = f"file_name {name!r:.80} is not a plain file name"
    if problem:
        raise DataError(f"GDC answer from {url}", f"{problem}; nothing was written",
                        "Check --api: only a trusted GDC API root can name files")
    return hit


def _first(items: Any, key: str) -> str:
    for item in items or []:
        if item.get(key):
            return str(item[key])
    return ""


def _row(hit: Mapping[str, Any], api: str, dest: str) -> dict[str, Any]:
    cases = hit.get("cases") or []
    samples = [s for case in cases for s in (case.get("samples") or [])]
    aliquot = _first(hit.get("associated_entities"), "entity_submitter_id")
    return {
        "filename": hit["file_name"], "url": f"{api.rstrip('/')}/data/{hit['file_id']}",
        "size": hit.get("file_size", ""), "md5": hit.get("md5sum", ""), "sha256": "",
        "id": hit["file_id"], "dest": dest, "patient": _first(cases, "submitter_id"),
        # STAR files hold one aliquot: its barcode is the sample a target table needs.
        "sample": aliquot or _first(samples, "submitter_id"),
        "sample_type": _first(samples, "sample_type"),
    }


def project_manifest(project: str, kind: str, *, api: str = GDC_API, dest: str | None = None,
                     page_size: int = 500, timeout_s: float = 60.0, retries: int = 3,
                     backoff_s: float = 2.0) -> pd.DataFrame:
    """A featx manifest of one project's open-access files of one kind.

    Parameters
    ----------
    project : str
        GDC project ID, e.g. ``"TCGA-LUAD"``.
    kind : {"rnaseq", "diagnostic-slides", "tissue-slides", "maf"}
        STAR-counts RNA-seq, diagnostic (FFPE) or tissue (frozen) slides, or the masked
        somatic mutation MAFs.
    api : str
        The GDC API root; downloads go to ``<api>/data/<file_id>``.
    dest : str, optional
        Sub-folder the files go to under ``featx fetch --dest`` (default ``<project>/<kind>``).

    Returns
    -------
    pandas.DataFrame
        ``filename url size md5 sha256 id dest patient sample sample_type``, sorted by
        file name; an empty project is an error, not an empty manifest.
    """
    hits = query_files(kind_filters(project, kind), api=api, page_size=page_size,
                       timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
    if not hits:
        raise DataError(f"GDC project {project!r}", f"no open-access {kind} files",
                        "Check the project ID (e.g. TCGA-LUAD) and the kind")
    rows = [_row(hit, api, dest if dest is not None else f"{project}/{kind}") for hit in hits]
    table = pd.DataFrame(rows).sort_values("filename", kind="stable").reset_index(drop=True)
    duplicated = table["id"][table["id"].duplicated()]
    if len(duplicated):  # a page boundary moved while paging: the answer is not one snapshot
        raise DataError("GDC answer", f"{len(duplicated)} files listed twice while paging",
                        "Run the query again")
    return table[[*MANIFEST_COLUMNS, "id", "dest", "patient", "sample", "sample_type"]]
