"""Build the WordPiece vocabulary of the IMDB classifiers from the IMDB *train* split (never the test split).

    ZOO_DATA_DIR=../shared/data python scripts/build_imdb_vocabulary.py [--size 16000]

Writes zoo/assets/imdb_wordpiece_16k.txt (one token a line; [PAD] and [UNK] first), atomically. The file is a
model artefact like the weights: it ships with the package and its sha256 is recorded in the weights manifest.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras_hub  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo import data as zdata  # noqa: E402
from zoo._io import atomic_write_text, sha256_file  # noqa: E402
from zoo.models.text import IMDB_VOCABULARY  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=16_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    train = zdata.load("imdb_reviews", "train", validation_split=0.0)
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(tf.constant(train.features.tolist(), tf.string)).batch(1000), vocabulary_size=args.size, lowercase=True, strip_accents=True,
        reserved_tokens=["[PAD]", "[UNK]"],
    )
    # Tokens holding whitespace (the trainer keeps a few, e.g. from no-break spaces) can never match a word, and
    # do not survive a vocabulary file round trip: keep their places (the ids) under placeholder names.
    vocabulary = [t if t and t == "".join(t.split()) else f"[unused{i}]" for i, t in enumerate(vocabulary)]
    atomic_write_text(IMDB_VOCABULARY, "\n".join(vocabulary) + "\n")
    print(f"{len(vocabulary)} tokens from {len(train)} train reviews in {time.perf_counter() - t0:.0f} s: "
          f"{IMDB_VOCABULARY} (sha256 {sha256_file(IMDB_VOCABULARY)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
