"""Where featx finds data on this machine.

The public data used by tests and the demo live outside the project. Their
folder is ``FEATX_DATA_DIR`` when that is set, else ``../shared/data`` beside a
source checkout. Nothing here downloads; :mod:`featx.downloads` does that.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the folder of public data (slides, tiles, weights, tables).
DATA_DIR_ENV = "FEATX_DATA_DIR"

_CHECKOUT_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    """Return the folder of public data, or None when there is none.

    Returns
    -------
    Path or None
        ``$FEATX_DATA_DIR`` if set (it must exist), else ``../shared/data``
        beside the source checkout if that exists, else None.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    default = _CHECKOUT_ROOT.parent / "shared" / "data"
    return default if default.is_dir() else None


def data_file(*parts: str) -> Path | None:
    """Return ``data_dir()/parts...`` if it exists, else None."""
    root = data_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None
