#!/usr/bin/env bash
# zoo on a Cloud TPU VM (or a Colab / Kaggle TPU), with one TensorFlow: tensorflow-tpu 2.20.
#
# pip alone cannot do it: keras-hub requires tensorflow-text, which requires the distribution named
# "tensorflow", and pip does not know that tensorflow-tpu provides the same package. So `pip install "zoo[tpu]"`
# installs the CPU wheel of tensorflow beside tensorflow-tpu, both writing site-packages/tensorflow/. This
# script installs zoo with its TPU extra, then takes the CPU wheel out and puts tensorflow-tpu's files back.
# `pip check` will then say that tensorflow-text wants "tensorflow": that is expected (tensorflow-tpu is it).
#
#   bash scripts/install_tpu.sh [PIP_SPEC]      (default: the zoo in this checkout, ".[tpu]")
set -euo pipefail
SPEC="${1:-$(cd "$(dirname "$0")/.." && pwd)[tpu]}"
TPU_WHEELS="https://storage.googleapis.com/libtpu-tf-releases/index.html"
python -m pip install "$SPEC" -f "$TPU_WHEELS"
python -m pip uninstall -y tensorflow tensorflow-cpu || true
python -m pip install --force-reinstall --no-deps "tensorflow-tpu==2.20.*" -f "$TPU_WHEELS"
python - <<'PY'
from zoo import distribute
found = distribute.tensorflow_distributions()
print("TensorFlow distributions installed:", found)
distribute.check_one_tensorflow()
PY
