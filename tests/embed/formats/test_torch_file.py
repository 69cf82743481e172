"""featx.embed.formats.torch_file: torch.save tensors read without PyTorch, no code from the file run."""

from __future__ import annotations

import pickle
import sys
import zipfile

import numpy as np
import pytest

from featx.embed.formats.torch_file import read_torch_tensor
from featx.errors import DataError, DataNotFoundError
from tests.embed.formats._foreign_files import write_torch_tensor

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
