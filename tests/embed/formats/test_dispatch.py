"""featx.embed.formats.dispatch: the tool told from the file, its reader called, bad files named."""

from __future__ import annotations

import numpy as np
import pytest

from featx.embed.formats.dispatch import detect_format, read_foreign
from featx.errors import DataError, DataNotFoundError, InvalidParameterError
from tests.embed.formats._foreign_files import grid, write_clam, write_torch_tensor, write_trident

FEATURES = np.random.default_rng(7).normal(size=(12, 8)).astype(np.float32)
COORDS = grid()


def test_formats_are_detected_and_bad_files_named(tmp_path):
    assert detect_format(write_trident(tmp_path / "a.h5", FEATURES, COORDS)) == "trident"
    assert detect_format(write_clam(tmp_path / "b.h5", FEATURES, COORDS)) == "clam"
    assert detect_format(tmp_path / "c.pt") == "slideflow"
    assert detect_format(tmp_path / "t.parquet") == "table"
    with pytest.raises(InvalidParameterError, match="slideflow"):
        detect_format(tmp_path / "features.npy")
    with pytest.raises(DataNotFoundError, match="index.npz"):
        read_foreign(write_torch_tensor(tmp_path / "c.pt", FEATURES))
    import h5py

    with h5py.File(tmp_path / "d.h5", "w") as handle:
        handle.create_dataset("feats", data=FEATURES)
    with pytest.raises(DataError, match="no 'features' and 'coords' datasets"):
        read_foreign(tmp_path / "d.h5")
    with pytest.raises(DataError, match=r"coords of shape \(11, 2\) and dtype int64 for 12"):
        read_foreign(write_trident(tmp_path / "e.h5", FEATURES, COORDS[:11]))


def test_a_format_given_must_be_the_files(tmp_path):
    trident = write_trident(tmp_path / "a.h5", FEATURES, COORDS)
    assert read_foreign(trident, source_format="clam")[0].source_format == "trident"
    with pytest.raises(DataError, match="looks like clam, not trident"):
        read_foreign(write_clam(tmp_path / "b.h5", FEATURES, COORDS), source_format="trident")
    with pytest.raises(InvalidParameterError, match="'auto' or one of"):
        read_foreign(trident, source_format="npy")
