"""File helpers every layer shares: atomic writes, the one table reader, file hashes.

Atomic writes go to a temporary name beside the target, are fsynced, then renamed
over it, so a crash or a kill leaves either the old file or the new one, never half
of one. The temporary name starts with ``.`` (Parquet readers and featx's globs skip
it) and carries the host and process id, so a later run can remove what a killed
one left (:func:`remove_dead_temps`). Files get the permissions the umask allows
(``0644`` under umask 022), as ``open`` would give them, not ``mkstemp``'s ``0600``:
a lab group shares its stores and reports.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from featx.errors import DataError, DataNotFoundError, FeatxError, InvalidParameterError

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import, while no other thread can be creating files
_FILE_MODE = 0o666 & ~_UMASK
_HOST = socket.gethostname()
_BLOCK = 1 << 20

#: Table formats :func:`write_table` writes, by file suffix.
TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")
#: Image files read as tiles (tile folders, stain targets).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


# --------------------------------------------------------------------------- atomic writes


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: errno values of a passing cause (the disk, the memory, a network filesystem), not of
#: the file being read: a rerun may well succeed.
TRANSIENT_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOMEM, errno.EAGAIN, errno.EBUSY,
    errno.ETIMEDOUT, errno.ESTALE, errno.ECONNRESET, errno.ECONNABORTED, errno.ENETDOWN,
    errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINTR,
})


def is_transient(error: BaseException) -> bool:
    """Whether ``error``, or any error it was raised from, has a passing cause.

    A timeout, a dropped connection, a real ``MemoryError`` or an ``OSError`` with an errno
    of :data:`TRANSIENT_ERRNOS` (disk full, I/O error, ...) is transient; featx's own
    errors (a lock held too long included) and errors of the file itself are not.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not isinstance(current, FeatxError) and (
                isinstance(current, (TimeoutError, ConnectionError, MemoryError))
                or (isinstance(current, OSError) and current.errno in TRANSIENT_ERRNOS)):
            return True
        current = current.__cause__ or current.__context__
    return False


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{_HOST}."


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it onto ``path``.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder is created.
    suffix : str, default ".tmp"
        End of the temporary name, for writers that insist on one (Keras wants
        ``.keras`` or ``.weights.h5``).

    On an exception the temporary file is removed and the target is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{_temp_prefix(target)}{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}")
    try:
        yield tmp
        fsync_replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_replace(source: Path, target: Path) -> None:
    """Flush ``source`` to disk, give it the umask's permissions, and rename it to ``target``."""
    with open(source, "rb+") as handle:
        os.fsync(handle.fileno())
    os.chmod(source, _FILE_MODE)
    os.replace(source, target)


