"""featx.embed.formats.torch_file: torch.save tensors read without PyTorch, no code from the file run."""

from __future__ import annotations

import pickle
import sys
import zipfile

import numpy as np
import pytest

from featx.embed.formats.torch_file import read_torch_tensor
from featx.errors import DataError, DataNotFoundError
from tests.embed.formats._foreign_files import write_torch_archive, write_torch_tensor

FEATURES = np.random.default_rng(7).normal(size=(12, 8)).astype(np.float32)


def test_torch_tensor_reads_without_pytorch_with_its_strides(tmp_path):
    assert "torch" not in sys.modules
    plain = read_torch_tensor(write_torch_tensor(tmp_path / "a.pt", FEATURES))
    strided = read_torch_tensor(write_torch_tensor(tmp_path / "b.pt", FEATURES, transposed=True))
    np.testing.assert_array_equal(plain, FEATURES)
    np.testing.assert_array_equal(strided, FEATURES)
    assert strided.dtype == np.float32 and strided.flags.c_contiguous


def test_torch_unpickler_runs_no_code_from_the_file(tmp_path):
    payload = pickle.dumps(print)  # any global other than the tensor rebuild is refused
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    with pytest.raises(DataError, match="builtins.print is not part of a plain tensor"):
        read_torch_tensor(tmp_path / "evil.pt")
    (tmp_path / "legacy.pt").write_bytes(b"\x80\x02not a zip")
    with pytest.raises(DataError, match="torch >= 1.6 zip format"):
        read_torch_tensor(tmp_path / "legacy.pt")
    with pytest.raises(DataNotFoundError, match="absent.pt"):
        read_torch_tensor(tmp_path / "absent.pt")


# --------------------------------------------------------------------------- hostile files
# Each of these read memory the tensor does not own, allocated without bound, or escaped as
# an unexpected error before the reader checked the tensor against its storage.

INTS = np.arange(16, dtype=np.int64)


@pytest.mark.parametrize("fields, needle", [
    # Negative strides walk backwards out of the storage: process heap became features.
    ({"offset": 0, "shape": (14, 16), "stride": (-16, 1)}, "negative offset, size or stride"),
    ({"offset": 15, "shape": (224,), "stride": (-1,)}, "negative offset, size or stride"),
    ({"offset": -8, "shape": (4,), "stride": (1,)}, "negative offset, size or stride"),
    # Past the end of the storage.
    ({"offset": 10, "shape": (2, 8), "stride": (8, 1)}, "reaches element 25 of a storage of 16"),
    ({"offset": 0, "shape": (4, 4), "stride": (5, 1)}, "reaches element 18"),
    # Stride 0 repeating 16 values into 200,000 x 200,000 (a 149 GiB allocation).
    ({"offset": 0, "shape": (200_000, 200_000), "stride": (0, 0)}, "repeating a storage of 16"),
    # Fields of the wrong kind.
    ({"offset": 0, "shape": (4, 4), "stride": (4,)}, "expected up to 8 ints each"),
    ({"offset": 0, "shape": (4.0, 4), "stride": (4, 1)}, "expected up to 8 ints each"),
    ({"offset": "0", "shape": (4, 4), "stride": (4, 1)}, "expected up to 8 ints each"),
    ({"offset": 0, "shape": (True, 4), "stride": (4, 1)}, "expected up to 8 ints each"),
    # A storage that declares more elements than its bytes hold.
    ({"offset": 0, "shape": (4, 4), "stride": (4, 1), "numel": 1_000_000},
     "holds 128 bytes where its tensor needs 8000000"),
])
def test_a_tensor_that_does_not_fit_its_storage_is_refused_before_any_read(tmp_path, fields,
                                                                           needle):
    path = write_torch_archive(tmp_path / "evil.pt", INTS, kind="LongStorage", **fields)
    with pytest.raises(DataError, match=needle):
        read_torch_tensor(path)


def test_views_inside_the_storage_still_read(tmp_path):
    # Offsets, slices and transposes that stay inside: what torch.save writes for views.
    for fields, expected in (
            ({"offset": 4, "shape": (3, 4), "stride": (4, 1)}, INTS[4:16].reshape(3, 4)),
            ({"offset": 0, "shape": (4, 4), "stride": (1, 4)}, INTS.reshape(4, 4).T),
            ({"offset": 3, "shape": (1, 5), "stride": (99, 2)}, INTS[3:13:2][None]),
            ({"offset": 16, "shape": (0, 8), "stride": (8, 1)}, np.zeros((0, 8), np.int64))):
        path = write_torch_archive(tmp_path / "ok.pt", INTS, kind="LongStorage", **fields)
        np.testing.assert_array_equal(read_torch_tensor(path), expected)


def test_a_deflate_bomb_is_refused_unread(tmp_path, monkeypatch):
    # 64 MiB of zeros deflated to ~64 KiB: torch.save stores members uncompressed.
    path = write_torch_archive(tmp_path / "bomb.pt", np.zeros(0, np.float32), shape=(4096, 4096),
                               stride=(4096, 1), storage_bytes=64 * 2**20, compress=True)
    assert path.stat().st_size < 2**20
    read, original = [], zipfile.ZipExtFile.read

    def spy(self, *args):
        data = original(self, *args)
        read.append(len(data))
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", spy)
    with pytest.raises(DataError, match="would expand from .* to 67108864 bytes .*bomb"):
        read_torch_tensor(path)
    assert sum(read) < 4096  # byteorder and data.pkl only, never the bomb


def test_a_large_storage_is_checked_against_the_free_memory(tmp_path, monkeypatch):
    from featx import _validate
    from featx.errors import MemoryBudgetError

    path = write_torch_archive(tmp_path / "big.pt", np.zeros(0, np.float32), shape=(2048, 2048),
                               stride=(2048, 1), storage_bytes=16 * 2**20)
    monkeypatch.setattr(_validate, "_UNCHECKED_BYTES", 0)
    monkeypatch.setattr(_validate, "available_memory", lambda: 2**20)
    with pytest.raises(MemoryBudgetError, match="archive/data/0 of .*big.pt needs 16 MiB"):
        read_torch_tensor(path)


def test_calling_a_storage_constructor_is_refused(tmp_path):
    path = write_torch_archive(tmp_path / "ctor.pt", INTS.astype(np.float32), shape=(4, 4),
                               stride=(4, 1), call_storage=True)
    with pytest.raises(DataError, match="not a tensor saved by torch.save"):
        read_torch_tensor(path)


@pytest.mark.parametrize("payload", [
    b"\x80\x02}q\x00.",  # an empty dict: no tensor
    b"\x80\x02X\x05\x00\x00\x00hello.",  # a string
    b"\x80\x02\x8e" + (10**12).to_bytes(8, "little") + b"abc",  # BINBYTES8 of a terabyte
    b"\x80\x02(" * 100_000,  # marks, forever
    b"not a pickle",
])
def test_malformed_pickles_are_one_data_error(tmp_path, payload):
    path = write_torch_archive(tmp_path / "junk.pt", INTS.astype(np.float32), shape=(16,),
                               stride=(1,), payload=payload)
    with pytest.raises(DataError, match=str(path.name)):
        read_torch_tensor(path)
