"""Repeated K-fold splits that are the same for every extractor.

A comparison of two extractors is paired only if both see exactly the same
train/test splits. :func:`make_folds` therefore draws the folds once, from the
samples and their labels alone (never from the features), and every model of
every extractor reuses them. Repetition ``r`` is seeded from ``(seed, r)``, so
its folds do not depend on how many repetitions are run: the first 10 of a
50-repetition run are the 10 of a 10-repetition run.

Which splitter is used:

========================  ============================  ============================
``y``                     ``groups`` (e.g. patient)      splitter (scikit-learn)
========================  ============================  ============================
None (regression)         None                          ``KFold(shuffle=True)``
None                      given                         ``GroupKFold(shuffle=True)``
classes / 0-1 mutations   None                          ``StratifiedKFold``
classes / 0-1 mutations   given                         ``StratifiedGroupKFold``
========================  ============================  ============================
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from featx._validate import non_negative_int, positive_int
from featx.errors import DataError, InvalidParameterError


@dataclass(frozen=True, eq=False)
class RepeatedFolds:
    """The fold of every sample in every repetition.

    Attributes
    ----------
    fold_ids : numpy.ndarray
        int array of shape (n_repeats, n_samples); ``fold_ids[r, i]`` is the fold in
        which sample ``i`` is a test sample in repetition ``r``.
    n_splits : int
        Folds per repetition.
    seed : int
        Seed the folds were drawn from.
    """

    fold_ids: np.ndarray
    n_splits: int
    seed: int

    @property
    def n_repeats(self) -> int:
        """Number of repetitions."""
        return int(self.fold_ids.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.fold_ids.shape[1])

    def split(self, repetition: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, test_index)`` for each fold of one repetition."""
        if not 0 <= repetition < self.n_repeats:
            raise InvalidParameterError(
                "repetition", f"an int in [0, {self.n_repeats - 1}]", repetition
            )
        ids = self.fold_ids[repetition]
        for fold in range(self.n_splits):
            yield np.flatnonzero(ids != fold), np.flatnonzero(ids == fold)

    @property
    def config(self) -> dict[str, int | str]:
        """JSON identity: sizes, seed and a hash of every fold assignment (for provenance)."""
        digest = hashlib.sha256(np.ascontiguousarray(self.fold_ids, dtype=np.int64)).hexdigest()
        return {"n_splits": self.n_splits, "n_repeats": self.n_repeats, "seed": self.seed,
                "n_samples": self.n_samples, "fold_ids_sha256": digest}

    def to_frame(self, sample_ids: pd.Index | None = None) -> pd.DataFrame:
        """Return a tidy table: repetition, sample, fold (one row per sample and repetition)."""
        samples = np.arange(self.n_samples) if sample_ids is None else np.asarray(sample_ids)
        return pd.DataFrame({
            "repetition": np.repeat(np.arange(self.n_repeats), self.n_samples),
            "sample": np.tile(samples, self.n_repeats),
            "fold": self.fold_ids.ravel(),
        })


def repetition_seed(seed: int, repetition: int) -> int:
    """The random state of one repetition: a function of ``(seed, repetition)`` only."""
    return int(np.random.SeedSequence([seed, repetition]).generate_state(1)[0])


def make_folds(
    n_samples: int,
    *,
    n_splits: int = 5,
    n_repeats: int = 50,
    seed: int = 0,
    y: np.ndarray | pd.Series | None = None,
    groups: np.ndarray | pd.Series | None = None,
) -> RepeatedFolds:
    """Draw repeated (stratified, grouped) K-fold splits.

    Parameters
    ----------
    n_samples : int
        Number of samples (rows shared by all extractors, in one fixed order).
    n_splits : int, default 5
        Folds per repetition (at least 2).
    n_repeats : int, default 50
        Repetitions.
    seed : int, default 0
        Base seed; repetition ``r`` uses a state derived from ``(seed, r)``.
    y : array-like, optional
        Class labels (tissue classes, 0/1 mutation status) to stratify on.
        Leave None for continuous targets.
    groups : array-like, optional
        Group of each sample (patient); all rows of a group land in the same fold.

    Returns
    -------
    RepeatedFolds

    Raises
    ------
    DataError
        When a class has fewer members (or patients) than folds, or there are
        fewer samples or groups than folds.
    """
    n_samples = positive_int("n_samples", n_samples)
    n_splits = positive_int("n_splits", n_splits)
    n_repeats = positive_int("n_repeats", n_repeats)
    seed = non_negative_int("seed", seed)
    if n_splits < 2:
        raise InvalidParameterError("n_splits", "an int >= 2", n_splits)
    y_arr = _check_length("y", y, n_samples)
    g_arr = _check_length("groups", groups, n_samples)
    _check_enough(n_samples, n_splits, y_arr, g_arr)

    fold_ids = np.empty((n_repeats, n_samples), dtype=np.int16)
    dummy = np.zeros((n_samples, 1))
    for rep in range(n_repeats):
        state = repetition_seed(seed, rep)
        if y_arr is None and g_arr is None:
            splits = KFold(n_splits, shuffle=True, random_state=state).split(dummy)
        elif y_arr is None:
            splits = GroupKFold(n_splits, shuffle=True, random_state=state).split(
                dummy, groups=g_arr)
        elif g_arr is None:
            splits = StratifiedKFold(n_splits, shuffle=True, random_state=state).split(
                dummy, y_arr)
        else:
            splits = StratifiedGroupKFold(n_splits, shuffle=True, random_state=state).split(
                dummy, y_arr, g_arr)
        for fold, (_, test) in enumerate(splits):
            fold_ids[rep, test] = fold
    return RepeatedFolds(fold_ids=fold_ids, n_splits=n_splits, seed=seed)


def _check_length(name: str, values: object, n_samples: int) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.ndim != 1 or len(arr) != n_samples:
        raise InvalidParameterError(name, f"a 1-d array of length n_samples={n_samples}",
                                    f"shape {arr.shape}")
    if pd.isna(arr).any():
        raise DataError(name, f"{int(pd.isna(arr).sum())} missing values",
                        "Drop those samples before drawing folds")
    return arr


def _check_enough(n_samples: int, n_splits: int, y: np.ndarray | None,
                  groups: np.ndarray | None) -> None:
    """Raise a clear DataError where scikit-learn would fail or silently warn."""
    if groups is None and n_samples < n_splits:
        raise DataError("samples", f"{n_samples} samples for {n_splits} folds",
                        "Use fewer folds (n_splits) or more samples")
    if groups is not None:
        n_groups = len(pd.unique(groups))
        if n_groups < n_splits:
            raise DataError("groups", f"{n_groups} distinct groups (patients) for {n_splits} "
                            "folds", "Use fewer folds (n_splits) or more patients")
    if y is None:
        return
    units = pd.Series(y if groups is None else list(zip(y, groups)))
    if groups is not None:  # count patients per class, not rows
        units = units.drop_duplicates().map(lambda pair: pair[0])
    counts = units.value_counts()
    if len(counts) < 2:
        raise DataError("y", f"a single class {counts.index[0]!r}",
                        "Classification needs at least two classes")
    small = counts[counts < n_splits]
    if len(small):
        unit = "patients" if groups is not None else "members"
        listed = ", ".join(f"{k!r}: {v}" for k, v in small.items())
        raise DataError("y", f"class(es) with fewer {unit} than the {n_splits} folds "
                        f"({listed})", "Use fewer folds, merge or drop those classes, or "
                        "leave out that target")
