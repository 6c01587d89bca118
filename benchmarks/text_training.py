"""Training throughput of the IMDB text classifiers through `zoo.train` against a hand-written Keras
implementation of the same model on the same data, in one script.

    ZOO_DATA_DIR=../shared/data python benchmarks/text_training.py [--steps 60] [--models transformer_imdb,lstm_imdb]

Both runs train on the real IMDB train split with the recipe's global batch; the examples/s are measured over
steps 11..`--steps` of the first epoch (the first ten carry tracing and warm-up), then training stops. Goal:
ratio at least 0.95 (zoo adds no overhead to what a user would write by hand).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _common import save

import keras
import keras_hub
import tensorflow as tf

import zoo
from zoo import data as zdata
from zoo.models.text import IMDB_VOCABULARY

WARMUP = 10


class StepClock(keras.callbacks.Callback):
    def __init__(self, steps: int, batch_size: int):
        super().__init__()
        self.steps, self.batch_size, self.times = steps, batch_size, []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())
        if len(self.times) >= self.steps:
            self.model.stop_training = True

    def rate(self) -> float:
        measured = self.times[WARMUP:]
        return self.batch_size * (len(measured) - 1) / (measured[-1] - measured[0])


def hand_written(name: str, vocabulary: list[str]) -> keras.Model:
    """The same architectures as zoo's builders, written out directly with Keras and keras-hub layers."""
    inputs = keras.Input(shape=(), dtype="string")
    length = zoo.info(name).hparams["sequence_length"]
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocabulary, sequence_length=length, lowercase=True,
                                                        strip_accents=True, oov_token="[UNK]")
    tokens = tokenizer(inputs)
    if name == "lstm_imdb":
        x = keras.layers.Embedding(len(vocabulary), 96, mask_zero=True)(tokens)
        x = keras.layers.Bidirectional(keras.layers.LSTM(48, return_sequences=True))(x)
        x = keras.layers.Concatenate()([keras.layers.GlobalMaxPooling1D()(x), keras.layers.GlobalAveragePooling1D()(x)])
        x = keras.layers.Dropout(0.4)(x)
    else:
        x = keras_hub.layers.TokenAndPositionEmbedding(len(vocabulary), length, 64, mask_zero=True)(tokens)
        x = keras_hub.layers.TransformerEncoder(128, 4, dropout=0.3)(x)
        x = keras.layers.Dropout(0.3)(keras.layers.GlobalAveragePooling1D()(x))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def measure(name: str, steps: int) -> dict:
    card = zoo.info(name)
    batch = card.recipe.batch_size
    vocabulary = IMDB_VOCABULARY.read_text(encoding="utf-8").rstrip("\n").split("\n")
    train = zdata.load("imdb_reviews", "train")
    ds = tf.data.Dataset.from_tensor_slices((train.features.astype(str), train.labels))
    ds = ds.shuffle(len(train), seed=0).batch(batch).prefetch(tf.data.AUTOTUNE)
    model = hand_written(name, vocabulary)
    model.compile(optimizer=keras.optimizers.Adam(card.recipe.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hand = StepClock(steps, batch)
    model.fit(ds, epochs=1, callbacks=[hand], verbose=0)

    ours = StepClock(steps, batch)
    with tempfile.TemporaryDirectory() as tmp:
        zoo.train(name, epochs=1, model_dir=tmp, callbacks=[ours], verbose=0)
    return {"examples_per_s": {"zoo.train": round(ours.rate(), 1), "hand_written_fit": round(hand.rate(), 1)},
            "ratio": round(ours.rate() / hand.rate(), 3), "steps_measured": steps - WARMUP, "global_batch": batch}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--models", default="transformer_imdb,lstm_imdb")
    args = parser.parse_args()
    save("text_training", {name: measure(name, args.steps) for name in args.models.split(",")})


if __name__ == "__main__":
    main()