def remove_dead_temps(path: str | Path) -> int:
    """Remove the temporary files of ``path`` that a dead process of this host left; return how many."""
    target = Path(path)
    prefix, removed = _temp_prefix(target), 0
    for tmp in target.parent.glob(f"{prefix}*"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file (UTF-8) atomically; return its path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write a binary file atomically; return its path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON (indented, keys sorted, other objects as strings) atomically; return its path."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_table(frame: Any, path: str | Path, *, index: bool = False) -> Path:
    """Write a DataFrame atomically as Parquet, CSV or TSV, chosen by the file's suffix.

    Raises
    ------
    InvalidParameterError
        For any other suffix (an ``.xlsx`` name never receives Parquet bytes).
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in TABLE_SUFFIXES:
        raise InvalidParameterError("path", "a file name ending in " + ", ".join(TABLE_SUFFIXES),
                                    str(path))
    with atomic_path(path) as tmp:
        if kind == ".parquet":
            frame.to_parquet(tmp, index=index)
        else:
            frame.to_csv(tmp, index=index, sep="\t" if kind == ".tsv" else ",")
    return path


# --------------------------------------------------------------------------- reading tables


def _text_kind(path: Path) -> str | None:
    """``"csv"`` for .csv, ``"tsv"`` for .tsv/.txt/.tab (also gzipped), else None."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    return {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".tab": "tsv"}.get(last)


def _separator(path: Path, default: str) -> str:
    """The separator of a text table: tab, comma or semicolon, whichever its header uses most."""
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    counts = {sep: header.count(sep) for sep in ("\t", ",", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else default


def read_table(path: str | Path, *, what: str = "table", dtype: Any = None) -> Any:
    """Read a Parquet file or folder, or a CSV/TSV text table, as a pandas DataFrame.

    Parameters
    ----------
    path : str or Path
        ``.parquet`` file or a folder of Parquet files; ``.csv``, ``.tsv``, ``.txt``
        (optionally gzipped). The separator of a text table is read off its header
        (tab, comma or semicolon).
    what : str, default "table"
        What the table is, for error messages ("target table", "manifest").
    dtype : optional
        ``str`` reads every cell of a text table as a string, empty cells as ``""``
        (IDs and checksums must not turn into numbers).

    Raises
    ------
    DataNotFoundError
        The path does not exist.
    DataError
        The file is not a table of a kind featx reads; the message names it and the fix.
    """
    import pandas as pd
    import pyarrow as pa

    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{what} {path}", "Check the path: a Parquet, CSV or TSV "
                                "table is expected.")
    kind = "parquet" if path.is_dir() or path.suffix.lower() in (".parquet", ".pq") else (
        _text_kind(path))
    if kind is None:
        raise DataError(f"{what} {path}", f"unknown table format {path.suffix!r}",
                        "Save it as .parquet, .csv or .tsv")
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        options = {"dtype": str, "keep_default_na": False} if dtype is str else {"dtype": dtype}
        return pd.read_csv(path, sep=_separator(path, "," if kind == "csv" else "\t"), **options)
    except (pa.ArrowException, pd.errors.ParserError, pd.errors.EmptyDataError,
            UnicodeDecodeError, OSError, ValueError) as error:
        raise DataError(f"{what} {path}", f"cannot be read as a {kind.upper()} table "
                        f"({type(error).__name__}: {str(error).splitlines()[0][:200]})",
                        "Check that it is the file you meant; text tables must be UTF-8 with "
                        "a header row") from None


# --------------------------------------------------------------------------- images


def read_rgb(path: str | Path, *, size: int | None = None) -> Any:
    """Read an image file as a uint8 RGB array (H, W, 3), optionally resized to ``size`` square.

    Resizing is bilinear over the whole source (antialiased when shrinking).

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataError
        It is not an image PIL can read (the message names it).
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"image {path}", "Check the path.")
    try:
        with Image.open(path) as image:
            image = _to_rgb8(image)
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"image {path}", f"cannot be read as an image ({error})",
                        "Pass a PNG, JPEG or TIFF file; re-export it if it is truncated") from None


def _to_rgb8(image: Any) -> Any:
    """An 8-bit RGB PIL image; 16- and 32-bit grey are scaled, not clipped to white."""
    import numpy as np
    from PIL import Image

    if image.mode.startswith("I;16") or image.mode == "I":
        # PIL's convert("RGB") clips these at 255: a 16-bit grey tile would come back white.
        grey = np.asarray(image, dtype=np.float64)
        full = 65535.0 if image.mode.startswith("I;16") or grey.max() <= 65535 else grey.max()
        grey8 = np.clip(grey * (255.0 / full) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey8).convert("RGB")
    return image.convert("RGB")


# --------------------------------------------------------------------------- hashes

_sha256_cache: dict[tuple[str, int, int], str] = {}
_cache_lock = threading.Lock()


def file_digests(path: str | Path, algorithms: Iterable[str] = ("md5", "sha256")) -> dict[str, str]:
    """Hex digests of a file in the given algorithms, reading it once."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(8 * _BLOCK), b""):
            for digest in hashes.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file, cached per (path, size, mtime) in this process.

    An 80 MB weights file is then read once per process, however many extractors
    and provenance records name it.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        if key in _sha256_cache:
            return _sha256_cache[key]
    value = file_digests(path, ("sha256",))["sha256"]
    with _cache_lock:
        _sha256_cache[key] = value
    return value


def file_fingerprint(path: str | Path, *, full: bool = False) -> dict[str, Any]:
    """A slide file's identity for provenance, in constant time unless ``full``.

    Parameters
    ----------
    path : path
        The file.
    full : bool, default False
        Hash the whole file (``sha256``). The default hashes the size and the first,
        middle and last MiB (``partial_sha256``): constant time for multi-GB slides,
        and it still changes when a file is replaced or truncated.

    Returns
    -------
    dict
        ``{"size": bytes, "partial_sha256": hex}`` or ``{"size": bytes, "sha256": hex}``.
    """
    path = Path(path)
    size = path.stat().st_size
    if full:
        return {"size": size, "sha256": file_sha256(path)}
    digest = hashlib.sha256(size.to_bytes(8, "little"))
    with open(path, "rb") as handle:
        for offset in sorted({0, max(0, size // 2 - _BLOCK // 2), max(0, size - _BLOCK)}):
            handle.seek(offset)
            digest.update(handle.read(_BLOCK))
    return {"size": size, "partial_sha256": digest.hexdigest()}
