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
