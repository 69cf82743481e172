"""Join embedding tables to targets by sample or patient, with clear errors.

Every experiment needs the same rows, in the same order, for every extractor
and the targets. :func:`align` builds that: it maps IDs to patients (TCGA
barcodes share their first 12 characters, ``TCGA-05-4244``, across slides,
samples and aliquots), refuses duplicated IDs, intersects the ID sets and
checks the targets (no NaN, not constant, enough members per class). Rows that
are not in every table are dropped with a warning that says how many of each
table went (and :attr:`Aligned.dropped` keeps the counts for the provenance file).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from featx._validate import one_of
from featx.barcodes import tcga_patient
from featx.errors import DataError, InvalidParameterError

#: How IDs are matched: "tcga" keeps the patient part (first 12 characters) of
#: TCGA barcodes; "exact" matches IDs as they are.
ID_MODES = ("tcga", "exact")


def patient_ids(ids: pd.Index | pd.Series | list[str], *, id_mode: str = "tcga") -> pd.Index:
    """Map sample/slide IDs to patient IDs.

    Parameters
    ----------
    ids : sequence of str
        Barcodes such as ``TCGA-05-4244-01A-01-TS1`` or plain IDs.
    id_mode : {"tcga", "exact"}, default "tcga"
        "tcga": the first 12 characters of each barcode (all must look like TCGA
        barcodes); "exact": IDs unchanged.

    Returns
    -------
    pandas.Index of str
    """
    one_of("id_mode", id_mode, ID_MODES)
    index = pd.Index([str(i) for i in ids])
    if id_mode == "exact":
        return index
    patients = [tcga_patient(i) for i in index]
    bad = [i for i, p in zip(index, patients) if p is None]
    if bad:
        raise DataError("IDs", f"{len(bad)} of {len(index)} are not TCGA barcodes "
                        f"(e.g. {bad[:3]})", "Pass id_mode='exact' (--id-mode exact) to "
                        "match IDs as they are")
    return pd.Index(patients)


def mean_by_patient(table: pd.DataFrame, *, id_mode: str = "tcga") -> pd.DataFrame:
    """Average the rows (tiles, slides) of each patient: the patient-mean embedding.

    Parameters
    ----------
    table : pandas.DataFrame
        Numeric features indexed by sample/slide/tile-owner ID.
    id_mode : {"tcga", "exact"}
        How the index maps to patients (see :func:`patient_ids`).
    """
    grouped = table.set_axis(patient_ids(table.index, id_mode=id_mode), axis=0)
    return grouped.groupby(level=0, sort=True).mean()


@dataclass(frozen=True, eq=False)
class Aligned:
    """Feature matrices and targets over the same rows, in the same order.

    Attributes
    ----------
    ids : pandas.Index
        Row IDs (patients or samples), sorted.
    features : dict of str to numpy.ndarray
        float64 (n_rows, n_features) per extractor, rows in ``ids`` order.
    targets : pandas.DataFrame
        Targets with index ``ids``.
    dropped : dict of str to int
        Rows each input had that are not in ``ids``: one key per extractor name, and
        ``"targets"``.
    """

    ids: pd.Index
    features: dict[str, np.ndarray]
    targets: pd.DataFrame
    dropped: dict[str, int]


def align(
    features: Mapping[str, pd.DataFrame],
    targets: pd.DataFrame | pd.Series,
    *,
    id_mode: str = "tcga",
) -> Aligned:
    """Keep the rows present in every feature table and in the targets.

    Parameters
    ----------
    features : mapping of str to pandas.DataFrame
        ``{extractor_name: features}``, each indexed by sample or patient ID,
        numeric columns only.
    targets : pandas.DataFrame or pandas.Series
        One column per target, indexed by ID.
    id_mode : {"tcga", "exact"}, default "tcga"
        How IDs are matched (see :func:`patient_ids`).

    Returns
    -------
    Aligned

    Raises
    ------
    DataError
        IDs duplicated after mapping, no IDs in common, non-numeric or NaN features.
    """
    if not isinstance(features, Mapping) or not features:
        raise InvalidParameterError("features", "a non-empty dict {extractor_name: DataFrame}",
                                    type(features).__name__)
    if isinstance(targets, pd.Series):
        targets = targets.to_frame(targets.name or "target")
    if not isinstance(targets, pd.DataFrame):
        raise InvalidParameterError("targets", "a pandas DataFrame or Series",
                                    type(targets).__name__)
    tables = {name: _with_ids(f"features[{name!r}]", table, id_mode)
              for name, table in features.items()}
    target_table = _with_ids("targets", targets, id_mode)
    common = target_table.index
    for table in tables.values():
        common = common.intersection(table.index)
    if len(common) == 0:
        examples = {name: list(t.index[:2]) for name, t in tables.items()}
        raise DataError("IDs", f"no ID is in every table (targets e.g. "
                        f"{list(target_table.index[:2])}, features e.g. {examples})",
                        "Check that all tables use the same kind of ID (patient, sample, "
                        "slide) and the right id_mode")
    common = common.sort_values()
    out: dict[str, np.ndarray] = {}
    for name, table in tables.items():
        values = table.loc[common]
        non_numeric = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
        if non_numeric:
            raise DataError(f"features[{name!r}]", f"non-numeric columns {non_numeric[:5]}",
                            "Pass only feature columns; put IDs in the index")
        matrix = values.to_numpy(dtype=np.float64)
        if not np.isfinite(matrix).all():
            raise DataError(f"features[{name!r}]", f"{int((~np.isfinite(matrix)).sum())} "
                            "NaN or infinite values", "Recompute or drop those rows")
        out[name] = matrix
    dropped = {name: len(t) - len(common) for name, t in tables.items()}
    dropped["targets"] = len(target_table) - len(common)
    _warn_dropped(dropped, {**{n: len(t) for n, t in tables.items()},
                            "targets": len(target_table)}, len(common))
    return Aligned(ids=common, features=out, targets=target_table.loc[common], dropped=dropped)


def _warn_dropped(dropped: dict[str, int], sizes: dict[str, int], kept: int) -> None:
    """Say how many rows of each table are not in the intersection (silent loss otherwise)."""
    lost = {what: n for what, n in dropped.items() if n}
    if lost:
        listed = "; ".join(f"{n} of {sizes[what]} rows of "
                           f"{what if what == 'targets' else f'features[{what!r}]'}"
                           for what, n in lost.items())
        warnings.warn(f"IDs not in every table were dropped: {listed}; {kept} rows kept. "
                      "Check the ID kind and id_mode if more were expected",
                      UserWarning, stacklevel=3)


def _with_ids(what: str, table: pd.DataFrame, id_mode: str) -> pd.DataFrame:
    """Re-index by (patient) ID and refuse duplicates."""
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameterError(what, "a pandas DataFrame indexed by ID",
                                    type(table).__name__)
    ids = patient_ids(table.index, id_mode=id_mode)
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise DataError(what, f"{len(dup)} duplicated IDs after mapping to "
                        f"{'patients' if id_mode == 'tcga' else 'IDs'} (e.g. {list(dup[:3])})",
                        "Average each patient's rows first (featx.evaluation.alignment.mean_by_patient) "
                        "or drop the duplicates")
    return table.set_axis(ids, axis=0)


# A trailing run of coordinates or counters (_12_40, -003, :7) and a file extension.
_TILE_SUFFIX = re.compile(r"(?:[_\-.: ]\d+)+$")
_EXTENSION = re.compile(r"\.(?:png|jpe?g|tiff?|bmp|webp|npy)$", re.IGNORECASE)


def likely_owners(ids: pd.Index | list[str]) -> pd.Index:
    """The patient (or slide) each tile ID seems to belong to, by its name alone.

    A TCGA barcode gives its patient; any other ID loses a file extension and a
    trailing run of separator-plus-number parts (``slide7_0012_0340.png`` ->
    ``slide7``). A guess, used only to warn (:func:`warn_if_grouped`).
    """
    owners = []
    for value in map(str, ids):
        patient = tcga_patient(value)
        owners.append(patient if patient else _TILE_SUFFIX.sub("", _EXTENSION.sub("", value))
                      or value)
    return pd.Index(owners)


def warn_if_grouped(ids: pd.Index) -> None:
    """Warn when tile IDs look like several tiles per patient and no groups were given.

    Without groups the folds split a patient's tiles between training and test, so
    the model is scored on tiles of patients it was trained on (optimistic accuracy).
    """
    owners = likely_owners(ids)
    counts = owners.value_counts()
    if 1 < len(counts) < len(owners):
        warnings.warn(f"{len(owners)} tile IDs look like they come from {len(counts)} "
                      f"patients or slides (e.g. {counts.index[0]!r} has {counts.iloc[0]} "
                      "tiles), but no groups were given: a patient's tiles can land in both "
                      "training and test folds, which inflates accuracy. Pass groups= "
                      "(--group-column) with each tile's patient", UserWarning, stacklevel=3)


def check_continuous(targets: pd.DataFrame) -> None:
    """Raise DataError if a continuous target has NaN/inf or is constant."""
    values = targets.apply(pd.to_numeric, errors="coerce")
    bad = values.columns[~np.isfinite(values.to_numpy(dtype=float)).all(axis=0)]
    if len(bad):
        raise DataError("targets", f"NaN, infinite or non-numeric values in {list(bad[:5])}"
                        f"{' ...' if len(bad) > 5 else ''}", "Drop those targets or patients "
                        "(targets.dropna()) before evaluating")
    constant = values.columns[values.nunique() < 2]
    if len(constant):
        raise DataError("targets", f"constant targets {list(constant[:5])}",
                        "A constant target cannot be predicted; drop it")


def check_binary(targets: pd.DataFrame, *, n_splits: int) -> None:
    """Raise DataError unless every target is 0/1 with both classes >= n_splits."""
    for column in targets.columns:
        values = targets[column]
        if values.isna().any():
            raise DataError(f"targets[{column!r}]", f"{int(values.isna().sum())} NaN values",
                            "Drop those patients (targets.dropna())")
        uniques = set(pd.unique(values))
        if not uniques <= {0, 1}:
            raise DataError(f"targets[{column!r}]", f"values {sorted(map(str, uniques))[:5]}, "
                            "not 0/1", "Encode mutated as 1 and wild type as 0")
        positives = int(values.astype(int).sum())
        smaller = min(positives, len(values) - positives)
        if smaller == 0:  # no folds would help: there is nothing to predict
            raise DataError(f"targets[{column!r}]", f"every patient is {int(values.iloc[0])} "
                            f"(constant over {len(values)} patients)",
                            "A constant target cannot be predicted; leave out this gene "
                            "(--columns) or check the table")
        if smaller < n_splits:
            raise DataError(f"targets[{column!r}]", f"only {smaller} patients in the "
                            f"minority class for {n_splits} folds", "Leave out this gene "
                            "or use fewer folds")
