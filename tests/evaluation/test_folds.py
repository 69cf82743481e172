"""Repeated folds: partitions, stratification, grouping, reproducibility, errors."""

from __future__ import annotations

import numpy as np
import pytest

from featx.errors import DataError, InvalidParameterError
from featx.evaluation.folds import make_folds


def _is_partition(folds, rep):
    tests = [test for _, test in folds.split(rep)]
    joined = np.sort(np.concatenate(tests))
    return np.array_equal(joined, np.arange(folds.n_samples)) and all(len(t) for t in tests)


def test_every_repetition_is_a_partition_and_repetitions_differ():
    folds = make_folds(23, n_splits=5, n_repeats=4, seed=1)
    assert folds.fold_ids.shape == (4, 23)
    for rep in range(4):
        assert _is_partition(folds, rep)
        for train, test in folds.split(rep):
            assert not set(train) & set(test)
            assert len(train) + len(test) == 23
    assert not np.array_equal(folds.fold_ids[0], folds.fold_ids[1])


def test_same_seed_same_folds_and_prefix_stable():
    a = make_folds(30, n_splits=5, n_repeats=6, seed=7)
    b = make_folds(30, n_splits=5, n_repeats=6, seed=7)
    short = make_folds(30, n_splits=5, n_repeats=2, seed=7)
    other = make_folds(30, n_splits=5, n_repeats=2, seed=8)
    assert np.array_equal(a.fold_ids, b.fold_ids)
    assert np.array_equal(a.fold_ids[:2], short.fold_ids)  # repetition r depends on (seed, r)
    assert not np.array_equal(short.fold_ids, other.fold_ids)


def test_stratified_folds_keep_class_proportions():
    y = np.array([0] * 40 + [1] * 10)
    folds = make_folds(50, n_splits=5, n_repeats=3, y=y)
    for rep in range(3):
        for _, test in folds.split(rep):
            assert y[test].sum() == 2 and len(test) == 10


def test_grouped_folds_keep_a_patients_rows_together():
    groups = np.repeat(np.arange(12), 3)
    y = np.tile([0, 1, 2], 12)  # every patient has all classes
    for kwargs in ({}, {"y": y}):
        folds = make_folds(36, n_splits=4, n_repeats=2, groups=groups, **kwargs)
        for rep in range(2):
            for train, test in folds.split(rep):
                assert not set(groups[train]) & set(groups[test])


def test_a_class_with_fewer_members_than_folds_is_refused():
    y = np.array(["a"] * 20 + ["b"] * 3)
    with pytest.raises(DataError, match="fewer members than the 5 folds.*'b': 3"):
        make_folds(23, n_splits=5, n_repeats=1, y=y)
    groups = np.r_[np.arange(20), [20, 20, 21]]  # class b: only 2 patients
    with pytest.raises(DataError, match="fewer patients"):
        make_folds(23, n_splits=3, n_repeats=1, y=y, groups=groups)


def test_other_errors():
    with pytest.raises(DataError, match="4 samples for 5 folds"):
        make_folds(4, n_splits=5)
    with pytest.raises(DataError, match="3 distinct groups"):
        make_folds(9, n_splits=5, groups=np.repeat([1, 2, 3], 3))
    with pytest.raises(DataError, match="single class"):
        make_folds(10, n_splits=2, y=np.zeros(10))
    with pytest.raises(InvalidParameterError, match="n_splits"):
        make_folds(10, n_splits=1)
    with pytest.raises(InvalidParameterError, match="length"):
        make_folds(10, n_splits=2, y=np.zeros(9))
    with pytest.raises(InvalidParameterError, match="repetition"):
        next(make_folds(10, n_splits=2, n_repeats=1).split(3))


def test_to_frame_is_tidy():
    folds = make_folds(6, n_splits=3, n_repeats=2, seed=0)
    table = folds.to_frame(np.array(list("abcdef")))
    assert list(table.columns) == ["repetition", "sample", "fold"]
    assert len(table) == 12 and set(table["fold"]) == {0, 1, 2}
