"""Tests of featx.errors: one tree, fields on every error, and errors that survive a process hop."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from featx import errors
from featx.errors import FeatxError

ROOT = Path(__file__).resolve().parents[1] / "featx"

#: One instance of every error, built from its fields.
EXAMPLES = [
    errors.InvalidParameterError("tile_px", "a positive int", -3),
    errors.DataError("targets", "2 NaN values", "Drop those patients"),
    errors.EmptyTissueError("target", 0, 0.8),
    errors.DataNotFoundError("store folder x", "Run `featx extract`."),
    errors.SlideError("a.svs", "not a slide"),
    errors.MissingMppError("a.svs"),
    errors.StoreError("a.parquet", "no featx provenance"),
    errors.ExtractionError("IMGNET-2048", "S1", "(3, 5) float32", "finite float32 (3, 2048)"),
    errors.LockTimeoutError("x.lock", "host:1", 12.0),
    errors.MemoryBudgetError("a batch of 64 tiles", 2**40, 2**33, "lower --batch-size"),
    errors.DiskSpaceError("data", 10**15, 10**11, "free space or pick another --dest"),
    errors.DownloadError("http://x/y", "HTTP 404 Not Found"),
    errors.ChecksumError("http://x/y", "md5 differs"),
    errors.FetchError(pd.DataFrame({"filename": ["a"], "path": ["p"], "status": ["failed"],
                                    "error": ["boom"]})),
    errors.ResumeMismatchError("out", "data"),
    errors.MissingExtraError("h5py", "import", "to read h5 feature files"),
    errors.NotFittedError("MacenkoNormalizer", "call fit first"),
]


def test_every_exception_is_defined_in_errors_py_and_derives_from_featx_error() -> None:
    stray = []
    for path in ROOT.rglob("*.py"):
        if path.name == "errors.py" and path.parent == ROOT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception"))
                    for b in node.bases):
                stray.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name}")
    assert not stray, "exceptions outside featx/errors.py:\n" + "\n".join(stray)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), FeatxError), name


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_errors_carry_fields_and_survive_pickling(error: FeatxError) -> None:
    assert str(error)
    assert vars(error), "every error keeps the fields that caused it"
    copy = pickle.loads(pickle.dumps(error))  # Dask and joblib send errors between processes
    assert type(copy) is type(error) and str(copy) == str(error)
    for name, value in vars(error).items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(getattr(copy, name), value)
        else:
            assert getattr(copy, name) == value, name


def test_one_except_catches_every_not_fitted_estimator() -> None:
    from featx.evaluation.linear_svm import BatchedLinearSVC
    from featx.slidescore.scores import HeatmapForestScorer
    from featx.stain import MacenkoNormalizer

    unfitted = [lambda: MacenkoNormalizer().transform(np.zeros((1, 4, 4, 3), np.uint8)),
                lambda: HeatmapForestScorer().predict_proba([np.zeros((2, 2))]),
                lambda: BatchedLinearSVC().predict(np.zeros((2, 3)))]
    for call in unfitted:
        with pytest.raises(errors.NotFittedError) as caught:
            call()
        assert isinstance(caught.value, SklearnNotFittedError)  # scikit-learn's own contract
        assert isinstance(caught.value, FeatxError)


def test_os_and_value_errors_stay_catchable_as_such() -> None:
    assert isinstance(errors.SlideError("a", "b"), OSError)
    assert isinstance(errors.DataNotFoundError("a", "b"), FileNotFoundError)
    assert isinstance(errors.InvalidParameterError("a", "b", 1), ValueError)
    assert str(errors.SlideError("a.svs", "bad")) == "a.svs: bad"
