"""featx._optional: an optional package imports, or one line names the extra that installs it."""

from __future__ import annotations

import json
import sys

import pytest

from featx._optional import require
from featx.errors import FeatxError, MissingExtraError


def test_present_packages_import():
    assert require("json", extra="x", purpose="for nothing") is json


def test_absent_packages_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError) as caught:
        require("onnxruntime", extra="onnx", purpose="to run ONNX extractors")
    error = caught.value
    assert isinstance(error, ImportError) and isinstance(error, FeatxError)
    assert str(error) == ("onnxruntime is needed to run ONNX extractors but is not installed: "
                          "pip install 'featx[onnx]'")
    assert (error.package, error.extra) == ("onnxruntime", "onnx")
