"""One process of a two-process JAX job (run as a subprocess by tests/test_distribute_jax.py, with
KERAS_BACKEND=jax and XLA_FLAGS giving it 4 virtual CPU devices).

    python tests/_jax_mw_worker.py DATA_DIR MODEL_DIR OUT_NPZ EPOCHS COORDINATOR PROCESS_ID

Trains cnn_mnist (small) with strategy "multi_worker" (2 processes, the coordinator at COORDINATOR) and saves
its final weights, its history and the run's strategy record to OUT_NPZ (and OUT.json beside it).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import zoo  # noqa: E402

data_dir, model_dir, out, epochs, coordinator, process_id = sys.argv[1:7]
result = zoo.train("cnn_mnist", strategy="multi_worker", coordinator_address=coordinator, num_processes=2,
                   process_id=int(process_id), data_dir=data_dir, model_dir=model_dir, epochs=int(epochs),
                   batch_size=32, filters=(8, 8, 8), dropout=0.0, learning_rate=3e-3, verbose=2, seed=5)
import jax  # noqa: E402

np.savez(out, **{f"w{i}": w for i, w in enumerate(result.model.get_weights())})
Path(out).with_suffix(".json").write_text(json.dumps({
    "history": result.history, "test": result.test_metrics, "process": [jax.process_index(), jax.process_count()],
    "local_devices": jax.local_device_count(), "devices": jax.device_count()}))
