"""KerasApplication: any keras.applications backbone by name, its preprocessing, weights and their hash."""

from __future__ import annotations

import numpy as np
import pytest

from featx.errors import DataNotFoundError, InvalidParameterError
from featx.extractors.registry import ExtractorFactory, describe_extractors

pytestmark = pytest.mark.tensorflow


def tiles(n=3, px=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, px, px, 3), dtype=np.uint8)


def reference(architecture, px=64, seed=0):
    """The same backbone built directly with Keras, under the same seed."""
    import keras

    keras.utils.set_random_seed(seed)
    return getattr(keras.applications, architecture)(include_top=False, pooling="avg",
                                                     weights=None, input_shape=(px, px, 3))


@pytest.mark.parametrize("architecture, width", [("ResNet50", 2048), ("EfficientNetB0", 1280)])
def test_backbone_by_name_embeds_with_its_own_preprocessing(architecture, width):
    import keras

    from featx.extractors.keras_apps import KerasApplication

    ext = KerasApplication(architecture, weights="random", input_px=64, batch_size=4)
    batch = tiles()
    out = ext(batch)
    assert out.shape == (3, width) and out.dtype == np.float32 and np.isfinite(out).all()
    module = ext.config["preprocess"].split(".")[2]
    preprocess = getattr(keras.applications, module).preprocess_input
    expected = reference(architecture)(preprocess(batch.astype(np.float32)), training=False)
    np.testing.assert_allclose(out, np.asarray(expected), rtol=1e-4, atol=1e-4)
    assert ext.name == f"RANDOM-{architecture.upper()}-{width}"
    assert ext.config["weights"] == "random" and len(ext.config["weights_array_sha256"]) == 64


def test_weights_from_a_file_and_their_hashes(tmp_path):
    import keras

    from featx._io import file_sha256
    from featx.extractors.keras_apps import KerasApplication

    base = reference("DenseNet121", seed=3)
    path = tmp_path / "densenet.weights.h5"
    base.save_weights(str(path))
    loaded = KerasApplication("DenseNet121", weights=path, input_px=64)
    random = KerasApplication("DenseNet121", weights="random", input_px=64, seed=3)
    batch = tiles(2)
    expected = base(keras.applications.densenet.preprocess_input(batch.astype(np.float32)))
    np.testing.assert_allclose(loaded(batch), np.asarray(expected), rtol=1e-4, atol=1e-4)
    assert loaded.config["weights"] == "file" and loaded.name == "DENSENET121-1024"
    assert loaded.config["weights_sha256"] == file_sha256(path)
    assert loaded.config["weights_array_sha256"] == random.config["weights_array_sha256"]
    assert loaded.config["preprocess"] == "keras.applications.densenet.preprocess_input"


def test_offline_imagenet_weights_give_one_clear_line(monkeypatch):
    from keras.src.utils import file_utils

    from featx.extractors.keras_apps import KerasApplication

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- "
                        "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(DataNotFoundError) as caught:
        KerasApplication("ResNet50", input_px=64)
    message = str(caught.value)
    assert "\n" not in message and "weights='random'" in message and "ResNet50" in message
    with pytest.raises(InvalidParameterError, match="keras.applications backbone"):
        KerasApplication("ResNet51", weights="random")
    with pytest.raises(DataNotFoundError, match="weights file"):
        KerasApplication("ResNet50", weights="/nowhere/x.weights.h5")


def test_registry_names_every_kind():
    factory = ExtractorFactory.of("keras:ResNet50", weights="random")
    assert factory.target == "featx.extractors.keras_apps:KerasApplication"
    assert dict(factory.kwargs) == {"architecture": "ResNet50", "weights": "random"}
    onnx = ExtractorFactory.of("onnx:/models/uni.onnx", input_px=224)
    assert dict(onnx.kwargs) == {"model": "/models/uni.onnx", "input_px": 224}
    text = describe_extractors()
    for name in ("IMGNET-2048", "FTX-2048", "keras:ResNet50", "onnx:", "trident", "clam",
                 "slideflow"):
        assert name in text
