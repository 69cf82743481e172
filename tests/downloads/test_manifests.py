"""Manifests: the bundled ones are well formed, GDC and path tables read, real data verifies."""

from __future__ import annotations

import re

import pytest

from featx.downloads.fetch import fetch
from featx.downloads.manifests import (
    GDC_DATA_ENDPOINT,
    MANIFEST_DIR,
    bundled_manifest,
    read_manifest,
)
from featx.embed.slides import slide_table
from featx.errors import InvalidParameterError

MD5 = re.compile(r"^[0-9a-f]{32}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
BUNDLED = ["tcga_luad_slides", "nct_crc_he", "openslide_testdata", "xception_weights",
           "luad_targets"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_manifests_are_well_formed(name):
    table = read_manifest(bundled_manifest(name))
    assert len(table) > 0
    assert table["filename"].is_unique
    assert table["size"].notna().all() and (table["size"] > 0).all()
    for value in table["md5"]:
        assert value == "" or MD5.match(value), value
    for value in table["sha256"]:
        assert value == "" or SHA256.match(value), value
    # Every file can be checked by something beyond its size.
    assert ((table["md5"] != "") | (table["sha256"] != "")).all()


def test_tcga_luad_manifest_is_a_gdc_manifest():
    table = read_manifest(bundled_manifest("tcga_luad_slides"))
    assert len(table) == 1060
    assert table["url"].str.startswith(GDC_DATA_ENDPOINT).all()
    assert (table["url"].str.len() == len(GDC_DATA_ENDPOINT) + 36).all()  # a UUID
    assert table["filename"].str.match(r"^TCGA-\w\w-\w{4}-\d\d[A-Z]-").all()
    assert (table["filename"].str[:12] == table["patient"]).all()
    slides = slide_table(bundled_manifest("tcga_luad_slides"), "/nonexistent")
    assert (slides["patient_id"] == table["patient"]).all()
    assert not slides["exists"].any()


def test_crc_records_point_at_zenodo():
    table = read_manifest(bundled_manifest("nct_crc_he")).set_index("filename")
    assert set(table.index) == {"NCT-CRC-HE-100K.zip", "CRC-VAL-HE-7K.zip"}
    assert table["url"].str.startswith("https://zenodo.org/records/1214456/files/").all()
    assert table.loc["CRC-VAL-HE-7K.zip", "md5"] == "2fd1651b4f94ebd818ebf90ad2b6ce06"


def test_xception_md5_is_the_one_keras_checks():
    # Read Keras's source without importing it (that would load TensorFlow).
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("keras")
    if spec is None or spec.origin is None:
        pytest.skip("keras not installed")
    source = (Path(spec.origin).parent / "src" / "applications" / "xception.py").read_text()
    table = read_manifest(bundled_manifest("xception_weights")).set_index("filename")
    row = table.loc["xception_weights_tf_dim_ordering_tf_kernels_notop.h5"]
    assert row["url"].rsplit("/", 1)[1] in source
    assert row["url"].split("keras-applications/")[0] + "keras-applications/" in source
    assert f'file_hash="{row["md5"]}"' in source


def test_unknown_bundled_manifest_lists_the_known_ones():
    with pytest.raises(InvalidParameterError, match="nct_crc_he"):
        bundled_manifest("nope")
    assert MANIFEST_DIR.is_dir()


@pytest.mark.realdata
def test_real_gdc_manifest_reads(shared_data):
    table = read_manifest(shared_data / "tables/deeppath_luad/gdc_manifest_20170302_003611.txt")
    assert len(table) == 2167
    assert table["md5"].str.match(MD5.pattern).all()
    assert table["size"].min() > 0


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["luad_targets", "openslide_testdata"])
def test_shared_data_verifies_against_manifests(shared_data, tmp_path, name):
    # No network: every file is found in the shared folder and passes its checksums.
    got = fetch(bundled_manifest(name), tmp_path / "out", local_dirs=[shared_data])
    assert (got["status"] == "local").all(), got


@pytest.mark.realdata
def test_shared_weights_verify(shared_data, tmp_path):
    got = fetch(bundled_manifest("xception_weights"), tmp_path, local_dirs=[shared_data],
                names=["xception_imagenet_notop.weights.h5"])
    assert got["status"].tolist() == ["local"]


@pytest.mark.realdata
def test_bundled_slide_manifest_equals_real_derivation(shared_data):
    ours = read_manifest(bundled_manifest("tcga_luad_slides"))
    real = read_manifest(shared_data / "tables/deeppath_luad/gdc_manifest_20170302_003611.txt")
    merged = ours.merge(real, on="id", suffixes=("", "_gdc"))
    assert len(merged) == len(ours)
    for column in ("filename", "md5", "size"):
        assert (merged[column] == merged[f"{column}_gdc"]).all()
