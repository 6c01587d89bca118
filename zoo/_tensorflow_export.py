"""The TensorFlow side of an export made under another backend (``zoo.exporting``): a SavedModel and a TFLite
file are TensorFlow graphs, so a model built on JAX is handed over as a ``.keras`` archive (backend-agnostic,
loaded here with safe mode on) and written by the very code that writes TensorFlow's own exports: the same
serving signature, raw inputs and preprocessing included, by construction.

    KERAS_BACKEND=tensorflow python -m zoo._tensorflow_export FOLDER

FOLDER holds ``model.keras`` and ``job.json`` (the card's name, the attributes zoo hangs on a model, the
format, target and options). On failure the last line on stderr is a JSON object ``{"error", "type"}``, which
the parent raises again as an :class:`ExportError`; the exit status is then 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    try:
        import keras

        import zoo  # noqa: F401  (registers zoo's classes for the archive)
        from zoo import exporting, registry

        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"this worker runs on TensorFlow, not {keras.backend.backend()}")
        if job["card"]:  # the module of its builder registers the classes of its layers (airbench's TTAViews)
            registry.get_card(job["card"]).load_builder()
        model = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
        for attr, value in job["attributes"].items():
            setattr(model, attr, tuple(value) if isinstance(value, list) else value)
        card = registry.get_card(job["card"]) if job["card"] else None
        exporting._write(model, card, job["format"], Path(job["target"]), job["version"], job["quantization"],
                         job["data_dir"])
    except Exception as e:  # handed back whole to the parent, which says it in one line
        print(json.dumps({"error": str(e), "type": type(e).__name__}), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv[1:]))
