"""One set of weights, one answer: every shipped weight set's outputs on real test inputs, on the backend this
process runs (``KERAS_BACKEND``). tests/test_backends.py runs this module under TensorFlow in a subprocess and
compares what it writes with the same computation under JAX, on the very inputs TensorFlow was given.

    KERAS_BACKEND=tensorflow python -m tests._parity OUT.npz [NAME.TAG ...]

For each weight set: ``NAME.TAG/x`` the inputs (token ids for the text models, uint8 images) and
``NAME.TAG/y`` the outputs (a classifier's probabilities, a language model's logits); for the text classifiers
also ``NAME.TAG/texts``, the raw reviews, whose predictions through the preprocessor are compared too.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

IMAGES = 64  # real test images per image model
REVIEWS = 32  # of each kind: the longest (truncated), the shortest (mostly padding), others at random
WINDOWS = 48  # windows of the language models' real test text


@functools.lru_cache(maxsize=None)
def _test_split(dataset: str, data_dir: str | None):
    """A dataset's test split, read once a process (every weight set of a model reads the same one)."""
    from zoo import data

    return data.load(dataset, "test", data_dir=data_dir)


def weight_sets() -> list[str]:
    import zoo
    from zoo import manifest

    return [f"{n}.{w.tag}" for n in zoo.list_models() if not zoo.info(n).presets
            for w in manifest.weights_for(n)]


def test_reviews(data_dir: str | None = None) -> np.ndarray:
    """96 IMDB test reviews: the 32 longest, the 32 shortest and 32 others drawn with a fixed seed."""
    texts = _test_split("imdb_reviews", data_dir).features
    order = np.argsort([len(t) for t in texts], kind="stable")
    rest = np.random.default_rng(0).choice(order[REVIEWS:-REVIEWS], REVIEWS, replace=False)
    return texts[np.concatenate([order[-REVIEWS:], order[:REVIEWS], rest])]


def inputs(name: str, model, data_dir: str | None = None) -> dict[str, np.ndarray]:
    import zoo

    card = zoo.info(name)
    if card.input.kind == "image":
        split = _test_split(card.dataset, data_dir)
        pick = np.random.default_rng(0).choice(len(split.labels), IMAGES, replace=False)
        return {"x": split.features[np.sort(pick)]}
    if card.task == "text-classification":
        texts = test_reviews(data_dir)
        return {"x": np.asarray(model.preprocessor.token_ids(texts)), "texts": texts.astype(str)}
    text = _test_split(card.dataset, data_dir).text
    length = model.preprocessor.sequence_length
    starts = np.linspace(0, len(text) - length - 1, WINDOWS).astype(int)
    return {"x": np.asarray(model.preprocessor.token_ids([text[s:s + length] for s in starts]))}


def outputs(model, x: np.ndarray, batch: int = 50) -> np.ndarray:
    """The model on ``x`` (inference), in batches."""
    import keras

    return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + batch], training=False))
                           for i in range(0, len(x), batch)])


def main(argv: list[str]) -> int:
    import zoo

    out, wanted = argv[0], argv[1:] or weight_sets()
    arrays = {}
    for full in wanted:
        name, tag = full.split(".")
        model = zoo.get(name, pretrained=tag, compile=False)
        arrays.update({f"{full}/{k}": v for k, v in inputs(name, model).items()})
        arrays[f"{full}/y"] = outputs(model, arrays[f"{full}/x"])
    np.savez(out, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
