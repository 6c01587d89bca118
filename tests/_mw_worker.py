"""One worker of a multi-worker test job (run as a subprocess with TF_CONFIG set by the test).

    python tests/_mw_worker.py DATA_DIR MODEL_DIR OUT_NPZ EPOCHS

Trains cnn_mnist (small) with strategy "multi_worker" and saves its final weights and history to OUT_NPZ.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import zoo  # noqa: E402

data_dir, model_dir, out, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
result = zoo.train("cnn_mnist", strategy="multi_worker", data_dir=data_dir, model_dir=model_dir, epochs=epochs,
                   batch_size=32, filters=(8, 16, 16), dropout=0.0, learning_rate=3e-3, verbose=1)
weights = {f"w{i}": w for i, w in enumerate(result.model.get_weights())}
np.savez(out, **weights)
Path(out).with_suffix(".json").write_text(json.dumps({"history": result.history, "test": result.test_metrics,
                                                      "epochs_run": result.epochs_run}))
