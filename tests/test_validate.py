"""featx._validate: the one set of bounds for sizes and resolutions, and the memory check."""

from __future__ import annotations

import numpy as np
import pytest

from featx import _validate
from featx._validate import fits_in_memory, in_range, mpp, tile_px, tile_side_um
from featx.errors import InvalidParameterError, MemoryBudgetError


@pytest.mark.parametrize("value", [0.05, 0.25, 50.0])
def test_plausible_resolutions_pass(value):
    assert mpp("tile_mpp", value) == value


@pytest.mark.parametrize("value", [0.0, -0.5, 1e-6, 1e9, float("nan"), float("inf"), True, "0.5"])
def test_implausible_resolutions_say_why(value):
    with pytest.raises(InvalidParameterError, match=r"tile_mpp must be a number in \[0.05, 50\] "
                       r"\(microns per pixel: 0.05 is finer than any scanner"):
        mpp("tile_mpp", value)


@pytest.mark.parametrize("value", [0, -3, 15, 8193, 10**9, 224.0, None])
def test_tile_sides_outside_the_range_say_why(value):
    with pytest.raises(InvalidParameterError, match=r"an int in \[16, 8192\] \(a tile side"):
        tile_px("tile_px", value)
    assert tile_px("tile_px", 16) == 16 and tile_px("tile_px", np.int64(8192)) == 8192


def test_tile_side_in_microns_is_bounded():
    assert tile_side_um(224, 0.5) == pytest.approx(112.0)
    with pytest.raises(InvalidParameterError, match="at most 5000 microns"):
        tile_side_um(8192, 1.0)


def test_in_range_is_inclusive_and_typed():
    assert in_range("k", 3, 1, 3, why="w", integer=True) == 3
    with pytest.raises(InvalidParameterError, match=r"an int in \[1, 3\] \(w\)"):
        in_range("k", 2.5, 1, 3, why="w", integer=True)


def test_memory_estimate_refuses_before_allocating(monkeypatch):
    monkeypatch.setattr(_validate, "available_memory", lambda: 8 * 2**30)
    fits_in_memory("a small thing", 2**20, fix="none needed")
    fits_in_memory("a batch", 5 * 2**30, fix="none needed")  # within 3/4 of 8 GiB
    with pytest.raises(MemoryBudgetError, match=r"a batch needs 7 GiB of memory, more than the "
                       r"6 GiB free; lower --batch-size") as caught:
        fits_in_memory("a batch", 7 * 2**30, fix="lower --batch-size")
    assert caught.value.needed_bytes == 7 * 2**30
    with pytest.raises(MemoryBudgetError, match="4.29e\\+09 GiB"):  # 2**62 bytes, not an overflow
        fits_in_memory("a thumbnail", 1e30, fix="raise its mpp")


def test_small_allocations_never_ask_the_system(monkeypatch):
    def boom() -> int:
        raise AssertionError("asked")

    monkeypatch.setattr(_validate, "available_memory", boom)
    fits_in_memory("one tile", 224 * 224 * 3, fix="-")


def test_available_memory_is_a_positive_count():
    assert _validate.available_memory() > 2**20


@pytest.mark.parametrize("value", ["a.svs", "TCGA-LUAD/rnaseq", "./x.tsv", "dir/sub/f"])
def test_relative_paths_that_stay_inside_pass(value):
    assert _validate.relative_path("dest", value) == value


@pytest.mark.parametrize("value", ["../x", "/etc/passwd", "a/../../x", "..\\x", "a\x00b", "", " ",
                                   ".", None, 5])
def test_paths_that_leave_their_folder_are_refused(value):
    with pytest.raises(InvalidParameterError, match="stays inside the destination folder"):
        _validate.relative_path("dest", value)


def test_one_part_paths_are_plain_file_names():
    assert _validate.relative_path("file", "a.svs", one_part=True) == "a.svs"
    with pytest.raises(InvalidParameterError, match="a plain file name"):
        _validate.relative_path("file", "sub/a.svs", one_part=True)
