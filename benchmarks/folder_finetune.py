"""The 3-class folder comparison of README's fine-tuning paragraph, for each CIFAR-10 body with weights.

    ZOO_DATA_DIR=../shared/data python benchmarks/folder_finetune.py [--models airbench_cifar10 resnet20_cifar10]

The folder of tests/test_folders.py (CIFAR-10 test images of airplane, frog and truck, 150 each to train and 50
each in validation/, as PNG files in a temporary folder); each model trains 2 epochs of batches of 32 from its
default weights (a new 3-class head, at its recipe's fine-tuning rate) and from scratch (at its recipe's rate).
The figures are accuracies on the 150 validation images (the folder's "test").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import save

import numpy as np

import zoo


def write_folder(root: Path, data_dir: str | None) -> Path:
    from PIL import Image

    test = zoo.data.load("cifar10", "test", data_dir=data_dir)
    names = zoo.info("resnet20_cifar10").output.class_names
    for label in ("airplane", "frog", "truck"):
        for k, i in enumerate(np.flatnonzero(test.labels == names.index(label))[:200]):
            folder = root / ("validation/" if k >= 150 else "") / label
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(test.features[i]).save(folder / f"{k}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    parser.add_argument("--models", nargs="+", default=["airbench_cifar10", "resnet20_cifar10"])
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = write_folder(Path(tmp) / "photos", args.data_dir)
        budget = dict(data=root, epochs=2, batch_size=32, verbose=0)
        for name in args.models:
            info = zoo.info(name)
            row = {"weights": next((w.full_name for w in info.weights if w.default), None)}
            for side, pretrained in (("fine_tuned", None), ("from_scratch", False)):
                t0 = time.perf_counter()
                result = zoo.train(name, model_dir=Path(tmp) / f"{name}-{side}", pretrained=pretrained, **budget)
                row[side] = round(result.test_metrics["accuracy"], 4)
                row[f"{side}_seconds"] = round(time.perf_counter() - t0, 1)
            results[name] = row
    save("folder_finetune", {"folder": "3 CIFAR-10 classes (airplane, frog, truck), 450 training and 150 "
                                       "validation images", "budget": "2 epochs, batches of 32", "models": results})


if __name__ == "__main__":
    main()
