"""Choosing nbsvm_imdb's configuration on validation (IMDB's train split carved by movie; the test split is never
read here): naive Bayes alone (w = 0) and NBSVM after training, for a few configurations of the features.

    ZOO_DATA_DIR=../shared/data python scripts/experiments/nbsvm_imdb.py [--configs a,b,...] [--epochs 2]

Each configuration is ``name:key=value;key=value`` of nbsvm_imdb's hyper-parameters and recipe fields; the
tokens are computed once per (sequence_length, truncation). Prints one line per configuration and epoch.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

CONFIGS = {
    "base": {},
    "lr02": {"learning_rate": 0.02},
    "buckets2m": {"buckets": 2_097_143},
    "len2048": {"sequence_length": 2048},
    "l2e7": {"l2": 1e-7},
    "l2e6": {"l2": 1e-6},
    "l2e5": {"l2": 1e-5},
    "interp1": {"interpolation": 1.0},
    "interp01": {"interpolation": 0.1},
    "interp0": {"interpolation": 0.0},
    "interp005": {"interpolation": 0.05},
    "interp01_e3": {"interpolation": 0.1, "epochs": 3},
    "interp01_b1m": {"interpolation": 0.1, "buckets": 1_048_573},
    "sgd1": {"optimizer": "sgd", "learning_rate": 1.0},
    "sgd5": {"optimizer": "sgd", "learning_rate": 5.0},
    "b1m": {"buckets": 1_048_573},
}
RECIPE_KEYS = ("learning_rate", "epochs", "weight_decay", "optimizer")


def main() -> None:
    import keras
    import tensorflow as tf

    import zoo
    from zoo import recipes
    from zoo.models import nbsvm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    train, validation = (zoo.data.load("imdb_reviews", s, source="local") for s in ("train", "validation"))
    card = zoo.info("nbsvm_imdb")
    for name in args.configs.split(","):
        config = CONFIGS[name]
        hp = {k: v for k, v in config.items() if k not in RECIPE_KEYS}
        recipe = card.recipe.replace(epochs=args.epochs, **{k: v for k, v in config.items() if k in RECIPE_KEYS})
        model = zoo.get("nbsvm_imdb", compile=False, **hp)
        start = time.perf_counter()
        nbsvm.adapt(model, train.features, train.labels)
        ids = {s.split: model.preprocessor.token_ids(tf.constant(s.features.astype(str))).numpy()
               for s in (train, validation)}
        nb = _accuracy(model, ids["validation"], validation.labels, naive=True)
        print(f"{name}: adapt + tokens {time.perf_counter() - start:.0f} s; naive Bayes alone: validation {nb:.4f}",
              flush=True)
        steps = int(np.ceil(len(train.labels) / recipe.batch_size))
        net = keras.Model(model.inputs, model.outputs)  # the same layers on token ids (a task would tokenise)
        recipes.compile_model(net, recipe, steps=steps * recipe.epochs)
        data = tf.data.Dataset.from_tensor_slices((ids["train"], train.labels)).shuffle(25_000, seed=0)
        for epoch in range(recipe.epochs):
            net.fit(data.batch(recipe.batch_size), epochs=1, verbose=0)
            acc = _accuracy(net, ids["validation"], validation.labels)
            print(f"{name}: epoch {epoch + 1}: validation {acc:.4f}", flush=True)
        keras.backend.clear_session()


def _accuracy(model, ids, labels, naive: bool = False) -> float:
    import keras

    if naive:  # the sign of the NB score: w = 0, no head
        score = keras.ops.convert_to_numpy(model.backbone.predict(ids, batch_size=256, verbose=0))[:, 0]
        return float(np.mean((score > 0) == (labels == 1)))
    probs = model.predict(ids, batch_size=256, verbose=0)
    return float(np.mean(probs.argmax(-1) == labels))


if __name__ == "__main__":
    main()
