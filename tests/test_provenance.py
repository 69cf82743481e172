"""Tests of featx._provenance: ``config`` is the JSON identity of every featx object."""

from __future__ import annotations

import json

import numpy as np
from sklearn.preprocessing import StandardScaler

from featx._provenance import config_of, json_value
from featx.evaluation import make_folds
from featx.extractors import ColorStatsExtractor
from featx.wsi import TileSpec


def test_featx_objects_share_one_name_for_their_identity() -> None:
    for obj in (TileSpec(), ColorStatsExtractor(), make_folds(10, n_splits=2, n_repeats=2)):
        record = obj.config
        assert json.loads(json.dumps(record)) == record
        assert config_of(obj) == record


def test_config_of_other_objects_is_stable_and_never_a_memory_address() -> None:
    scaler = StandardScaler().fit(np.arange(6.0).reshape(3, 2))
    record = config_of(scaler)
    assert record["class"] == "StandardScaler" and record["fit"]["mean_"] == [2.0, 3.0]
    assert config_of(ColorStatsExtractor().__call__) == ColorStatsExtractor().config
    assert config_of(np.mean) == {"object": "numpy.mean"}
    assert "0x" not in json.dumps(config_of(lambda x: x))
    assert config_of(None) is None
    assert json_value({"a": np.arange(2), "spec": TileSpec()}) == {"a": [0, 1],
                                                                    "spec": TileSpec().config}
