#!/usr/bin/env bash
# The GPU checks (issues 17 and 28), in one short run on a machine where TensorFlow sees a GPU:
#  1. the device Macenko against NumPy, the device path against the CPU path, and float16
#     extractors (tests);
#  2. the end-to-end rates: bare forward at a sweep of batch sizes in float32 and float16,
#     the whole path with the NumPy and the device Macenko, and the producers' supply per
#     core (what a GPU needs from the CPU), with and without XLA;
#  3. float16 against float32 on the LC25000 tiles: speed, cosine deviation, and tissue
#     accuracy on the same folds with the corrected t-test (needs the featx data folder;
#     skipped without it).
# About 5 minutes on one H100. Not yet run: no GPU has been lent to issue 28's session.
#   bash benchmarks/gpu_check.sh [PYTHON]      (FEATX_XCEPTION_WEIGHTS or FEATX_DATA_DIR
#                                               must give the ImageNet weights)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
"$PY" -c "import tensorflow as tf, sys; g = tf.config.list_physical_devices('GPU'); \
print('GPUs:', g); sys.exit(0 if g else 'no GPU visible to TensorFlow: nothing to check here')"
"$PY" -m pytest -p no:cacheprovider -q tests/stain/test_device.py tests/embed/test_device_path.py \
    tests/extractors/test_precision.py
"$PY" benchmarks/bench_extract.py --max-tiles 1024 --batch-size 128 --repeats 2 \
    --sweep-batch 64 128 256
"$PY" benchmarks/bench_extract.py --max-tiles 1024 --batch-size 128 --repeats 1 --jit
if "$PY" -c "import sys; from featx.data_folder import data_file; \
sys.exit(0 if data_file('tiles', 'lc25000_lung_224px') else 1)"; then
    "$PY" benchmarks/bench_precision.py --precision float16 --batch 128 --cv-repeats 10
else
    echo "float16 downstream check skipped: no featx data folder (set FEATX_DATA_DIR)"
fi
