"""Tests of featx._io: atomic writes, the table reader, hashes."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from featx import _io
from featx.errors import DataError, DataNotFoundError, InvalidParameterError


def test_atomic_write_leaves_old_file_on_error_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    _io.write_text(target, "old")
    with pytest.raises(RuntimeError), _io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_written_files_get_the_umask_permissions(tmp_path: Path) -> None:
    path = _io.write_json(tmp_path / "x" / "a.json", {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_io._UMASK
    assert path.read_text().startswith("{")


def test_temp_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "_status.csv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = tmp_path / f"{_io._temp_prefix(target)}{dead}.abcd1234.tmp"
    mine = tmp_path / f"{_io._temp_prefix(target)}{os.getpid()}.abcd1234.tmp"
    left.write_text("x")
    mine.write_text("x")
    assert _io.remove_dead_temps(target) == 1
    assert not left.exists() and mine.exists()


def test_write_table_by_suffix_and_refuses_others(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for suffix in (".parquet", ".csv", ".tsv"):
        path = _io.write_table(frame, tmp_path / f"t{suffix}")
        pd.testing.assert_frame_equal(_io.read_table(path), frame)
    with pytest.raises(InvalidParameterError, match="xlsx"):
        _io.write_table(frame, tmp_path / "t.xlsx")
    assert not (tmp_path / "t.xlsx").exists()


def test_read_table_sniffs_separators_and_names_bad_files(tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_text("id;value\np1;3\np2;4\n")
    assert list(_io.read_table(tmp_path / "semi.csv").columns) == ["id", "value"]
    (tmp_path / "ids.tsv").write_text("id\tmd5\n001\t0e5\n")
    table = _io.read_table(tmp_path / "ids.tsv", dtype=str)
    assert table.iloc[0].tolist() == ["001", "0e5"]  # strings stay strings
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="bad.parquet"):
        _io.read_table(tmp_path / "bad.parquet", what="target table")
    (tmp_path / "notes.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown table format"):
        _io.read_table(tmp_path / "notes.xlsx")
    with pytest.raises(DataNotFoundError, match="missing.csv"):
        _io.read_table(tmp_path / "missing.csv")


def test_hashes_agree_with_hashlib_and_fingerprint_changes_on_truncation(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    assert _io.file_digests(path) == {"md5": hashlib.md5(data).hexdigest(),
                                      "sha256": hashlib.sha256(data).hexdigest()}
    assert _io.file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert _io.file_fingerprint(path, full=True)["sha256"] == hashlib.sha256(data).hexdigest()
    before = _io.file_fingerprint(path)
    path.write_bytes(data[:-10])
    assert _io.file_fingerprint(path) != before


def test_read_rgb_resizes_and_names_a_broken_image(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (10, 20), (200, 10, 10)).save(tmp_path / "a.png")
    assert _io.read_rgb(tmp_path / "a.png").shape == (20, 10, 3)
    assert _io.read_rgb(tmp_path / "a.png", size=8).shape == (8, 8, 3)
    (tmp_path / "b.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(DataError, match="b.png"):
        _io.read_rgb(tmp_path / "b.png")


_UMASK_SCRIPT = """
import os, stat, sys
os.umask(0o{umask:o})  # before featx reads it at import
sys.path[:0] = [{root!r}]
import numpy as np, pandas as pd
from pathlib import Path
from featx import _io
from featx.embed.store import write_slide_embeddings
from featx.wsi.synthetic import write_synthetic_slide
out = Path({out!r})
from featx.embed.store import TILE_COLUMNS
coords = pd.DataFrame({{c: [0] for c in TILE_COLUMNS}})
paths = [
    write_slide_embeddings(out / "store", coords, np.zeros((1, 4), np.float32),
                           extractor="X", slide_id="s"),
    _io.write_table(pd.DataFrame({{"a": [1]}}), out / "tiles.csv"),
    _io.write_table(pd.DataFrame({{"a": [1]}}), out / "pooled.parquet"),
    _io.write_text(out / "report.html", "<html></html>"),
    write_synthetic_slide(out / "slide.svs", width_px=256, height_px=256, slide_mpp=0.5).path,
]
with _io.atomic_path(out / "tile.png") as tmp:
    tmp.write_bytes(b"png")
paths.append(out / "tile.png")
print(" ".join(f"{{stat.S_IMODE(p.stat().st_mode):o}}" for p in paths))
"""


@pytest.mark.parametrize("umask, mode", [(0o022, "644"), (0o002, "664"), (0o077, "600")])
def test_every_kind_of_output_gets_the_umask_permissions(tmp_path: Path, umask: int,
                                                         mode: str) -> None:
    root = str(Path(__file__).resolve().parents[1])
    script = _UMASK_SCRIPT.format(umask=umask, root=root, out=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == [mode] * 6, done.stdout


def test_sixteen_bit_grey_png_keeps_its_contrast(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    grey = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(grey).save(path)
    assert Image.open(path).mode.startswith("I")  # PIL reads it as 16/32-bit grey
    rgb = _io.read_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    assert rgb.min() == 0 and rgb.max() == 255
    np.testing.assert_allclose(rgb[..., 0].astype(float), grey / 257.0, atol=1)


def test_passing_causes_are_told_from_the_file_s_own():
    import errno

    from featx._io import is_transient
    from featx.errors import LockTimeoutError, SlideError

    assert is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert is_transient(OSError(errno.EIO, "Input/output error"))
    assert is_transient(TimeoutError("read timed out")) and is_transient(MemoryError())
    assert not is_transient(OSError(errno.ENOENT, "No such file"))
    assert not is_transient(ValueError("bad"))
    assert not is_transient(LockTimeoutError("x.lock", "process 1 on h", 3.0))
    try:  # a featx error raised while the disk was full: the cause decides
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise SlideError("a.svs", "cannot be written") from None
    except SlideError as error:
        assert is_transient(error)
