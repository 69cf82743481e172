#!/usr/bin/env bash
# The GPU checks of issue 17, in one short run on a machine where TensorFlow sees a GPU:
# the device Macenko against NumPy on the GPU, the device path against the CPU path, and
# the end-to-end rates with and without mixed precision and the device Macenko.
#   bash benchmarks/gpu_check.sh [PYTHON]      (FEATX_XCEPTION_WEIGHTS or the data folder
#                                               must give the ImageNet weights)
set -euo pipefail
PY=${1:-.venv/bin/python}
"$PY" -c "import tensorflow as tf, sys; g = tf.config.list_physical_devices('GPU'); \
print('GPUs:', g); sys.exit(0 if g else 'no GPU visible to TensorFlow: nothing to check here')"
"$PY" -m pytest -p no:cacheprovider -q tests/stain/test_device.py tests/embed/test_device_path.py
"$PY" benchmarks/bench_extract.py --max-tiles 1024 --batch-size 128 --repeats 2 \
    --sweep-batch 64 128 256
"$PY" benchmarks/bench_extract.py --max-tiles 1024 --batch-size 128 --repeats 1 --jit
