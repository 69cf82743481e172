"""OnnxExtractor: small ONNX networks built here, checked against NumPy computing the same network."""

from __future__ import annotations

import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from featx.errors import DataNotFoundError, InvalidParameterError, MissingExtraError  # noqa: E402
from featx.extractors.onnx_model import IMAGENET_MEAN, IMAGENET_STD, OnnxExtractor  # noqa: E402

RNG = np.random.default_rng(11)
W_CONV = RNG.normal(size=(4, 3, 3, 3)).astype(np.float32)
B_CONV = RNG.normal(size=4).astype(np.float32)
W_FC = RNG.normal(size=(5, 4)).astype(np.float32)
B_FC = RNG.normal(size=5).astype(np.float32)
W_TOK = RNG.normal(size=(3, 6)).astype(np.float32)


def _save(tmp_path, name, nodes, inputs, outputs, weights):
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _image(batch="N", px: int | str = 32, layout="NCHW"):
    shape = [batch, 3, px, px] if layout == "NCHW" else [batch, px, px, 3]
    return helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)


def conv_net(tmp_path, *, batch="N", head=True, px: int | str = 32):
    """Conv 3x3 stride 2 pad 1 -> ReLU -> (GlobalAveragePool -> Flatten -> Gemm)."""
    nodes = [helper.make_node("Conv", ["image", "w", "b"], ["conv"], kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv"], ["relu"])]
    weights = {"w": W_CONV, "b": B_CONV}
    if head:
        nodes += [helper.make_node("GlobalAveragePool", ["relu"], ["gap"]),
                  helper.make_node("Flatten", ["gap"], ["flat"]),
                  helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["embedding"], transB=1)]
        weights.update(fc_w=W_FC, fc_b=B_FC)
        outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, 5]),
                   helper.make_tensor_value_info("relu", TensorProto.FLOAT,
                                                 [batch, 4, "h", "w"])]
    else:
        outputs = [helper.make_tensor_value_info("relu", TensorProto.FLOAT, [batch, 4, "h", "w"])]
    return _save(tmp_path, f"conv_{batch}_{head}_{px}", nodes, [_image(batch, px)], outputs,
                 weights)


