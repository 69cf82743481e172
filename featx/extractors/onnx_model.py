"""Any ONNX image model as a featx extractor, run by onnxruntime (CPU, or CUDA when present).

Export a PyTorch foundation model once (``torch.onnx.export``) and compare it inside
featx without PyTorch::

    ext = OnnxExtractor("uni.onnx", input_px=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    features = ext(tiles)            # uint8 (N, H, W, 3) -> float32 (N, n_features)

Tiles are resized to ``input_px`` (bilinear, antialiased), scaled to [0, 1],
normalised by ``(x - mean) / std`` per channel and fed as NCHW (PyTorch's layout)
or NHWC. A 4-D output is averaged over its spatial axes; a 3-D (tokens) output gives
its first token (``tokens="cls"``), the mean over tokens, or the first token beside the
mean of the patch tokens (``"cls+mean"``, as Virchow2). The model file's sha256 is
part of :attr:`OnnxExtractor.config`. ``preset="UNI2-h"`` (:mod:`featx.extractors.presets`)
sets all of these as the model's authors do and puts the model's licence, gating and
commercial-use terms into the config, so they follow the embeddings everywhere.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from featx._io import file_sha256
from featx._optional import require
from featx._validate import one_of, positive_float, positive_int, rgb_batch
from featx.errors import DataNotFoundError, InvalidParameterError
from featx.extractors.presets import get_preset

#: ImageNet channel statistics (torchvision's), the usual normalisation of exported models.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUTS = ("NCHW", "NHWC")
TOKENS = ("cls", "mean", "cls+mean")


def _channels(name: str, values: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(v) for v in values)
    if len(values) != 3:
        raise InvalidParameterError(name, "three numbers, one per RGB channel", values)
    return values  # type: ignore[return-value]


def _providers(ort: Any, wanted: Sequence[str] | None) -> list[str]:
    available = ort.get_available_providers()
    if wanted is None:  # CUDA when this onnxruntime build and machine have it
        return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise InvalidParameterError("providers", f"providers of this onnxruntime {available}",
                                    list(wanted))
    return list(wanted)


class OnnxExtractor:
    """Embed tiles with an ONNX model through onnxruntime.

    Parameters
    ----------
    model : str or Path
        The ``.onnx`` file.
    name : str, optional
        Identifier written into outputs; default ``"ONNX-<file stem>"``.
    input_px : int, optional
        Tile side fed to the model; default the preset's, else the model's fixed size.
    mean, std : three floats, optional
        Per-channel normalisation of pixels scaled to [0, 1] (default the preset's, else
        ImageNet's).
    layout : {"NCHW", "NHWC"}, optional
        The input layout the model expects (default NCHW, as PyTorch exports).
    output : str, optional
        Name of the output node to use as the embedding; default the first output.
    tokens : {"cls", "mean", "cls+mean"}, optional
        For a (N, tokens, D) output: the first token, the mean over tokens, or the first
        token beside the mean of the patch tokens (default the preset's, else "cls").
    prefix_tokens : int, optional
        Tokens before the patch tokens, for ``"cls+mean"`` (default the preset's, else 1).
    preset : str, optional
        A published model's name (:data:`featx.extractors.presets.PRESETS`): its input
        size, normalisation and pooling, and its terms in the config; explicit
        arguments win.
    batch_size : int, default 32
        Tiles per run (a model with a fixed batch dimension gets padded batches).
    providers : list of str, optional
        onnxruntime execution providers; default CUDA when available, else CPU.
    threads : int, optional
        Intra-op threads of the CPU provider (default onnxruntime's).
    """

    def __init__(self, model: str | Path, *, name: str | None = None,
                 input_px: int | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, layout: str | None = None,
                 output: str | None = None, tokens: str | None = None,
                 prefix_tokens: int | None = None, batch_size: int = 32,
                 providers: Sequence[str] | None = None, threads: int | None = None,
                 preset: str | None = None) -> None:
        ort = require("onnxruntime", extra="onnx", purpose="to run ONNX extractors")
        self.preset = None if preset is None else get_preset(preset)
        known = self.preset
        input_px = input_px if input_px is not None or known is None else known.input_px
        mean = mean if mean is not None else known.mean if known else IMAGENET_MEAN
        std = std if std is not None else known.std if known else IMAGENET_STD
        layout = layout or (known.layout if known else "NCHW")
        tokens = tokens or (known.tokens if known else "cls")
        prefix_tokens = prefix_tokens if prefix_tokens is not None else (
            known.prefix_tokens if known else 1)
        path = Path(model)
        if not path.is_file():
            raise DataNotFoundError(f"ONNX model {path}", "Export the model once with "
                                    "torch.onnx.export(model, example, 'model.onnx') and pass "
                                    "that file.")
        self.path, self.model_sha256 = path, file_sha256(path)
        self.layout = str(one_of("layout", layout, LAYOUTS))
        self.tokens = str(one_of("tokens", tokens, TOKENS))
        self.prefix_tokens = positive_int("prefix_tokens", prefix_tokens)
        self.mean, self.std = _channels("mean", mean), _channels("std", std)
        for value in self.std:
            positive_float("std", value)
        self.batch_size = positive_int("batch_size", batch_size)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = positive_int("threads", threads)
        try:
            self._session = ort.InferenceSession(str(path), options,
                                                 providers=_providers(ort, providers))
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
            raise InvalidParameterError("model", "an ONNX model onnxruntime can load",
                                        f"{path} ({type(error).__name__}: {error})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise InvalidParameterError("model", "a model with one 4-D image input",
                                        [(i.name, i.shape) for i in inputs])
        self._input = inputs[0].name
        self.output = self._output_name(output)
        self.input_px = self._input_size(inputs[0].shape, input_px)
        batch = inputs[0].shape[0]
        self._fixed_batch = batch if isinstance(batch, int) else None
        self.n_features = int(self(np.zeros((1, self.input_px, self.input_px, 3), np.uint8)
                                   ).shape[1])
        self.name = name or (known.name if known else f"ONNX-{path.stem}")
        if known is not None and self.n_features != known.n_features:
            warnings.warn(f"{path.name} gives {self.n_features} features, {known.name} "
                          f"{known.n_features}: check that the file is {known.name} and its "
                          "output (and --extractor-arg tokens=...)", UserWarning, stacklevel=2)

    def _output_name(self, output: str | None) -> str:
        names = [o.name for o in self._session.get_outputs()]
        if output is None:
            return names[0]
        if output not in names:
            raise InvalidParameterError("output", f"one of the model's outputs {names}", output)
        return output

    def _input_size(self, shape: list[Any], input_px: int | None) -> int:
        spatial = shape[2:4] if self.layout == "NCHW" else shape[1:3]
        channels = shape[1] if self.layout == "NCHW" else shape[3]
        if isinstance(channels, int) and channels != 3:
            raise InvalidParameterError("layout", f"the model's layout (its {self.layout} input "
                                        f"has {channels} channels)", self.layout)
        fixed = [s for s in spatial if isinstance(s, int)]
        if input_px is None:
            if len(fixed) != 2 or fixed[0] != fixed[1]:
                raise InvalidParameterError("input_px", "a positive int (the model's input "
                                            "size is not a fixed square)", spatial)
            return fixed[0]
        input_px = positive_int("input_px", input_px)
        if fixed and any(s != input_px for s in fixed):
            raise InvalidParameterError("input_px", f"the model's fixed size {spatial}", input_px)
        return input_px

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable identity: the model file's sha256, input size, normalisation."""
        return {"name": self.name, "n_features": self.n_features, "input_px": self.input_px,
                "architecture": "onnx", "model_file": self.path.name,
                "weights_sha256": self.model_sha256, "mean": list(self.mean),
                "std": list(self.std), "layout": self.layout, "output": self.output,
                "tokens": self.tokens, "prefix_tokens": self.prefix_tokens,
                "resize": "bilinear-antialias",
                "preset": None if self.preset is None else self.preset.config}

    def prepare(self, tiles: np.ndarray) -> np.ndarray:
        """Resize and normalise uint8 tiles into the model's float32 input."""
        tiles = rgb_batch("tiles", tiles)
        if tiles.shape[1:3] != (self.input_px, self.input_px):
            size = (self.input_px, self.input_px)
            tiles = np.stack([np.asarray(Image.fromarray(t).resize(
                size, Image.Resampling.BILINEAR, reducing_gap=None)) for t in tiles])
        x = (tiles.astype(np.float32) / 255.0 - np.float32(self.mean)) / np.float32(self.std)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if self.layout == "NCHW" else x)

    def _embed(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if self._fixed_batch is not None and n < self._fixed_batch:
            x = np.concatenate([x, np.zeros((self._fixed_batch - n, *x.shape[1:]), x.dtype)])
        out = np.asarray(self._session.run([self.output], {self._input: x})[0])[:n]
        if out.ndim == 4:  # a feature map: average it like pooling="avg"
            out = out.mean(axis=(2, 3) if self.layout == "NCHW" else (1, 2))
        elif out.ndim == 3:
            out = (out[:, 0] if self.tokens == "cls" else out.mean(axis=1)
                   if self.tokens == "mean" else np.concatenate(
                       [out[:, 0], out[:, self.prefix_tokens:].mean(axis=1)], axis=1))
        if out.ndim != 2:
            raise InvalidParameterError("output", "a 2-D, 3-D (tokens) or 4-D output",
                                        out.shape)
        return out.astype(np.float32, copy=False)

    def _prepared(self, tiles: np.ndarray) -> bool:
        px = self.input_px
        shape = (3, px, px) if self.layout == "NCHW" else (px, px, 3)
        return (isinstance(tiles, np.ndarray) and tiles.dtype == np.float32
                and tiles.shape[1:] == shape)

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """Embed a uint8 batch (N, H, W, 3), or one :meth:`prepare` made, into (N, n_features)."""
        x = tiles if self._prepared(tiles) else self.prepare(tiles)
        size = self._fixed_batch or self.batch_size
        return np.concatenate([self._embed(x[i:i + size]) for i in range(0, len(x), size)]
                              ) if len(x) else np.zeros((0, getattr(self, "n_features", 0)),
                                                        np.float32)


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "OnnxExtractor"]
