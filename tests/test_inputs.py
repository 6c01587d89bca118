"""Arrays given to zoo.predict are checked as the .npy path checks files (issue 18): no silent answers."""

from __future__ import annotations

import numpy as np
import pytest

import zoo


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 28, 28, 1), np.float32), "holds float32 values"),
    (np.full((1, 28, 28, 1), np.nan), "holds float64 values"),
    (np.full((1, 28, 28, 1), 300, np.int32), r"values in \[300, 300\]"),
    (np.full((1, 28, 28, 1), -1, np.int16), r"values in \[-1, -1\]"),
    (np.zeros((0, 28, 28, 1), np.uint8), "empty batch"),
    (np.zeros((28, 28, 1), np.uint8), r"takes a batch of shape \(N, 28, 28, 1\)"),
    (np.zeros((1, 32, 32, 3), np.uint8), r"takes a batch of shape \(N, 28, 28, 1\)"),
])
def test_bad_arrays_are_refused_with_what_was_wrong(array, message):
    with pytest.raises(zoo.InputError, match=message):
        zoo.predict("cnn_mnist", array)


def test_integer_pixels_in_range_are_taken():
    got = zoo.predict("cnn_mnist", np.zeros((2, 28, 28, 1), np.int64), top_k=1)
    assert len(got) == 2 and got[0]["top_k"][0]["class_name"] in zoo.info("cnn_mnist").output.class_names


def test_empty_texts_and_non_strings_are_refused():
    with pytest.raises(zoo.InputError, match="no inputs given"):
        zoo.predict("lstm_imdb", [])
    with pytest.raises(zoo.InputError, match="every input must be a string, got a int"):
        zoo.predict("lstm_imdb", ["fine", 3])


# ------------------------------------------------------------------------ arguments are typed (issue 31)


@pytest.mark.parametrize("call, message", [
    (lambda: zoo.get("cnn_mnist", include_top="False"), r"include_top must be True or False, got 'False' \(str\)"),
    (lambda: zoo.get("cnn_mnist", compile=1), r"compile must be True or False, got 1 \(int\)"),
    (lambda: zoo.export("cnn_mnist", "/nonexistent/x", overwrite="no"), r"overwrite must be True or False"),
])
def test_booleans_that_are_not_booleans_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("kwargs, message", [
    ({"resume": "False"}, r"resume must be True or False, got 'False'"),
    ({"test": 0}, r"test must be True or False, got 0"),
    ({"num_gpus": -1}, r"num_gpus must be at least 0, got -1"),
    ({"seed": -1}, r"seed must be at least 0 and at most 4294967295, got -1"),
    ({"seed": 2**40}, r"seed must be at least 0 and at most 4294967295, got 1099511627776"),
    ({"early_stopping": -1}, r"early_stopping must be at least 1, got -1"),
    ({"verbose": "loud"}, r"verbose must be 'auto', 0, 1 or 2 \(Keras' progress output\), got 'loud'"),
])
def test_train_refuses_bad_arguments_before_it_writes_anything(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.train("cnn_mnist", model_dir=tmp_path / "run", epochs=1, **kwargs)
    assert not (tmp_path / "run").exists()


def test_the_cli_refuses_a_negative_count(cli):
    out = cli("train", "cnn_mnist", "--num-gpus=-1")
    assert out.returncode == 2 and "argument --num-gpus: expected a count (0, 1, 2, ...), got -1" in out.stderr


@pytest.mark.parametrize("kwargs, error, message", [
    ({"sampler": "top_k", "top_k": 10**9}, ValueError, r"top_k must be a positive integer, at most the model's 128 tokens"),
    ({"sampler": "top_k", "top_k": 129}, ValueError, r"top_k must be a positive integer, at most the model's 128 tokens"),
    ({"sampler": "top_k", "seed": 2**64}, ValueError, r"seed must be an integer in \[-2\*\*63, 2\*\*63\)"),
    ({"prompt": "ROMÉO:"}, zoo.InputError, r"outside char_lstm_shakespeare's vocabulary \(code points U\+0001 to "
                                           r"U\+007F\): 'É' \(U\+00C9\)"),
    ({"prompt": "a\x00b"}, zoo.InputError, r"'\\x00' \(U\+0000\)"),
    ({"compiled": "no"}, ValueError, r"compiled must be True or False, got 'no'"),
])
def test_generate_refuses_what_its_model_cannot_take(kwargs, error, message):
    prompt = kwargs.pop("prompt", "ROMEO:")
    with pytest.raises(error, match=message):
        zoo.generate("char_lstm_shakespeare", prompt, max_length=20, **kwargs)


@pytest.mark.parametrize("texts, message", [
    ([""], "text 0 is empty: lstm_imdb has nothing to classify"),
    (["a fine film", "  \n\t"], "text 1 is blank: lstm_imdb has nothing to classify"),
])
def test_an_empty_text_gets_no_confident_class(texts, message):
    with pytest.raises(zoo.InputError, match=message):
        zoo.predict("lstm_imdb", texts)


def test_an_npy_image_is_capped_by_its_header_before_it_is_read(tmp_path):
    import time

    path = tmp_path / "huge.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(20_000, 20_000, 3)).flush()  # sparse on disk
    t0 = time.perf_counter()
    with pytest.raises(zoo.InputError, match=r"an array of shape \(20000, 20000, 3\) \(uint8\), more than the "
                                             r"50,000,000 pixels zoo reads \(refused unread\)"):
        zoo.predict("cnn_mnist", [path])
    assert time.perf_counter() - t0 < 2
    np.save(tmp_path / "ok.npy", np.zeros((28, 28), np.uint8))
    assert len(zoo.predict("cnn_mnist", [tmp_path / "ok.npy"])) == 1
