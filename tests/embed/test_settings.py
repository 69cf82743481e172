"""featx.embed.settings: what a batch run extracts (its identity in the store) and where it runs."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import pandas as pd
import pytest

from featx._provenance import config_of
from featx.embed.batch import run_batch
from featx.embed.settings import ClusterSettings, ExtractionSettings, identity
from featx.embed.store import STORE_FORMAT, provenance, slide_path
from featx.errors import InvalidParameterError
from featx.extractors.registry import ExtractorFactory
from featx.wsi.tiling import TileSpec
from tests.embed._batch_helpers import embed, make_spec, write_slide

NAME = "COLORSTATS"


#: The keys every store file of a run has recorded since STORE_FORMAT 3.
IDENTITY_KEYS = {"store_format", "extractor", "tile_spec", "stain", "embedding_dtype"}


def _unchanged(tiles):
    """A stain normaliser that leaves the tiles as they are."""
    return tiles


def test_a_name_becomes_a_factory_and_the_defaults_are_the_commands() -> None:
    settings = ExtractionSettings(NAME)
    assert settings.extractor == ExtractorFactory.of(NAME)
    assert settings.spec == TileSpec() and settings.dtype == "float32"
    assert settings.embed is None and settings.normalizer is None
    assert pickle.loads(pickle.dumps(settings)) == settings  # it travels to Dask workers
    assert ClusterSettings().uses_dask and ClusterSettings(workers=2).uses_dask
    assert not ClusterSettings(workers=0).uses_dask
    assert ClusterSettings(workers=0, scheduler="tcp://127.0.0.1:8786").uses_dask


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"dtype": "float64"}, "dtype"),
    ({"batch_size": 0}, "batch_size"),
    ({"spec": {"tile_px": 224}}, "spec"),
    ({"slide_mpp": -0.25}, "slide_mpp"),
    ({"embed": "embed_slide"}, "embed"),
    ({"lock_wait_s": float("nan")}, "lock_wait_s"),
])
def test_bad_settings_name_the_field(kwargs, name) -> None:
    with pytest.raises(InvalidParameterError, match=name):
        ExtractionSettings(NAME, **kwargs)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"workers": -1}, "workers"), ({"threads_per_worker": 0}, "threads_per_worker"),
    ({"retries": -1}, "retries")])
def test_bad_cluster_settings_name_the_field(kwargs, name) -> None:
    with pytest.raises(InvalidParameterError, match=name):
        ClusterSettings(**kwargs)


def test_an_extractor_that_is_not_a_recipe_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="ExtractorFactory"):
        ExtractionSettings(object())  # type: ignore[arg-type]


def test_identity_is_the_provenance_a_store_file_records() -> None:
    spec = TileSpec(tile_px=64, tile_mpp=2.0)
    settings = ExtractionSettings(NAME, spec=spec, normalizer=_unchanged, dtype="float16")
    record = settings.identity({"name": NAME, "bins": 8})
    assert set(record) == IDENTITY_KEYS
    assert record == {"store_format": STORE_FORMAT, "extractor": {"name": NAME, "bins": 8},
                      "tile_spec": spec.config, "stain": config_of(_unchanged),
                      "embedding_dtype": "float16"}
    # How the run goes (batch size, locks, retries, the embed function) is not identity.
    other = ExtractionSettings(NAME, spec=spec, normalizer=_unchanged, dtype="float16",
                               batch_size=7, lock_wait_s=0.0, retry_failed=True, embed=embed)
    assert other.identity({"name": NAME, "bins": 8}) == record


@dataclass(frozen=True)
class _WithPrecision(ExtractionSettings):
    # What another setting of the embeddings costs: this one line.
    precision: str = field(default="float32", metadata=identity("precision"))


def test_one_more_identity_field_reaches_the_store_and_redoes_slides(tmp_path) -> None:
    write_slide(tmp_path / "S1.tiff")
    manifest = pd.DataFrame({"path": [str(tmp_path / "S1.tiff")]})
    store, cluster = tmp_path / "store", ClusterSettings(workers=0)
    target = slide_path(store, extractor=NAME, slide_id="S1")
    run_batch(manifest, store, ExtractionSettings(NAME, spec=make_spec(), embed=embed),
              cluster=cluster)
    first = target.stat().st_mtime_ns
    assert "precision" not in provenance(target)
    settings = _WithPrecision(NAME, spec=make_spec(), embed=embed, precision="bfloat16")
    assert run_batch(manifest, store, settings, cluster=cluster)["status"].tolist() == ["done"]
    assert target.stat().st_mtime_ns != first
    assert provenance(target)["precision"] == "bfloat16"
    again = target.stat().st_mtime_ns
    run_batch(manifest, store, settings, cluster=cluster)
    assert target.stat().st_mtime_ns == again  # the same setting: skipped
