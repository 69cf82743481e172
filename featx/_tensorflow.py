"""TensorFlow imported once, quietly: its C++ start-up chatter kept off the user's terminal.

On a CPU machine TensorFlow prints ``oneDNN custom operations are on``, ``Could not
find cuda drivers`` and ``failed call to cuInit`` at import and first device query,
which reads as a failure. ``TF_CPP_MIN_LOG_LEVEL`` does not silence lines logged
before absl is initialised, so the import runs with file descriptor 2 redirected and
every line that is not known chatter is written back. A GPU, when present, is named
once.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

#: Lines TensorFlow and XLA print at start-up that say nothing about the user's work.
_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cuda_platform|cuda_executor|cpu_feature_guard"
    r"|cuda_dnn|cuda_fft|cuda_blas|gpu_device|cuda_diagnostics|computation_placer)\.cc:\d+\]"
    r"|To enable the following instructions|This TensorFlow binary is optimized"
    r"|Unable to register cu(DNN|FFT|BLAS) factory)")
_LOADED: dict[str, Any] = {}


def import_tensorflow(*, announce_gpu: bool = True) -> Any:
    """Import TensorFlow (once per process) without its start-up chatter; return the module.

    Parameters
    ----------
    announce_gpu : bool, default True
        Print one line on stderr naming the GPUs TensorFlow will use, if any.
    """
    if "tf" in _LOADED:
        return _LOADED["tf"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet_stderr():
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")  # cuInit happens here: keep it quiet
    if gpus and announce_gpu:
        names = ", ".join(g.name.removeprefix("/physical_device:") for g in gpus)
        print(f"featx: TensorFlow uses {len(gpus)} GPU(s): {names}", file=sys.stderr)
    _LOADED["tf"] = tf
    return tf


def is_chatter(line: str) -> bool:
    """Whether a stderr line is TensorFlow start-up noise."""
    return bool(_CHATTER.match(line.strip()))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Capture fd 2 (C++ logging included), then write back what is not chatter."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (some notebooks): as is
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines()
                    if line.strip() and not is_chatter(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
