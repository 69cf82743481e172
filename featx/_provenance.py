"""The JSON identity of featx objects: one name, ``config``, for all of them.

Every object that shapes an output (an extractor, a stain fit, a tile spec, a
slide, a set of folds) has a ``config`` property: a JSON-serialisable record of
what it is, stable across runs, that featx writes beside what it produced and
compares when a run resumes. :func:`config_of` gives that record for any object,
including ones that are not featx's own (a scikit-learn estimator, a function).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def json_value(value: Any) -> Any:
    """``value`` after a JSON round trip: arrays become lists, objects their ``config`` or a string."""
    def default(item: Any) -> Any:
        if hasattr(item, "tolist"):
            return item.tolist()
        config = getattr(item, "config", None)
        if isinstance(config, Mapping):
            return dict(config)
        return str(item)

    return json.loads(json.dumps(value, default=default))


def config_of(obj: Any) -> dict[str, Any] | None:
    """The JSON identity of ``obj``, never a ``repr`` holding a memory address.

    Its ``config`` (property or method) when it has one, also through a bound method
    such as ``normalizer.transform``; else, for a scikit-learn estimator, its class,
    parameters and fitted attributes (trailing underscore); else its qualified name.
    ``None`` stays ``None``.
    """
    if obj is None:
        return None
    owner = getattr(obj, "__self__", obj)
    config = getattr(owner, "config", None)
    config = config() if callable(config) else config
    if isinstance(config, Mapping):
        return json_value(dict(config))
    if hasattr(owner, "get_params"):
        return json_value({
            "class": type(owner).__qualname__, "params": owner.get_params(),
            "fit": {k: v for k, v in vars(owner).items() if k.endswith("_") and not k.startswith("_")},
        })
    kind = owner if hasattr(owner, "__qualname__") else type(owner)  # function/class vs instance
    return {"object": f"{kind.__module__}.{kind.__qualname__}"}
