"""nbsvm_imdb (issue 30): NBSVM's features, its naive-Bayes ratios from training data, and its place in zoo.train."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from zoo.models import nbsvm
from zoo.models.text import IMDB_VOCABULARY, read_vocabulary

VOCABULARY = ["[PAD]", "[UNK]", "good", "bad", "film", "not", "very", "."]
TEXTS = ["very good film .", "good good film", "not good . bad film", "bad bad film .", "very bad", "good"]
LABELS = np.array([1, 1, 0, 0, 0, 1])


def small(**kwargs):
    return nbsvm.nbsvm_imdb(vocabulary=VOCABULARY, sequence_length=8, buckets=13, **kwargs)


@pytest.mark.any_backend
def test_the_features_are_each_reviews_distinct_unigrams_and_bigrams():
    layer = nbsvm.NBFeatures(vocabulary_size=8, buckets=13)
    ids = np.array([[2, 2, 4, 0, 0], [5, 2, 5, 2, 0]], "int32")  # "good good film", "not good not good"
    rows, first = (keras.ops.convert_to_numpy(t) for t in layer.feature_ids(ids))
    seen = [sorted(rows[i][first[i] > 0].tolist()) for i in range(2)]
    bigram = lambda a, b: 8 + (a * 8 + b) % 13  # noqa: E731
    assert seen[0] == sorted({2, 4, bigram(2, 2), bigram(2, 4)})
    assert seen[1] == sorted({5, 2, bigram(5, 2), bigram(2, 5)})  # repeats count once: binarized, as in the paper


def test_adapt_sets_the_naive_bayes_log_count_ratios():
    model = small()
    nbsvm.adapt(model, TEXTS, LABELS)
    (layer,) = nbsvm.feature_layers(model)
    r = layer.ratios.numpy()[:, 0]
    ids = keras.ops.convert_to_numpy(model.preprocessor.token_ids(np.array(TEXTS)))
    rows, first = (keras.ops.convert_to_numpy(t) for t in layer.feature_ids(ids))
    p = np.ones(layer.rows)
    q = np.ones(layer.rows)
    for i, label in enumerate(LABELS):
        np.add.at(p if label == 1 else q, rows[i][first[i] > 0], 1)
    np.testing.assert_allclose(r, np.log(p / p.sum()) - np.log(q / q.sum()), rtol=1e-5, atol=1e-6)
    assert r[VOCABULARY.index("good")] > 0 > r[VOCABULARY.index("bad")] and layer.adapted.numpy() == 1
    # with w = 0 the model is naive Bayes: the head starts as the score itself
    probs = model.predict(["good film", "bad film"], verbose=0)
    assert probs[0, 1] > 0.5 > probs[1, 1]


def test_more_classes_get_a_column_each_and_bad_values_are_refused():
    model = small(num_classes=3)
    nbsvm.adapt(model, TEXTS, np.array([0, 1, 2, 0, 1, 2]))
    assert nbsvm.feature_layers(model)[0].ratios.shape == (8 + 13, 3)
    with pytest.raises(ValueError, match="truncation"):
        small(truncation="tail")
    with pytest.raises(ValueError, match="as many labels"):
        nbsvm.adapt(model, TEXTS, LABELS[:2])
    with pytest.raises(ValueError, match="vocabulary_size"):
        nbsvm.NBFeatures(vocabulary_size=50_000, buckets=3)


def test_the_card_builds_over_the_shipped_vocabulary():
    card = zoo.info("nbsvm_imdb")
    model = zoo.get("nbsvm_imdb")
    vocabulary = len(read_vocabulary(IMDB_VOCABULARY))
    assert model.count_params() == card.num_params == 2 * (vocabulary + card.hparams["buckets"]) + 1 + 1 * 2 + 2
    assert card.family == "linear" and "nbsvm_imdb" in zoo.list_models(family="linear")


@pytest.mark.slow
def test_zoo_train_adapts_the_ratios_before_the_first_step(tmp_path):
    from tests._datafiles import write_imdb

    data = write_imdb(tmp_path / "data", n_train=40, n_test=8)
    result = zoo.train("nbsvm_imdb", epochs=1, batch_size=16, data_dir=data, model_dir=tmp_path / "run", verbose=0,
                       buckets=101, sequence_length=64, test=False)
    (layer,) = nbsvm.feature_layers(result.model)
    assert layer.adapted.numpy() == 1 and np.abs(layer.ratios.numpy()).max() > 0.1
