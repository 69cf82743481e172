"""Download what a manifest names, verify it, resume it, and never keep a corrupt file.

Each file downloads to ``<name>.part`` beside its destination. An interrupted
download (dropped connection, killed process) resumes from the bytes already in
the ``.part`` file with an HTTP ``Range`` request; a server that ignores the
range makes the download restart from zero. Only when the size and every known
checksum (md5, sha256) match is the ``.part`` file fsynced and renamed to its
final name, so a file under its final name is always a verified one. A file that
fails its checksum is deleted and reported.

Transient failures (connection errors, timeouts, HTTP 408/429/5xx) are retried
with exponential backoff; other HTTP errors (404, 403) fail at once. Before
downloading, folders the user names (``local_dirs``) are searched for a copy
that passes the same checks; it is then used in place.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from featx import __version__
from featx._io import file_digests, fsync_replace
from featx._validate import non_negative_int, positive_float
from featx.errors import (
    ChecksumError,
    DownloadError,
    FeatxError,
    FetchError,
    InvalidParameterError,
)

_CHUNK = 1 << 20  # bytes read from the connection at a time
_RETRY_HTTP = {408, 425, 429, 500, 502, 503, 504}


def verify_file(path: str | Path, *, size: int | None = None, md5: str | None = None,
                sha256: str | None = None) -> str | None:
    """Check a file against what is known of it.

    Returns
    -------
    str or None
        None when it matches (or nothing is known), else what differs.
    """
    path = Path(path)
    if not path.is_file():
        return "file absent"
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"size {actual} bytes, expected {size}"
    wanted = {k: v.lower() for k, v in (("md5", md5), ("sha256", sha256)) if v}
    if wanted:
        got = file_digests(path, wanted)
        for name, value in wanted.items():
            if got[name] != value:
                return f"{name} {got[name]}, expected {value}"
    return None


def _closed_early(kept: int) -> http.client.HTTPException:
    """The server closed the connection early: a retryable HTTP failure naming what arrived."""
    return http.client.HTTPException(f"connection closed after {kept} bytes")


def _download_once(url: str, part: Path, *, size: int | None, timeout_s: float,
                   bar: Any) -> None:
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:  # not a prefix of this file: start over
        part.unlink()
        offset = 0
    if size is not None and offset == size:
        return
    headers = {"User-Agent": f"featx/{__version__} (+https://github.com/featx/featx)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing after offset: the part is whole
            return
        raise
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored the range and sends the whole file
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        if bar is not None:
            bar.reset(total=(size if size is not None else
                             (offset + expected if expected is not None else None)))
            bar.update(offset)
        received = 0
        with open(part, "ab" if offset else "wb") as handle:
            try:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    handle.write(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
            except http.client.IncompleteRead as error:
                handle.write(error.partial)  # keep what did arrive, resume after it
                received += len(error.partial)
                raise _closed_early(offset + received) from None
            finally:
                handle.flush()
                os.fsync(handle.fileno())
        if expected is not None and received < expected:
            raise _closed_early(offset + received)


def download(
    url: str,
    dest: str | Path,
    *,
    size: int | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    progress: bool = False,
) -> Path:
    """Download ``url`` to ``dest``, resuming and verifying; return ``dest``.

    Parameters
    ----------
    url : str
        http(s) URL (GDC data endpoint, Zenodo, any server honouring ``Range``).
    dest : path
        Final file name. Nothing is written there unless the file verifies.
    size, md5, sha256 : optional
        What the file must match; missing ones are not checked.
    retries : int
        Retries after a transient failure, waiting ``backoff_s * 2**k`` seconds.
    backoff_s : float
        First wait between retries.
    timeout_s : float
        Socket timeout per request.
    progress : bool
        Show a byte progress bar.

    Raises
    ------
    ChecksumError
        The complete download does not match; the partial file is deleted.
    DownloadError
        A permanent HTTP error, or transient errors beyond ``retries``.
    """
    non_negative_int("retries", retries)
    positive_float("timeout_s", timeout_s)
    dest = Path(dest)
    if verify_file(dest, size=size, md5=md5, sha256=sha256) is None and dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name)
    try:
        for attempt in range(retries + 1):
            try:
                _download_once(url, part, size=size, timeout_s=timeout_s, bar=bar)
                break
            except urllib.error.HTTPError as error:
                if error.code not in _RETRY_HTTP or attempt == retries:
                    raise DownloadError(url, f"HTTP {error.code} {error.reason}") from None
            except (urllib.error.URLError, http.client.HTTPException,
                    ConnectionError, TimeoutError) as error:
                if attempt == retries:
                    raise DownloadError(
                        url, f"{error} (gave up after {retries} retries; rerun to resume "
                        f"from the {part.stat().st_size if part.exists() else 0} bytes kept "
                        f"in {part.name})") from None
            time.sleep(backoff_s * 2**attempt)
    finally:
        if bar is not None:
            bar.close()
    problem = verify_file(part, size=size, md5=md5, sha256=sha256)
    if problem is not None:
        part.unlink(missing_ok=True)
        raise ChecksumError(url, f"-> {dest.name}: {problem}; the download was deleted. "
                            "Retry later, or report a changed file to its source.")
    fsync_replace(part, dest)
    return dest


def _candidates(folder: Path, row: dict[str, Any]) -> list[Path]:
    name = row["filename"]
    paths = [folder / name]
    if row.get("dest"):
        paths.append(folder / row["dest"] / name)
    if row.get("id"):
        paths.append(folder / row["id"] / name)  # gdc-client layout
    return paths + sorted(folder.rglob(name))[:5]


def fetch(
    manifest: str | Path | pd.DataFrame,
    dest_dir: str | Path,
    *,
    names: Sequence[str] | None = None,
    local_dirs: Sequence[str | Path] = (),
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    strict: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Fetch every file a manifest names into ``dest_dir``.

    Parameters
    ----------
    manifest : path or DataFrame
        A GDC or featx manifest (:func:`featx.downloads.manifests.read_manifest`).
    dest_dir : path
        Where downloads go (``dest_dir/<dest>/<filename>`` when the manifest has a
        ``dest`` column).
    names : sequence of str, optional
        Only these file names.
    local_dirs : sequence of paths
        Folders that may already hold the files (searched by name, recursively);
        a copy that verifies is used where it is, without downloading.
    retries, backoff_s, timeout_s : see :func:`download`.
    strict : bool
        Raise :class:`FetchError` at the end if any file failed.
    progress : bool
        Show progress bars.

    Returns
    -------
    DataFrame
        One row per file: filename, path, status (``present`` already in
        ``dest_dir``, ``local`` found in a local folder, ``downloaded``,
        ``failed``), error.
    """
    from featx.downloads.manifests import read_manifest

    table = manifest if isinstance(manifest, pd.DataFrame) else read_manifest(manifest)
    if names is not None:
        unknown = sorted(set(names) - set(table["filename"]))
        if unknown:  # a typo must not pass for "nothing to do"
            listed = ", ".join(table["filename"].head(8))
            raise InvalidParameterError("names", f"file names the manifest lists ({listed}"
                                        f"{', ...' if len(table) > 8 else ''})", unknown)
        table = table[table["filename"].isin(names)]
    rows = []
    for record in table.to_dict("records"):
        record = {k: ("" if v is None or (isinstance(v, float) and v != v) else v)
                  for k, v in record.items()}
        size = None if record.get("size") in ("", None) or pd.isna(record["size"]) else int(
            record["size"])
        checks = {"size": size, "md5": record.get("md5") or None,
                  "sha256": record.get("sha256") or None}
        dest = Path(dest_dir) / str(record.get("dest") or "") / record["filename"]
        out = {"filename": record["filename"], "path": str(dest), "status": "failed", "error": ""}
        try:
            if dest.is_file() and verify_file(dest, **checks) is None:
                out["status"] = "present"
            elif (found := _find_local(local_dirs, record, checks)) is not None:
                out.update(path=str(found), status="local")
            elif not record.get("url"):
                out["error"] = ("the manifest gives no URL for this file: put it in a folder "
                                "and pass that folder as a local folder (--local-dir)")
            else:
                download(record["url"], dest, retries=retries, backoff_s=backoff_s,
                         timeout_s=timeout_s, progress=progress, **checks)
                out["status"] = "downloaded"
        except FeatxError as error:
            out["error"] = str(error)
        rows.append(out)
    result = pd.DataFrame(rows, columns=["filename", "path", "status", "error"])
    if strict and (result["status"] == "failed").any():
        raise FetchError(result)
    return result


def _find_local(local_dirs: Sequence[str | Path], record: dict[str, Any],
                checks: dict[str, Any]) -> Path | None:
    for folder in local_dirs:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            continue
        for path in _candidates(folder, record):
            if path.is_file() and verify_file(path, **checks) is None:
                return path
    return None
