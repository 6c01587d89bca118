"""LoRA against full fine-tuning on a real folder, the same budget: accuracy and trainable parameters.

    ZOO_DATA_DIR=../shared/data python benchmarks/lora_finetune.py [--models transformer_imdb] [--rank 8]

The folder: 2,000 IMDB training reviews (1,000 a class, as .txt files in a temporary folder) and 500 more in
`validation/`; each model fine-tunes from its default weights for `--epochs` epochs of batches of 16, once fully
(at its recipe's fine-tuning rate) and once with LoRA adapters of rank `--rank` (at its recipe's full rate: the
adapters start at zero). The figures are accuracies on 2,000 IMDB test reviews (a fixed random choice) and the
validation accuracy of the run's best epoch. transformer_imdb's body was trained on IMDB's training reviews
already, so this measures what LoRA keeps and costs, not a new task learnt; bert_classifier (keras-hub's BERT)
needs its preset, which this machine cannot download.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _common import previous, save

import zoo


def write_folder(root: Path) -> Path:
    train = zoo.data.load("imdb_reviews", "train")
    rng = np.random.default_rng(0)
    for label, name in enumerate(("neg", "pos")):
        chosen = rng.choice(np.flatnonzero(train.labels == label), 1250, replace=False)
        for k, i in enumerate(chosen):
            folder = root / ("validation/" if k >= 1000 else "") / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{k}.txt").write_text(str(train.features[i]), encoding="utf-8")
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["transformer_imdb"])
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    test = zoo.data.load("imdb_reviews", "test")
    pick = np.random.default_rng(1).choice(len(test), 2000, replace=False)
    texts, labels = list(test.features[pick]), test.labels[pick]
    result = previous("lora_finetune")
    result.setdefault("models", {})
    with tempfile.TemporaryDirectory() as tmp:
        root = write_folder(Path(tmp) / "reviews")
        for name in args.models:
            card = zoo.info(name)
            row = {"rank": args.rank, "epochs": args.epochs, "batch_size": 16, "train_reviews": 2000,
                   "validation_reviews": 500, "test_reviews": 2000}
            for side in ("full", "lora"):
                extra = {"lora_rank": args.rank, "learning_rate": card.recipe.learning_rate} if side == "lora" else {}
                run = zoo.train(name, data=root, model_dir=Path(tmp) / f"{name}_{side}", epochs=args.epochs,
                                batch_size=16, verbose=2, test=False, **extra)
                metrics = json.loads(run.paths["metrics"].read_text())
                probabilities = run.model.predict(texts, verbose=0)
                names = run.model.zoo_class_names  # the folder's: neg, pos, as IMDB's 0 and 1
                predicted = np.asarray([["neg", "pos"].index(names[i]) for i in probabilities.argmax(1)])
                trainable = sum(int(np.prod(w.shape)) for w in run.model.trainable_weights)
                row[side] = {
                    "test_accuracy": round(float((predicted == labels).mean()), 4),
                    "best_validation_accuracy": round(max(run.history["val_accuracy"]), 4),
                    "trainable_parameters": metrics.get("lora", {}).get("trainable_parameters", trainable),
                    "parameters": int(run.model.count_params()), "training_s": metrics["training_s"],
                    "learning_rate": metrics["recipe"]["learning_rate"],
                }
                print(f"{name} {side}: {row[side]}", flush=True)
            result["models"][name] = row
            save("lora_finetune", result)


if __name__ == "__main__":
    main()
