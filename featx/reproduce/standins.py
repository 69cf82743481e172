"""Stand-in patient embeddings for ``--small`` runs where the data folder has no TCGA slides.

They are labelled as what they are, by name and in the provenance, and never mistaken
for image features:

* ``STANDIN-IMMUNE``: each patient's 22 CIBERSORT immune-cell fractions and leukocyte
  fraction (TCGA PanImmune, estimated from RNA-seq, not from slides). Immune-gene
  expression is partly predictable from them, so the path shows a real signal;
* ``STANDIN-NOISE``: seeded Gaussian noise of the same width, which predicts nothing.

Comparing the two checks the whole evaluation path on the real target tables with a
known direction: STANDIN-IMMUNE should beat STANDIN-NOISE on most immune genes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from featx._io import read_table
from featx.barcodes import tcga_patient
from featx.errors import DataError

#: The stand-in table in the public data folder.
PANIMMUNE = Path("tables/panimmune/LUAD_primary_cibersort_leukocyte_DERIVED.tsv")
_ID_COLUMNS = ("patient", "sample15", "barcode")
#: What each stand-in is, as the evaluation's provenance records it (``extractors``).
DESCRIPTIONS = {"STANDIN-IMMUNE": "CIBERSORT immune-cell fractions and leukocyte fraction "
                "(TCGA PanImmune, estimated from RNA-seq, not from slides)",
                "STANDIN-NOISE": "seeded Gaussian noise of the same width"}
#: What the provenance says about stand-ins.
LABEL = ("stand-in embeddings, not image features: the data folder has no TCGA slides. "
         "STANDIN-IMMUNE = CIBERSORT fractions + leukocyte fraction (PanImmune, from RNA-seq); "
         "STANDIN-NOISE = seeded Gaussian noise")


def standin_width(data_dir: str | Path | None) -> int:
    """Features of each stand-in table (the PanImmune columns; 0 without the table)."""
    path = Path(data_dir or ".") / PANIMMUNE
    if not path.is_file():
        return 0
    header = pd.read_csv(path, sep="\t", nrows=0).columns
    return sum(c not in _ID_COLUMNS for c in header)


def standin_embeddings(data_dir: str | Path, patients: Sequence[str], *,
                       seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"STANDIN-IMMUNE": ..., "STANDIN-NOISE": ...}``, patient-indexed, for ``patients``.

    Patients without PanImmune estimates get no row (the join in the evaluation drops them).

    Raises
    ------
    DataError
        No patient of ``patients`` is in the PanImmune table.
    """
    table = read_table(Path(data_dir) / PANIMMUNE, what="PanImmune table")
    table.index = [tcga_patient(p) or p for p in table["patient"]]
    numeric = table.drop(columns=[c for c in _ID_COLUMNS if c in table])
    numeric = numeric.apply(pd.to_numeric, errors="coerce").dropna(axis=0)
    numeric = numeric[~numeric.index.duplicated()]
    keep = numeric.index.intersection(pd.Index(patients)).sort_values()
    if keep.empty:
        raise DataError(str(PANIMMUNE), "no patient in common with the targets",
                        "Check that the data folder is the featx public data")
    immune = numeric.loc[keep].astype(np.float64)
    immune.columns = [f"f{i:04d}" for i in range(immune.shape[1])]
    noise = np.random.default_rng(seed).standard_normal(immune.shape)
    return {"STANDIN-IMMUNE": immune,
            "STANDIN-NOISE": pd.DataFrame(noise, index=immune.index, columns=immune.columns)}
