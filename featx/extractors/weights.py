"""Find the ImageNet Xception weights.

The weights come, in this order, from:

1. an explicit path (``ImagenetXception(weights=path)``, ``--weights PATH``);
2. the environment variable ``FEATX_XCEPTION_WEIGHTS``;
3. the featx data folder (``$FEATX_DATA_DIR/models/xception_imagenet_notop.weights.h5``),
   where a developer checkout keeps a copy;
4. Keras's own cache, downloading into it when the machine has internet
   (what ``keras.applications.Xception(weights="imagenet")`` does).

Offline with none of these, :func:`resolve_xception_weights` raises a
:class:`~featx.errors.DataNotFoundError` that says how to provide a file.
The file's sha256 (:func:`featx._io.file_sha256`, cached per process) is part of
every extractor's identity.
"""

from __future__ import annotations

import os
from pathlib import Path

from featx.data_folder import data_file
from featx.errors import DataNotFoundError

#: Environment variable naming a local Xception weights file.
WEIGHTS_ENV = "FEATX_XCEPTION_WEIGHTS"
#: Name of the weights file inside the featx data folder.
DATA_DIR_WEIGHTS = ("models", "xception_imagenet_notop.weights.h5")
# Keras's own download of the no-top ImageNet base (same name, URL and md5 as
# keras.applications.xception uses, so both share one cache file).
KERAS_WEIGHTS_NAME = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/xception/" + KERAS_WEIGHTS_NAME
)
KERAS_WEIGHTS_MD5 = "b0042744bf5b25fce3cb969f33bebb97"

_HINT = (
    "featx needs the ImageNet weights of Xception's convolutional base (include_top=False). "
    "Either (a) run once on a machine with internet so Keras downloads and caches "
    f"{KERAS_WEIGHTS_NAME} in ~/.keras/models (or $KERAS_HOME/models) and copy that file here, "
    f"or (b) point featx at a local weights file: set {WEIGHTS_ENV}=/path/to/weights.h5, or pass "
    "--weights /path/to/weights.h5 on the command line (featx extract, featx finetune), or "
    "ImagenetXception(weights=path) in Python. Any file that loads with model.load_weights(path) into "
    "keras.applications.Xception(include_top=False, weights=None) works, e.g. Keras's "
    f"{KERAS_WEIGHTS_NAME} or a Keras 3 /path/to/shared/data/models/"
    "xception_imagenet_notop.weights.h5."
)

def _existing(path: str | Path, source: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"Xception weights file {path} (from {source})", _HINT)
    return path.resolve()


def _keras_download() -> Path:
    """Keras's cached copy, downloading it if needed; raises OSError-like errors offline."""
    import keras

    return Path(
        keras.utils.get_file(
            KERAS_WEIGHTS_NAME, KERAS_WEIGHTS_URL, cache_subdir="models",
            file_hash=KERAS_WEIGHTS_MD5,
        )
    )


def resolve_xception_weights(path: str | Path | None = None, *, download: bool = True) -> Path:
    """Return the path of the ImageNet Xception weights file.

    Parameters
    ----------
    path : str or Path, optional
        An explicit weights file; wins over everything else.
    download : bool, default True
        Whether to fall back to Keras's cache and download (needs internet).

    Returns
    -------
    Path
        An existing file that ``model.load_weights`` accepts.

    Raises
    ------
    DataNotFoundError
        When the named file is missing, or no source has the weights.
    """
    if path is not None:
        return _existing(path, "the weights argument")
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return _existing(env, f"${WEIGHTS_ENV}")
    local = data_file(*DATA_DIR_WEIGHTS)
    if local is not None and local.is_file():
        return local.resolve()
    if download:
        try:
            return _keras_download()
        except Exception as error:  # noqa: BLE001 - any network/cache failure means "not available"
            raise DataNotFoundError(
                f"Xception ImageNet weights (Keras download failed: {error})", _HINT
            ) from error
    raise DataNotFoundError("Xception ImageNet weights (downloads disabled)", _HINT)
