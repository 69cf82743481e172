"""``featx doctor``: what featx can find on this machine (data, weights, TensorFlow, GPU, OpenSlide, disk)."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path
from typing import Annotated

import typer

from featx import __version__
from featx.cli._app import app

#: Free disk below which doctor warns: a TCGA cohort's store needs tens of GiB.
LOW_DISK_GIB = 5.0


@app.command()
def doctor(
    tensorflow: Annotated[bool, typer.Option(
        "--tensorflow/--no-tensorflow", help="Import TensorFlow to report its version and GPUs "
        "(takes a few seconds).")] = True,
) -> None:
    """Check what featx needs: data folder, ImageNet weights and their hash, TensorFlow and
    GPU, OpenSlide, free disk. Exits 1 when something required is missing.

    \b
    Example:
      featx doctor
    """
    checks = [_featx(), _data_folder(), _weights(), _openslide(), _disk()]
    if tensorflow:
        checks.append(_tensorflow())
    for ok, name, detail in checks:
        mark = "ok" if ok else ("--" if ok is None else "MISSING")
        typer.echo(f"{mark:>7}  {name:<12} {detail}")
    if any(ok is False for ok, _, _ in checks):
        typer.echo("fix the MISSING lines above; optional ones (--) only limit what runs offline")
        raise typer.Exit(1)
    typer.echo("next: featx demo")


def _featx() -> tuple[bool | None, str, str]:
    return True, "featx", f"{__version__} on Python {platform.python_version()}"


def _data_folder() -> tuple[bool | None, str, str]:
    from featx.data_folder import DATA_DIR_ENV, data_dir

    found = data_dir()
    if found is None:
        return None, "data folder", (f"none (set ${DATA_DIR_ENV}); the demo then downloads or "
                                     "uses stand-ins")
    return True, "data folder", str(found)


def _weights() -> tuple[bool | None, str, str]:
    from featx._io import file_sha256
    from featx.errors import DataNotFoundError
    from featx.extractors import resolve_xception_weights

    try:
        path = resolve_xception_weights(download=False)
    except DataNotFoundError:
        return None, "weights", ("no ImageNet Xception weights found locally (IMGNET-2048 "
                                 "downloads them, or pass --weights)")
    return True, "weights", f"{path} sha256 {file_sha256(path)[:16]}…"


def _openslide() -> tuple[bool | None, str, str]:
    try:
        import openslide
    except (ImportError, OSError) as error:  # OSError: the C library is missing
        return False, "openslide", f"cannot load OpenSlide ({error}); install openslide-bin"
    library = getattr(openslide, "__library_version__", "unknown")
    return True, "openslide", f"openslide-python {openslide.__version__}, library {library}"


def _disk() -> tuple[bool | None, str, str]:
    free = shutil.disk_usage(Path.cwd()).free / 2**30
    return (free >= LOW_DISK_GIB or None), "disk", f"{free:.1f} GiB free in {Path.cwd()}"


def _tensorflow() -> tuple[bool | None, str, str]:
    from featx._tensorflow import import_tensorflow

    try:
        tf = import_tensorflow(announce_gpu=False)
    except ImportError as error:
        return False, "tensorflow", f"cannot import TensorFlow ({error})"
    gpus = tf.config.list_physical_devices("GPU")
    where = ", ".join(g.name.removeprefix("/physical_device:") for g in gpus) or "CPU only"
    return True, "tensorflow", f"{tf.__version__}; {where}"
