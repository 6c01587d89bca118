"""The backend-sensitive tests of issue 28, run under KERAS_BACKEND=jax (the second run of `make test`): one set
of weights gives one answer on both backends, `zoo verify` and `zoo evaluate` agree with the cards, and the
backend is chosen before Keras is imported."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests import _parity
from tests.conftest import ROOT, own_models

pytestmark = pytest.mark.jax

ATOL = 1e-4  # the bound on any probability (a classifier's) or logit (a language model's) between the backends


def _tensorflow(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def on_tensorflow(real_data_dir, tmp_path_factory):
    """Every shipped weight set's outputs on real test inputs, computed by TensorFlow in a process of its own."""
    out = tmp_path_factory.mktemp("parity") / "tensorflow.npz"
    done = _tensorflow("-m", "tests._parity", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out, allow_pickle=False)


def test_this_run_is_on_jax():
    import keras

    assert keras.backend.backend() == "jax"


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("full", _parity.weight_sets())
def test_every_weight_set_gives_tensorflows_outputs_on_jax(on_tensorflow, full):
    import zoo

    name, tag = full.split(".")
    model = zoo.get(name, pretrained=tag, compile=False)
    x, want = on_tensorflow[f"{full}/x"], on_tensorflow[f"{full}/y"]
    got = _parity.outputs(model, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    if f"{full}/texts" in on_tensorflow:  # raw reviews through the preprocessor, as predict takes them
        texts = on_tensorflow[f"{full}/texts"]
        lengths = (x != 0).sum(axis=1)
        assert lengths.max() == x.shape[1] and lengths.min() < x.shape[1] // 8  # truncated ones and padded ones
        np.testing.assert_allclose(model.predict(texts.tolist(), batch_size=50, verbose=0), want,
                                   rtol=0, atol=ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("name", own_models(weights=True))
def test_every_weight_set_verifies_on_jax(name):
    import zoo

    assert zoo.verify(name)["outputs_ok"]


# Full test splits, as tests/test_weights.py measures them on TensorFlow: the slowest take minutes each on 2 cores
# (the IMDB classifiers' 25,000 reviews, the CIFAR ResNets), so they run with `make test-release` (JAX included).
_FAST_TO_MEASURE = {"cnn_mnist", "mlp_mnist", "cnn_fashion_mnist", "char_lstm_shakespeare"}


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[] if n in _FAST_TO_MEASURE else [pytest.mark.release])
    for n in own_models(weights=True)])
def test_every_card_figure_is_what_evaluate_reproduces_on_jax(real_data_dir, name):
    import zoo
    from zoo import manifest

    info = manifest.weights_for(name)[0]
    got = zoo.evaluate(name, data_dir=real_data_dir)
    assert f"({got['num_examples']} " in info.split
    for metric, value in info.metrics.items():
        if metric in ("accuracy", "sparse_categorical_accuracy"):
            assert got[metric] == pytest.approx(value, abs=5e-4), metric  # 0.05 points
        else:
            assert got[metric] == pytest.approx(value, rel=1e-3), metric
