"""NBSVM (Wang and Manning, "Baselines and Bigrams", ACL 2012) as a Keras model: the linear baseline over
uni- and bigrams that a text classifier of IMDB must beat.

A review's features are its distinct tokens and token bigrams (binarized, as in the paper), over zoo's WordPiece
tokens; a bigram is the pair's exact id ``a * V + b`` folded into ``buckets`` rows. Each feature ``f`` has a
naive-Bayes log-count ratio ``r_f`` (per class against the rest), computed once from the training split before
the first step (:func:`adapt`, which ``zoo.train`` calls as it does airbench's whitening) and then fixed, and a
weight ``w_f`` that trains from zero: the document's score is
``r_f * (w_f + interpolation)`` summed over its distinct features (times ``scale``). With ``w = 0`` that is the naive-Bayes classifier; training moves it towards
the discriminative model, and weight decay pulls it back to NB, which is NBSVM's interpolation between the two
(the form of J. Howard's "NB-SVM strong linear baseline"). A softmax head reads the score.

Everything is ``keras.ops`` (the distinct features by a sort along each review), so it runs on every backend
and XLA compiles it; the tokenizer runs in ``tf.data`` as for zoo's other text models (:mod:`zoo.models.text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import layers

from zoo.models._common import check_float, check_int
from zoo.models.text import ZooBackbone, ZooTextClassifier, _arguments, _classifier, _token_ids, _vocabulary

MAX_VOCABULARY = 46_340  # a * V + b stays below 2**31 (int32 on every backend)


@keras.saving.register_keras_serializable(package="zoo")
class NBFeatures(layers.Layer):
    """token ids -> the sum over each review's distinct uni- and bigram features of ``r * (w + interpolation)``
    times ``scale``,
    one column per class against the rest (one column for two classes)."""

    def __init__(self, vocabulary_size: int, buckets: int, columns: int = 1, interpolation: float = 0.4,
                 scale: float = 0.1, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.l2 = float(l2)
        self.vocabulary_size = check_int("vocabulary_size", vocabulary_size, minimum=2, maximum=MAX_VOCABULARY)
        self.buckets = check_int("buckets", buckets, minimum=1)
        self.columns = check_int("columns", columns, minimum=1)
        self.interpolation = float(interpolation)

    @property
    def rows(self) -> int:
        return self.vocabulary_size + self.buckets

    def build(self, input_shape):
        shape = (self.rows, self.columns)
        self.ratios = self.add_weight(shape=shape, name="ratios", initializer="zeros", trainable=False)
        # L2 on w pulls the model back towards naive Bayes (w = 0): NBSVM's interpolation, as a penalty
        self.kernel = self.add_weight(shape=shape, name="kernel", initializer="zeros",
                                      regularizer=keras.regularizers.L2(self.l2) if self.l2 else None)
        # 1 once adapt has set the ratios (0: never adapted, and every review scores 0)
        self.adapted = self.add_weight(name="adapted", shape=(), initializer="zeros", trainable=False)

    def feature_ids(self, ids):
        """(rows, mask): each position's unigram and bigram feature row, sorted per review, and 1 where the row is
        a real feature seen there for the first time (padding and repeats 0): the review's distinct features."""
        ops = keras.ops
        ids = ops.cast(ids, "int32")
        following = ops.concatenate([ids[:, 1:], ops.zeros_like(ids[:, :1])], axis=1)
        bigrams = self.vocabulary_size + ops.mod(ids * self.vocabulary_size + following, self.buckets)
        rows = ops.concatenate([ops.where(ids > 0, ids, -1),
                                ops.where(ops.logical_and(ids > 0, following > 0), bigrams, -1)], axis=1)
        rows = ops.sort(rows, axis=-1)
        previous = ops.concatenate([ops.full_like(rows[:, :1], -1), rows[:, :-1]], axis=1)
        first = ops.logical_and(rows >= 0, ops.not_equal(rows, previous))
        return ops.maximum(rows, 0), ops.cast(first, self.compute_dtype)

    def call(self, ids):
        ops = keras.ops
        rows, first = self.feature_ids(ids)
        ratios = ops.take(ops.cast(self.ratios, self.compute_dtype), rows, axis=0)
        weights = ops.take(ops.cast(self.kernel, self.compute_dtype), rows, axis=0) + self.interpolation
        return ops.sum(ratios * weights * ops.expand_dims(first, -1), axis=1) * self.scale

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.columns)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "buckets": self.buckets,
                "columns": self.columns, "interpolation": self.interpolation, "scale": self.scale, "l2": self.l2}


