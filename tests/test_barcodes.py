"""Tests of featx.barcodes: the one TCGA patient rule, used by the store, manifests and alignment."""

from __future__ import annotations

import pandas as pd

from featx.barcodes import patient_id_from_slide, tcga_patient
from featx.embed.slides import slide_table
from featx.evaluation.alignment import patient_ids


def test_tcga_patient_ignores_case_and_returns_upper() -> None:
    assert tcga_patient("TCGA-55-8514-01A-01-TS1.0e0f") == "TCGA-55-8514"
    assert tcga_patient("tcga-55-8514-11a") == "TCGA-55-8514"
    assert tcga_patient("CMU-1-Small-Region") is None


def test_every_layer_uses_the_same_rule(tmp_path) -> None:
    ids = ["tcga-05-4244-01A", "TCGA-05-4244-11A-01-TS1"]
    assert list(patient_ids(ids)) == ["TCGA-05-4244"] * 2
    assert {patient_id_from_slide(i) for i in ids} == {"TCGA-05-4244"}
    table = slide_table(pd.DataFrame({"path": [str(tmp_path / f"{i}.svs") for i in ids]}))
    assert set(table["patient_id"]) == {"TCGA-05-4244"}
    assert patient_id_from_slide("slide-7", {"slide-7": "P1"}) == "P1"
    assert patient_id_from_slide("slide-7") == "slide-7"


def test_sample_type_is_read_from_sample_and_aliquot_barcodes():
    from featx.barcodes import tcga_sample_type

    assert tcga_sample_type("TCGA-05-4244-01A-01R-1107-07") == "01"
    assert tcga_sample_type("tcga-44-7672-11a") == "11"
    assert tcga_sample_type("TCGA-05-4244") is None  # a patient has no sample type
    assert tcga_sample_type("sample-1") is None
