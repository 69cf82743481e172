"""TensorFlow's start-up chatter stays off the terminal; other stderr lines still show."""

from __future__ import annotations

import subprocess
import sys

import pytest

from featx._tensorflow import is_chatter

CHATTER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796223505.179190   16223 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results",
    "I0000 00:00:1796223505.180103   16223 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796223508.129552   16223 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]


def test_known_start_up_lines_are_chatter_and_others_are_not():
    assert all(is_chatter(line) for line in CHATTER)
    for line in ("error: slide.svs not found", "E0000 00:00:1.0 1 my_op.cc:1] real failure",
                 "Traceback (most recent call last):"):
        assert not is_chatter(line)


@pytest.mark.tensorflow
def test_import_is_quiet_but_keeps_other_stderr(tmp_path):
    code = ("import sys, os; from featx._tensorflow import import_tensorflow; "
            "tf = import_tensorflow(); os.write(2, b'after\\n'); print(tf.__version__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    for word in ("oneDNN", "cuInit", "cudart_stub", "absl::InitializeLog"):
        assert word not in done.stderr
    assert "after" in done.stderr  # fd 2 is back in place once TensorFlow is loaded
