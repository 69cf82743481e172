"""``featx export --format anndata``: an .h5ad that anndata reads and scanpy clusters right."""

from __future__ import annotations

import json

import numpy as np
import pytest

from featx.embed.anndata_export import export_anndata
from featx.embed.store import read_slide
from tests.scored_cohort import EXTRACTOR, make_scored_cohort

anndata = pytest.importorskip("anndata", reason="anndata (featx[anndata]) reads the .h5ad")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_scored_cohort(tmp_path_factory.mktemp("h5ad"))


@pytest.fixture(scope="module")
def adata(cohort, tmp_path_factory):
    path, = export_anndata(cohort.store, tmp_path_factory.mktemp("out"))
    assert path.name == f"{EXTRACTOR}.h5ad"
    return anndata.read_h5ad(path)


def test_embeddings_positions_and_provenance_are_all_there(adata, cohort):
    stored = np.concatenate([read_slide(cohort.store, s, extractor=EXTRACTOR, as_="numpy")
                             for s in ("S-A", "S-B")])
    assert adata.shape == stored.shape and np.array_equal(np.asarray(adata.X), stored)
    obs = adata.obs
    assert list(obs["slide_id"].cat.categories) == ["S-A", "S-B"]
    assert set(obs["patient_id"]) == {"P0", "P1"}
    assert {"x", "y", "col", "row", "tile_mpp", "tissue_fraction"} <= set(obs.columns)
    assert (obs["tile_mpp"] == 1.0).all()
    first = cohort.tiles.iloc[0]
    assert obs.index[0] == f"{first.slide_id}:{first.col}:{first.row}"
    assert np.array_equal(adata.obsm["spatial"], np.stack(
        [obs["x"] + 128.0, obs["y"] + 128.0], axis=1))  # tile centres, 256-px tiles
    record = json.loads(adata.uns["featx"]["provenance"]["S-A"])
    assert record["extractor_name"] == EXTRACTOR and adata.uns["featx"]["extractor"] == EXTRACTOR


def test_scanpy_neighbours_and_leiden_find_the_two_known_groups(adata, cohort):
    scanpy = pytest.importorskip("scanpy", reason="scanpy and leidenalg run the clustering")
    pytest.importorskip("leidenalg", reason="leidenalg runs Leiden")
    from sklearn.metrics import adjusted_rand_score

    # Exact neighbours and Gaussian weights: no numba compilation, so it takes a second.
    scanpy.pp.neighbors(adata, n_neighbors=10, use_rep="X", method="gauss", transformer="sklearn")
    scanpy.tl.leiden(adata, resolution=0.05, random_state=0, flavor="igraph", n_iterations=2,
                     directed=False)
    truth = cohort.tiles["right"].to_numpy()
    assert adjusted_rand_score(truth, adata.obs["leiden"].to_numpy()) == 1.0