def token_net(tmp_path):
    """NHWC image -> (N, H*W, 3) tokens -> MatMul -> (N, H*W, 6)."""
    shape = numpy_helper.from_array(np.array([0, -1, 3], np.int64), "shape")
    nodes = [helper.make_node("Reshape", ["image", "shape"], ["tokens"]),
             helper.make_node("MatMul", ["tokens", "w"], ["out"])]
    graph = helper.make_graph(nodes, "tokens", [_image(px=16, layout="NHWC")],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 256, 6])],
                              [shape, numpy_helper.from_array(W_TOK, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "tokens.onnx"
    onnx.save(model, str(path))
    return path


def normalise(tiles, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    return (tiles.astype(np.float64) / 255 - np.array(mean)) / np.array(std)


def numpy_conv_relu(x):
    """The Conv + ReLU in NumPy, NCHW, float64."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    out = np.einsum("nchwij,ocij->nohw", windows, W_CONV.astype(np.float64))
    return np.maximum(out + B_CONV[None, :, None, None], 0)


def numpy_conv_net(tiles):
    feature_map = numpy_conv_relu(normalise(tiles).transpose(0, 3, 1, 2))
    return feature_map.mean(axis=(2, 3)) @ W_FC.T.astype(np.float64) + B_FC


def tiles(n=5, px=32):
    return RNG.integers(0, 256, size=(n, px, px, 3), dtype=np.uint8)


def test_conv_net_equals_numpy(tmp_path):
    ext = OnnxExtractor(conv_net(tmp_path), batch_size=2, providers=["CPUExecutionProvider"])
    batch = tiles()
    out = ext(batch)
    assert out.dtype == np.float32 and out.shape == (5, 5) and ext.n_features == 5
    np.testing.assert_allclose(out, numpy_conv_net(batch), rtol=1e-4, atol=1e-4)
    config = ext.config
    assert config["input_px"] == 32 and len(config["weights_sha256"]) == 64
    assert config["mean"] == list(IMAGENET_MEAN) and config["layout"] == "NCHW"


def test_output_node_feature_maps_and_custom_normalisation(tmp_path):
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.5, 1.0)
    ext = OnnxExtractor(conv_net(tmp_path), output="relu", mean=mean, std=std)
    batch = tiles(3)
    expected = numpy_conv_relu(normalise(batch, mean, std).transpose(0, 3, 1, 2)).mean(axis=(2, 3))
    np.testing.assert_allclose(ext(batch), expected, rtol=1e-4, atol=1e-4)
    assert ext.n_features == 4 and ext.output == "relu"


def test_any_size_models_take_input_px(tmp_path):
    path = conv_net(tmp_path, px="H")
    with pytest.raises(InvalidParameterError, match="not a fixed square"):
        OnnxExtractor(path)
    ext = OnnxExtractor(path, input_px=24)
    batch = tiles(2, px=24)
    np.testing.assert_allclose(ext(batch), numpy_conv_net(batch), rtol=1e-4, atol=1e-4)
    assert ext.config["input_px"] == 24


def test_fixed_batch_models_get_padded_batches(tmp_path):
    ext = OnnxExtractor(conv_net(tmp_path, batch=2, head=True))
    batch = tiles(3)
    np.testing.assert_allclose(ext(batch), numpy_conv_net(batch), rtol=1e-4, atol=1e-4)


def test_token_outputs_and_nhwc(tmp_path):
    path = token_net(tmp_path)
    batch = tiles(4, px=16)
    x = normalise(batch).reshape(4, -1, 3) @ W_TOK.astype(np.float64)
    cls = OnnxExtractor(path, layout="NHWC", input_px=16)
    mean = OnnxExtractor(path, layout="NHWC", input_px=16, tokens="mean")
    np.testing.assert_allclose(cls(batch), x[:, 0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mean(batch), x.mean(axis=1), rtol=1e-4, atol=1e-4)


def test_other_tile_sizes_are_resized(tmp_path):
    from PIL import Image

    ext = OnnxExtractor(conv_net(tmp_path))
    big = tiles(2, px=48)
    resized = np.stack([np.asarray(Image.fromarray(t).resize((32, 32), Image.Resampling.BILINEAR,
                                                             reducing_gap=None)) for t in big])
    np.testing.assert_allclose(ext(big), numpy_conv_net(resized), rtol=1e-4, atol=1e-4)


def test_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="torch.onnx.export"):
        OnnxExtractor(tmp_path / "absent.onnx")
    path = conv_net(tmp_path)
    with pytest.raises(InvalidParameterError, match="one of the model's outputs"):
        OnnxExtractor(path, output="nope")
    with pytest.raises(InvalidParameterError, match="fixed size"):
        OnnxExtractor(path, input_px=64)
    with pytest.raises(InvalidParameterError, match="layout"):
        OnnxExtractor(path, layout="NHWC")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(InvalidParameterError, match="an ONNX model onnxruntime can load"):
        OnnxExtractor(tmp_path / "junk.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'featx\[onnx\]'"):
        OnnxExtractor(path)


def test_runs_in_the_pipeline_by_name_with_prepared_batches(tmp_path):
    from featx.embed.batch import run_batch
    from featx.embed.settings import ClusterSettings, ExtractionSettings
    from featx.embed.store import provenance, read_slide, slide_path
    from featx.extractors.registry import ExtractorFactory
    from tests.embed._batch_helpers import make_spec, write_slide

    path = conv_net(tmp_path)
    ext = OnnxExtractor(path)
    batch = tiles(3)
    np.testing.assert_array_equal(ext(ext.prepare(batch)), ext(batch))
    write_slide(tmp_path / "S1.tiff")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,slide_id\n{tmp_path / 'S1.tiff'},S1\n")
    factory = ExtractorFactory.of(f"onnx:{path}", name="TINY-ONNX")
    status = run_batch(manifest, tmp_path / "store", ExtractionSettings(factory, spec=make_spec()),
                       cluster=ClusterSettings(workers=0))
    assert status["status"].tolist() == ["done"], status["error"].tolist()
    features = read_slide(tmp_path / "store", "S1", extractor="TINY-ONNX", as_="numpy")
    assert features.shape[1] == 5 and len(features) > 0
    record = provenance(slide_path(tmp_path / "store", extractor="TINY-ONNX", slide_id="S1"))
    assert record["extractor"]["weights_sha256"] == ext.config["weights_sha256"]
