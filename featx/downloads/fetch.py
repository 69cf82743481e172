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

What a manifest or a server says is not trusted further than it must be: a file name
(and ``dest`` sub-folder) must stay inside the destination folder or its row fails; a
download stops as soon as it passes the declared size (and fails); and the declared
sizes still to download must fit in the free disk space before the first byte is read.
"""

from __future__ import annotations

import http.client
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from featx import __version__
from featx._io import file_digests, fsync_replace
from featx._validate import non_negative_int, positive_float, relative_path
from featx.errors import (
    ChecksumError,
    DiskSpaceError,
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


def _too_large(url: str, part: Path, got: int, size: int) -> ChecksumError:
    """A server sending more than the declared size: nothing is kept."""
    part.unlink(missing_ok=True)
    return ChecksumError(url, f"the server sends {got} bytes or more, but the manifest declares "
                         f"{size}; the download was stopped and deleted. Check the manifest's size, "
                         "or report a changed file to its source.")


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
        expected = int(length) if length is not None and length.strip().isdigit() else None
        # Bytes this response may add: beyond them the file is not the one declared.
        room = None if size is None else size - offset
        if room is not None and expected is not None and expected > room:
            raise _too_large(url, part, offset + expected, size)
        if bar is not None:
            bar.reset(total=(size if size is not None else
                             (offset + expected if expected is not None else None)))
            bar.update(offset)
        received, overflow = 0, False
        with open(part, "ab" if offset else "wb") as handle:
            try:
                while True:
                    # One byte past the room is enough to know the file is too large.
                    block = response.read(_CHUNK if room is None else
                                          min(_CHUNK, room - received + 1))
                    if not block:
                        break
                    if room is not None and received + len(block) > room:
                        overflow = True
                        break
                    handle.write(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
            except http.client.IncompleteRead as error:
                partial = error.partial if room is None else error.partial[:room - received]
                handle.write(partial)  # keep what did arrive, resume after it
                received += len(partial)
                raise _closed_early(offset + received) from None
            finally:
                handle.flush()
                os.fsync(handle.fileno())
        if overflow:
            raise _too_large(url, part, offset + received + 1, size)
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
        try:
            paths.append(folder / relative_path("id", str(row["id"]), one_part=True) / name)
        except InvalidParameterError:  # not a folder name: no gdc-client folder of it
            pass
    return paths + sorted(folder.rglob(name))[:5]


def destination(dest_dir: str | Path, record: dict[str, Any]) -> Path:
    """Where a manifest row's file goes: ``dest_dir/<dest>/<filename>``, never outside ``dest_dir``.

    Raises
    ------
    InvalidParameterError
        The file name is not a plain name, or ``dest`` leaves the folder (absolute, ``..``).
    """
    name = relative_path(f"file name {str(record['filename'])!r:.80} in the manifest",
                         record["filename"], one_part=True)
    sub = str(record.get("dest") or "")
    if sub:
        relative_path(f"dest {sub!r:.80} of {name} in the manifest", sub)
    return Path(dest_dir) / sub / name


def _declared_size(record: dict[str, Any]) -> int | None:
    size = record.get("size")
    return None if size in ("", None) or pd.isna(size) else int(size)


def _bytes_to_download(records: list[dict[str, Any]], dest_dir: Path,
                       local_dirs: Sequence[str | Path]) -> int:
    """Declared bytes not yet on disk: neither the final file nor a local copy of that size.

    By size alone (no hashing), so it is cheap to ask before any download.
    """
    def present(path: Path, size: int) -> bool:
        return path.is_file() and path.stat().st_size == size

    total = 0
    for record in records:
        size = _declared_size(record)
        try:
            dest = destination(dest_dir, record)
        except InvalidParameterError:
            continue  # refused in its row
        if size is None or not record.get("url") or present(dest, size):
            continue
        folders = [Path(f).expanduser() for f in local_dirs]
        if any(present(folder / record["filename"], size) for folder in folders if folder.is_dir()):
            continue
        part = dest.with_name(dest.name + ".part")
        total += size - (part.stat().st_size if part.is_file() else 0)
    return max(total, 0)


def check_free_space(folder: str | Path, n_bytes: int) -> None:
    """Raise :class:`DiskSpaceError` if ``n_bytes`` do not fit in the free space of ``folder``.

    ``folder`` need not exist yet: its nearest existing parent is asked.
    """
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if n_bytes > free:
        raise DiskSpaceError(folder, n_bytes, free, "free space or pick another --dest, or "
                             "fetch fewer files with --only")


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
        ``failed``), error. A row whose file name or ``dest`` would leave ``dest_dir``
        fails with the reason, and the others go on.

    Raises
    ------
    DiskSpaceError
        Before any download: the declared sizes still to download exceed the free space.
    FetchError
        With ``strict``, after every file was tried: some failed.
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
    records = [{k: ("" if v is None or (isinstance(v, float) and v != v) else v)
                for k, v in record.items()} for record in table.to_dict("records")]
    # Before the first byte: a manifest declaring more than the disk holds stops here.
    check_free_space(dest_dir, _bytes_to_download(records, Path(dest_dir), local_dirs))
    rows = []
    for record in records:
        size = _declared_size(record)
        checks = {"size": size, "md5": record.get("md5") or None,
                  "sha256": record.get("sha256") or None}
        out = {"filename": record["filename"], "path": "", "status": "failed", "error": ""}
        try:
            dest = destination(dest_dir, record)
            out["path"] = str(dest)
            if dest.is_file() and verify_file(dest, **checks) is None:
                out["status"] = "present"
            elif (found := _find_local(local_dirs, record, checks)) is not None:
                out.update(path=str(found), status="local")
            elif not record.get("url"):
                out["error"] = ("the manifest gives no URL for this file: put it in a folder "
                                "and pass that folder as a local folder (--local-dir)")
            else:
                if size is not None:  # others may have filled the disk meanwhile
                    check_free_space(dest.parent, _bytes_to_download([record], Path(dest_dir), ()))
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
