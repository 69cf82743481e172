"""Which TCGA samples become patient rows, and an account of what was left out.

A TCGA sample barcode carries its sample type in characters 14-15
(``TCGA-05-4244-01A-...``: ``01`` primary solid tumour, ``11`` solid tissue normal,
``02`` recurrence; :data:`featx.barcodes.SAMPLE_TYPES`). The papers model the primary
tumour, so by default only type ``01`` is kept; a patient with several kept aliquots
(re-sequenced, or several vials) gets their mean.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from featx.barcodes import SAMPLE_TYPES, tcga_patient, tcga_sample_type
from featx.errors import DataError

#: The default: primary solid tumours only.
PRIMARY_TUMOUR = ("01",)


def select_samples(barcodes: Sequence[str], *, sample_types: Sequence[str] | None = PRIMARY_TUMOUR,
                   what: str = "samples") -> tuple[pd.Series, dict[str, Any], list[str]]:
    """Keep the samples of the wanted types, each mapped to its patient.

    Parameters
    ----------
    barcodes : sequence of str
        TCGA sample or aliquot barcodes.
    sample_types : sequence of str or None
        Two-digit codes to keep; None keeps every sample.
    what : str
        What the barcodes are, for messages.

    Returns
    -------
    patients : pandas.Series
        Kept barcode -> patient, in input order.
    record : dict
        ``samples_in``, ``samples_kept``, ``dropped_by_sample_type`` ({type name: count}).
    notes : list of str
        One line per kind of sample dropped.

    Raises
    ------
    DataError
        A barcode that is not a TCGA sample barcode (its type cannot be read).
    """
    codes = [tcga_sample_type(b) for b in barcodes]
    bad = [b for b, c in zip(barcodes, codes) if c is None]
    if bad and sample_types is not None:
        raise DataError(what, f"{len(bad)} of {len(codes)} IDs are not TCGA sample barcodes "
                        f"(e.g. {bad[:3]}), so their sample type is unknown",
                        "Pass sample barcodes (TCGA-05-4244-01A...), or keep every sample "
                        "(--sample-types all)")
    keep = [sample_types is None or c in sample_types for c in codes]
    kept = [b for b, k in zip(barcodes, keep) if k]
    dropped = Counter(c for c, k in zip(codes, keep) if not k)
    named = {f"{c} {SAMPLE_TYPES.get(c, 'other')}": n for c, n in sorted(dropped.items())}
    notes = [f"dropped {n} {what} of sample type {name}" for name, n in named.items()]
    patients = pd.Series([tcga_patient(b) or b for b in kept], index=kept, dtype=object)
    record = {"samples_in": len(codes), "samples_kept": len(kept),
              "sample_types_kept": list(sample_types) if sample_types is not None else "all",
              "dropped_by_sample_type": named}
    return patients, record, notes


def several_per_patient(patients: pd.Series) -> dict[str, list[str]]:
    """Patients with more than one kept sample, and those samples' barcodes."""
    counts = patients.value_counts()
    return {p: sorted(patients.index[patients == p]) for p in sorted(counts.index[counts > 1])}
