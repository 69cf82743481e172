"""featx.evaluation.parallel: memory-mapped sharing and ordered results from worker processes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from featx.evaluation.parallel import ordered_map, shared_arrays


def _row_sum_and_pid(x: np.ndarray, row: int) -> tuple[float, int]:
    return float(x[row].sum()), os.getpid()


def test_shared_arrays_are_read_only_maps_removed_afterwards():
    arrays = {"a": np.arange(12.0).reshape(3, 4), "b": np.ones((2, 2), dtype=np.float32)}
    with shared_arrays(arrays) as shared:
        assert all(isinstance(m, np.memmap) for m in shared.values())
        for name in arrays:
            np.testing.assert_array_equal(shared[name], arrays[name])
            assert shared[name].dtype == arrays[name].dtype
        with pytest.raises(ValueError, match="read-only"):
            shared["a"][0, 0] = 1.0
        folder = Path(shared["a"].filename).parent
    assert not folder.exists()


def test_shared_arrays_disabled_passes_the_arrays_through():
    x = np.zeros(3)
    with shared_arrays({"x": x}, enabled=False) as shared:
        assert shared["x"] is x


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_ordered_map_keeps_task_order(n_jobs: int):
    x = np.arange(40.0).reshape(10, 4)
    with shared_arrays({"x": x}, enabled=n_jobs > 1) as shared:
        results = list(ordered_map(_row_sum_and_pid, ((shared["x"], r) for r in range(10)),
                                   n_jobs=n_jobs))
    assert [s for s, _ in results] == [float(x[r].sum()) for r in range(10)]
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) if n_jobs == 1 else (os.getpid() not in pids)


def test_shared_arrays_says_where_it_could_not_write(monkeypatch, tmp_path):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(OSError, match=r"'x' \(1 MiB\) to .*No space left.*TMPDIR.*n_jobs=1"):
        with shared_arrays({"x": np.zeros(2**17)}):
            pass
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone
