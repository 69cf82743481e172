"""The report names the terms of the published models behind its results."""

from __future__ import annotations

from featx.extractors.presets import get_preset
from featx.report.builder import build_report
from featx.report.licences import licence_section


def test_results_from_a_preset_model_bring_its_terms_into_the_report():
    record = {"results/tissue_provenance.json": {"extractors": {
        "UNI2-h": {"path": "store", "extractor": {"name": "UNI2-h", "architecture": "onnx",
                                                  "preset": get_preset("UNI2-h").config}},
        "IMGNET-2048": {"path": "store", "extractor": {"name": "IMGNET-2048"}}}}}
    section = licence_section(record)
    assert section is not None and len(section.bullets) == 1
    assert "CC-BY-NC-ND 4.0" in section.bullets[0]
    assert "https://huggingface.co/MahmoodLab/UNI2-h" in section.bullets[0]
    assert licence_section({"x": {"extractor": {"name": "IMGNET-2048"}}}) is None
    report = build_report("r", provenance=record)
    assert any(s.heading.startswith("Terms of the models") for s in report.sections)
