"""The one rule that maps TCGA barcodes to patients.

A TCGA barcode starts with the patient, ``TCGA-<TSS>-<participant>`` (12
characters: ``TCGA-55-8514``), shared by every sample, aliquot and slide of that
patient (``TCGA-55-8514-01A-01-TS1.<uuid>``). Matching ignores case and returns
the patient in upper case, so ``tcga-55-8514-01a`` and ``TCGA-55-8514-11A`` are
the same patient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TCGA_PATIENT = re.compile(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}", re.IGNORECASE)
#: Length of the patient part of a TCGA barcode.
TCGA_PATIENT_CHARS = 12


def tcga_patient(barcode: str) -> str | None:
    """The patient part of a TCGA barcode in upper case, or None if it is not one."""
    match = _TCGA_PATIENT.match(str(barcode))
    return match.group(0).upper() if match else None


def patient_id_from_slide(slide_id: str, mapping: Mapping[str, str] | None = None) -> str:
    """The patient a slide belongs to.

    Parameters
    ----------
    slide_id : str
        The slide's identifier (a TCGA slide barcode or any other name).
    mapping : mapping of str to str, optional
        Explicit slide -> patient assignments; they take precedence.

    Returns
    -------
    str
        ``mapping[slide_id]`` if given, else the patient of a TCGA barcode
        (:func:`tcga_patient`), else ``slide_id`` itself (one patient per slide).
    """
    if mapping is not None and slide_id in mapping:
        return str(mapping[slide_id])
    return tcga_patient(slide_id) or slide_id


_TCGA_SAMPLE = re.compile(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}-(\d{2})", re.IGNORECASE)
#: TCGA sample type codes featx names (the GDC's code table): 01 primary solid tumour,
#: 02 recurrent solid tumour, 06 metastatic, 10 blood derived normal, 11 solid tissue normal.
SAMPLE_TYPES = {"01": "primary tumour", "02": "recurrent tumour", "03": "primary blood cancer",
                "05": "additional primary", "06": "metastatic", "07": "additional metastatic",
                "10": "blood normal", "11": "solid tissue normal"}


def tcga_sample_type(barcode: str) -> str | None:
    """The two-digit sample type code of a TCGA sample barcode (``"01"``), or None.

    ``TCGA-05-4244-01A-01R-1107-07`` is sample type ``01`` (primary solid tumour);
    a bare patient barcode (``TCGA-05-4244``) has none.
    """
    match = _TCGA_SAMPLE.match(str(barcode))
    return match.group(1) if match else None