@keras.saving.register_keras_serializable(package="zoo")
class NBSVMBackbone(ZooBackbone):
    """token ids -> NB-weighted uni- and bigram score(s) (:class:`NBFeatures`): ``columns`` features."""

    def __init__(self, vocabulary_size: int, buckets: int, columns: int = 1, interpolation: float = 0.4,
                 scale: float = 0.1, l2: float = 0.0, name: str | None = None, dtype: Any = None, **kwargs):
        args = _arguments(locals())
        inputs = _token_ids()
        outputs = NBFeatures(vocabulary_size, buckets, columns, interpolation, scale, l2, dtype=dtype,
                             name="nb_features")(inputs)
        super().__init__(inputs, outputs, args, name, dtype=dtype, **kwargs)


@keras.saving.register_keras_serializable(package="zoo")
class NBSVMTextClassifier(ZooTextClassifier):
    """nbsvm_imdb's task: a ZooTextClassifier over an NBSVMBackbone."""

    backbone_cls = NBSVMBackbone


def feature_layers(model: Any) -> list[NBFeatures]:
    """The NBFeatures layers of a model (one for nbsvm_imdb, none for any other)."""
    backbone = getattr(model, "backbone", None)
    return [layer for layer in getattr(backbone, "layers", []) if isinstance(layer, NBFeatures)]


def adapt(model: Any, texts: Any, labels: Any, *, smoothing: float = 1.0, batch_size: int = 256) -> None:
    """Set the naive-Bayes log-count ratios from training reviews: for each class c, with p the count of
    reviews of class c holding each feature (plus ``smoothing``) and q that of the others,
    ``r_c = log((p / |p|_1) / (q / |q|_1))``; for two classes the one column is class 1's."""
    import tensorflow as tf

    (layer,) = feature_layers(model)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    classes = int(model.num_classes)
    if len(labels) != len(texts) or len(labels) == 0:
        raise ValueError(f"adapt takes reviews and as many labels, got {len(texts)} and {len(labels)}")
    seen: list[list[np.ndarray]] = [[] for _ in range(classes)]  # the distinct rows of each class's reviews
    batches = tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object).astype(str)).batch(batch_size)
    start = 0
    for batch in batches.map(model.preprocessor.token_ids):
        rows, first = (keras.ops.convert_to_numpy(t) for t in layer.feature_ids(batch.numpy()))
        owner = np.broadcast_to(labels[start:start + len(rows), None], rows.shape)
        for c in range(classes):
            seen[c].append(rows[(first > 0) & (owner == c)])
        start += len(rows)
    counts = np.stack([np.bincount(np.concatenate(s), minlength=layer.rows) for s in seen]).astype(np.float64)
    p = counts + smoothing
    rest = p.sum(axis=0, keepdims=True) - p + smoothing * (classes - 2)
    ratios = np.log(p / p.sum(axis=1, keepdims=True)) - np.log(rest / rest.sum(axis=1, keepdims=True))
    columns = ratios[1:2] if classes == 2 else ratios
    layer.ratios.assign(columns.T.astype("float32"))
    layer.adapted.assign(1.0)


def nbsvm_imdb(
    *,
    num_classes: int = 2,
    vocabulary: str | Sequence[str] | None = None,
    sequence_length: int = 1024,
    buckets: int = 524_287,
    interpolation: float = 0.05,
    scale: float = 0.1,
    l2: float = 0.0,
    truncation: str = "head_tail",
) -> keras.Model:
    """NBSVM over WordPiece uni- and bigrams (a keras-hub TextClassifier): raw review text -> (preprocessor)
    WordPiece, ``sequence_length`` tokens (``truncation`` as for transformer_imdb) -> (backbone) the NB-weighted
    sum over the review's distinct features -> softmax. ``buckets``: the rows bigrams fold into (a prime spreads
    them best); ``interpolation``: the weight every feature keeps on its NB ratio (``w + interpolation``);
    ``scale``: of the summed score; ``l2``: the penalty on ``w``, which pulls it back towards naive Bayes."""
    num_classes = check_int("num_classes", num_classes, minimum=2)
    vocab = _vocabulary(vocabulary)
    sequence_length = check_int("sequence_length", sequence_length, minimum=8)
    backbone = NBSVMBackbone(len(vocab), check_int("buckets", buckets, minimum=1),
                             columns=1 if num_classes == 2 else num_classes,
                             interpolation=check_float("interpolation", interpolation, minimum=0.0, maximum=10.0),
                             scale=check_float("scale", scale, minimum=1e-6, maximum=10.0),
                             l2=check_float("l2", l2, minimum=0.0, maximum=1.0))
    model = _classifier(backbone, vocab, sequence_length, truncation, num_classes, 0.0, "nbsvm_imdb",
                        task=NBSVMTextClassifier)
    # The head starts as the score itself: class 1's logit minus class 0's is the NB score (for more classes, each
    # class's logit its own column). A random head could start against the ratios and unlearn them first.
    head = model.get_layer("probabilities")
    start = np.array([[-0.5, 0.5]]) if num_classes == 2 else np.eye(num_classes)
    head.set_weights([start.astype("float32"), np.zeros(num_classes, "float32")])
    return model
