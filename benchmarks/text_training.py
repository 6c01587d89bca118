"""Training throughput of the IMDB text classifiers through `zoo.train` against a hand-written Keras
implementation of the same model on the same data, and of the input pipeline (tokenising in tf.data) against
training, in one script.

    ZOO_DATA_DIR=../shared/data python benchmarks/text_training.py [--steps 60] [--models transformer_imdb,lstm_imdb]

Both runs train on the real IMDB train split with the recipe's global batch; the examples/s are measured over
steps 11..`--steps` of the first epoch (the first ten carry tracing and warm-up), then training stops; the two
alternate `--rounds` times and their medians are compared. The hand-written models copy zoo's hyper-parameters
and optimizer from the card. Goal:
ratio at least 0.95 (zoo adds no overhead to what a user would write by hand). The pipeline figure is the
examples/s of zoo's input pipeline alone (strings -> token ids, batched, in tf.data, as `fit` runs it), read for
`--steps` batches without training; goal: at least 5x the training examples/s (the accelerator never waits).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from _common import previous, save

import keras
import keras_hub
import tensorflow as tf

import zoo
from zoo import data as zdata
from zoo.models.text import IMDB_VOCABULARY, HashedBigramEmbedding, word_piece

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


class MaskedMax(keras.layers.Layer):
    """The maximum over the real tokens (what a user writes for max pooling over a padded, masked sequence)."""

    supports_masking = True

    def call(self, x, mask=None):
        return keras.ops.max(keras.ops.where(keras.ops.expand_dims(mask, -1), x, -1e9), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None


def hand_written(name: str, vocabulary: list[str]) -> keras.Model:
    """The same architectures as zoo's builders, written out directly with Keras and keras-hub layers, on token
    ids (the tokenizer runs in tf.data, as keras-hub's tasks do)."""
    hp = zoo.info(name).hparams
    tokens = inputs = keras.Input(shape=(hp["sequence_length"],), dtype="int32")
    if name == "lstm_imdb":
        x = keras.layers.Embedding(len(vocabulary), hp["embedding_dim"], mask_zero=True)(tokens)
        x = keras.layers.Bidirectional(keras.layers.LSTM(hp["lstm_units"], return_sequences=True))(x)
        x = keras.layers.Concatenate()([MaskedMax()(x), keras.layers.GlobalAveragePooling1D()(x)])
    else:
        mask = hp.get("mask_padding", True)
        x = keras_hub.layers.TokenAndPositionEmbedding(len(vocabulary), hp["sequence_length"], hp["embedding_dim"],
                                                       mask_zero=mask)(tokens)
        if hp.get("bigram_buckets"):  # zoo's layer, as the tokenizer above: the same model
            bigrams = HashedBigramEmbedding(hp["bigram_buckets"], hp["embedding_dim"], mask_zero=mask)
            x = keras.layers.Add()([x, bigrams(tokens)])
        if hp["token_dropout"]:
            x = keras.layers.Dropout(hp["token_dropout"], noise_shape=(None, hp["sequence_length"], 1))(x)
        x = keras_hub.layers.TransformerEncoder(hp["intermediate_dim"], hp["num_heads"], dropout=hp["dropout"])(x)
        if hp["pooling"] == "mean":
            x = keras.layers.GlobalAveragePooling1D()(x)
        else:
            x = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(x), MaskedMax()(x)])
    x = keras.layers.Dropout(hp["dropout"])(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def hand_rate(name: str, steps: int, train, vocabulary: list[str]) -> float:
    card = zoo.info(name)
    batch = card.recipe.batch_size
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(train.features.tolist(), tf.string), train.labels))  # no <U array
    hp = card.hparams
    # zoo's tokenizer (WordPiece, head+tail truncation where the card says so; an empty text one [UNK])
    tokenizer = word_piece(vocabulary, hp["sequence_length"], hp.get("truncation", "head"))
    unk = vocabulary.index("[UNK]")

    def tokenize(texts, labels):
        ids = tokenizer(texts)
        return tf.concat([tf.where(ids[:, :1] == 0, unk, ids[:, :1]), ids[:, 1:]], 1), labels

    ds = ds.shuffle(len(train), seed=0).batch(batch).map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    model = hand_written(name, vocabulary)
    r = card.recipe
    optimizer = (keras.optimizers.AdamW(r.learning_rate, weight_decay=r.weight_decay) if r.optimizer == "adamw"
                 else keras.optimizers.Adam(r.learning_rate))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    clock = StepClock(steps, batch)
    model.fit(ds, epochs=1, callbacks=[clock], verbose=0)
    return clock.rate()


def zoo_rate(name: str, steps: int) -> float:
    clock = StepClock(steps, zoo.info(name).recipe.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        zoo.train(name, epochs=1, model_dir=tmp, callbacks=[clock], verbose=0, strategy="off")
    return clock.rate()


def pipeline_rate(name: str, steps: int, train) -> float:
    """zoo's input pipeline alone: shuffled batches of strings, tokenised by the model's preprocessor in tf.data
    (what keras-hub's fit maps over the data), read for ``steps`` batches after ten."""
    card = zoo.info(name)
    model = zoo.get(name, compile=False)
    ds = zdata.pipeline(train, batch_size=card.recipe.batch_size, training=True, seed=0)
    ds = ds.map(model.preprocess_samples, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    it = iter(ds)
    for _ in range(WARMUP):
        next(it)
    t0 = time.perf_counter()
    for _ in range(steps - WARMUP):
        next(it)
    return (steps - WARMUP) * card.recipe.batch_size / (time.perf_counter() - t0)


def measure(name: str, steps: int, rounds: int) -> dict:
    """Hand-written and zoo runs alternate, ``rounds`` times each; the medians are compared, so that a slower
    moment of a shared machine does not fall on one side only, and so are the fastest runs."""
    vocabulary = IMDB_VOCABULARY.read_text(encoding="utf-8").rstrip("\n").split("\n")
    train = zdata.load("imdb_reviews", "train")
    hand, ours = [], []
    for _ in range(rounds):
        hand.append(hand_rate(name, steps, train, vocabulary))
        ours.append(zoo_rate(name, steps))
    h, z = statistics.median(hand), statistics.median(ours)
    pipe = pipeline_rate(name, steps, train)
    return {"examples_per_s": {"zoo.train": round(z, 1), "hand_written_fit": round(h, 1), "input_pipeline": round(pipe, 1)},
            "pipeline_over_training": round(pipe / z, 2),
            "runs": {"zoo.train": [round(v, 1) for v in ours], "hand_written_fit": [round(v, 1) for v in hand]},
            "ratio": round(z / h, 3),
            # the fastest run of each side is the one least disturbed by the rest of a shared machine
            "ratio_of_fastest_runs": round(max(ours) / max(hand), 3), "steps_measured": steps - WARMUP, "rounds": rounds,
            "global_batch": zoo.info(name).recipe.batch_size}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--models", default="transformer_imdb,lstm_imdb")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = previous("text_training")  # a run of some models keeps the others' figures
    result.update({name: measure(name, args.steps, args.rounds) for name in args.models.split(",")})
    save("text_training", result)


if __name__ == "__main__":
    main()
