"""Extractors by name: the registry behind ``--extractor NAME``, and a per-process model cache.

``featx extract --extractor IMGNET-2048`` (or any ``package.module:Callable`` path)
names an :class:`ExtractorFactory`: a picklable recipe (an import path and keyword
arguments) that Dask workers receive instead of the model. Each worker builds the
model once (:func:`get_extractor`) and reuses it for every slide.
"""

from __future__ import annotations

import importlib
import inspect
import json
import threading
from dataclasses import dataclass
from typing import Any

from featx.errors import InvalidParameterError

#: Extractors known by name; any other "package.module:Callable" path also works.
KNOWN_EXTRACTORS = {
    "COLORSTATS": "featx.extractors.colorstats:ColorStatsExtractor",
    "IMGNET-2048": "featx.extractors.xception:ImagenetXception",
    "FTX-2048": "featx.extractors.ftx.extractor:FineTunedXception",
}
#: Families named ``<prefix><value>``: the value becomes the callable's first keyword.
EXTRACTOR_FAMILIES = {
    "keras:": ("featx.extractors.keras_apps:KerasApplication", "architecture"),
    "onnx:": ("featx.extractors.onnx_model:OnnxExtractor", "model"),
}
#: Formats ``featx import`` reads into the store as ``extractor=<NAME>``.
IMPORT_FORMATS = ("trident", "clam", "slideflow", "table")


def describe_extractors() -> str:
    """Every kind of extractor featx runs or imports, as one line for ``--help`` texts."""
    return (f"built in: {', '.join(KNOWN_EXTRACTORS)}; any keras.applications backbone as "
            "keras:<Name> (keras:ResNet50, keras:DenseNet121, keras:EfficientNetB0, "
            "keras:ConvNeXtTiny, ...); any ONNX image model as onnx:<model.onnx>; any "
            "'package.module:Callable'; imported with `featx import`: "
            f"{', '.join(IMPORT_FORMATS)}")


@dataclass(frozen=True)
class ExtractorFactory:
    """A picklable recipe for an extractor: an import path and keyword arguments.

    Workers receive the recipe, not the model, and build the model once per
    process (:func:`get_extractor`).

    Parameters
    ----------
    target : str
        ``"package.module:Callable"`` returning an extractor, or a name in
        :data:`KNOWN_EXTRACTORS`.
    kwargs : tuple of (str, value) pairs
        JSON-serialisable keyword arguments for the callable.
    """

    target: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, target: str, **kwargs: Any) -> ExtractorFactory:
        """Build a factory from a name, ``keras:<Name>``, ``onnx:<path>`` or an import path."""
        for prefix, (path, keyword) in EXTRACTOR_FAMILIES.items():
            if target.startswith(prefix) and len(target) > len(prefix):
                kwargs = {keyword: target[len(prefix):], **kwargs}
                return cls(path, tuple(sorted(kwargs.items())))
        return cls(KNOWN_EXTRACTORS.get(target, target), tuple(sorted(kwargs.items())))

    @property
    def key(self) -> str:
        """The cache key: the import path and arguments as canonical JSON."""
        return json.dumps([self.target, [list(kv) for kv in self.kwargs]], sort_keys=True,
                          default=str)

    def resolve(self) -> Any:
        """The callable the recipe names, its arguments checked against its signature.

        Raises
        ------
        InvalidParameterError
            An unknown name, an import path that does not import, or arguments the
            callable does not take (e.g. FTX-2048 without ``model_path``).
        """
        module_name, _, attr = self.target.partition(":")
        known = (f"one of {sorted(KNOWN_EXTRACTORS)}, keras:<Name>, onnx:<file> or "
                 "'package.module:Callable'")
        if not attr:
            raise InvalidParameterError("extractor", known, self.target)
        try:
            build = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise InvalidParameterError("extractor", f"{known} that imports ({error})",
                                        self.target) from None
        try:
            inspect.signature(build).bind(**dict(self.kwargs))
        except TypeError as error:
            name = next((k for k, v in KNOWN_EXTRACTORS.items() if v == self.target), self.target)
            raise InvalidParameterError(
                "--extractor-arg", f"the arguments {name} takes ({error}; e.g. FTX-2048 needs "
                "--extractor-arg model_path=OUT_DIR of `featx finetune`)",
                dict(self.kwargs)) from None
        except ValueError:  # no signature to check (a builtin): let the call decide
            pass
        return build

    def __call__(self) -> Any:
        return self.resolve()(**dict(self.kwargs))


_EXTRACTORS: dict[str, Any] = {}
_EXTRACTOR_LOCK = threading.Lock()
_BUILDS: list[str] = []  # keys built in this process, for tests and diagnostics


def get_extractor(factory: ExtractorFactory) -> Any:
    """Return this process's extractor for ``factory``, building it on first use."""
    with _EXTRACTOR_LOCK:
        if factory.key not in _EXTRACTORS:
            _EXTRACTORS[factory.key] = factory()
            _BUILDS.append(factory.key)
        return _EXTRACTORS[factory.key]


def extractor_builds() -> list[str]:
    """Return the factory keys this process has built an extractor for, in order."""
    return list(_BUILDS)


__all__ = ["EXTRACTOR_FAMILIES", "IMPORT_FORMATS", "KNOWN_EXTRACTORS", "ExtractorFactory",
           "describe_extractors", "extractor_builds", "get_extractor"]
