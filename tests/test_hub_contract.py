"""keras-hub's contract: zoo's text backbones, tasks and preprocessors checked with keras-hub's own routines
(``keras_hub/src/tests/test_case.py``, in the keras-hub wheel), unchanged, on small configurations as keras-hub's
model tests use. Marked ``any_backend``: the same checks run on TensorFlow and on JAX (``make test``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

from zoo.models import nbsvm, text

pytestmark = pytest.mark.any_backend

VOCABULARY = ["[PAD]", "[UNK]", "the", "quick", "brown", "fox", "slow", "dog", "jumps", "."]
TEXTS = ["the quick brown fox.", "the slow brown dog jumps."]
LABELS = np.array([1, 0])
# Token ids as the preprocessors give them: zero-padded to the sequence length.
IDS = np.array([[2, 3, 4, 5, 9, 0, 0, 0], [2, 6, 4, 7, 8, 9, 0, 0]], dtype="int32")
TOKEN_IDS = keras.ops.convert_to_tensor(IDS)  # a backend tensor, as keras-hub's model tests give

BACKBONES = {
    text.BiLSTMBackbone: (dict(vocabulary_size=10, sequence_length=8, embedding_dim=8, lstm_units=4,
                               bigram_buckets=7), (2, 16)),
    text.EncoderBackbone: (dict(vocabulary_size=10, sequence_length=8, embedding_dim=8, num_layers=2, num_heads=2,
                                intermediate_dim=16, dropout=0.0, pooling="mean_max", token_dropout=0.1,
                                conv_kernel=3, bigram_buckets=7), (2, 16)),
    text.CharLSTMBackbone: (dict(vocabulary_size=10, sequence_length=8, embedding_dim=8, lstm_units=4,
                                 num_layers=2, dropout=0.1), (2, 8, 4)),
    text.DecoderBackbone: (dict(vocabulary_size=10, sequence_length=8, embedding_dim=8, num_layers=2, num_heads=2,
                                intermediate_dim=16, dropout=0.0), (2, 8, 8)),
    nbsvm.NBSVMBackbone: (dict(vocabulary_size=10, buckets=7, columns=1, interpolation=0.4, scale=0.1), (2, 1)),
}
CLASSIFIERS = (text.BiLSTMTextClassifier, text.EncoderTextClassifier, nbsvm.NBSVMTextClassifier)
LANGUAGE_MODELS = (text.CharLSTMCausalLM, text.DecoderCausalLM)


def _word_piece_preprocessor() -> text.TokenIdsPreprocessor:
    return text.TokenIdsPreprocessor(text.word_piece(VOCABULARY, 8), empty_token_id=1)


def _language_model_kwargs(cls) -> dict:
    kwargs, _ = BACKBONES[cls.backbone_cls]
    return dict(backbone=cls.backbone_cls(**{**kwargs, "vocabulary_size": 128}),  # the 128 code points
                preprocessor=text.CausalLMTokenIdsPreprocessor(text._char_tokenizer(8)))


def _classifier_kwargs(cls) -> dict:
    kwargs, _ = BACKBONES[cls.backbone_cls]
    return dict(backbone=cls.backbone_cls(**kwargs), num_classes=2, preprocessor=_word_piece_preprocessor(),
                dropout=0.1)


class BackboneContract(TestCase):
    def test_backbones(self):
        for cls, (kwargs, shape) in BACKBONES.items():
            with self.subTest(cls.__name__):
                self.run_backbone_test(cls=cls, init_kwargs=dict(kwargs), input_data=TOKEN_IDS,
                                       expected_output_shape=shape)

    def test_backbone_saving(self):
        for cls, (kwargs, _) in BACKBONES.items():
            with self.subTest(cls.__name__):
                self.run_model_saving_test(cls=cls, init_kwargs=dict(kwargs), input_data=TOKEN_IDS)


class PreprocessorContract(TestCase):
    def test_word_piece_preprocessor(self):
        # zoo's preprocessors hand the backbone its one input, the token ids, as a tensor (keras-hub's BERT-like
        # ones a dict of several): `...` is the routine's way to select them from that output.
        self.init_kwargs = dict(tokenizer=text.word_piece(VOCABULARY, 8), empty_token_id=1)  # the routine reads it
        self.run_preprocessor_test(
            cls=text.TokenIdsPreprocessor,
            init_kwargs=self.init_kwargs,
            input_data=(TEXTS, LABELS),
            expected_output=(IDS, LABELS),
            token_id_key=...,
        )


    def test_language_model_preprocessor(self):
        # raw text -> (ids, next ids, padding mask), as keras-hub's CausalLMPreprocessor
        self.init_kwargs = dict(tokenizer=text._char_tokenizer(8))
        ids = [[ord(c) for c in t[:9]] + [0] * (9 - len(t[:9])) for t in TEXTS]
        self.run_preprocessor_test(
            cls=text.CausalLMTokenIdsPreprocessor,
            init_kwargs=self.init_kwargs,
            input_data=TEXTS,
            expected_output=(np.array(ids)[:, :8], np.array(ids)[:, 1:], np.ones((2, 8), "float32")),
            token_id_key=...,
        )


class TaskContract(TestCase):
    def test_classifiers(self):
        for cls in CLASSIFIERS:
            with self.subTest(cls.__name__):
                self.run_task_test(cls=cls, init_kwargs=_classifier_kwargs(cls), train_data=(TEXTS, LABELS),
                                   expected_output_shape=(2, 2))

    def test_classifier_saving(self):
        for cls in CLASSIFIERS:
            with self.subTest(cls.__name__):
                self.run_model_saving_test(cls=cls, init_kwargs=_classifier_kwargs(cls), input_data=TOKEN_IDS)

    def test_language_models(self):
        for cls in LANGUAGE_MODELS:
            with self.subTest(cls.__name__):
                self.run_task_test(cls=cls, init_kwargs=_language_model_kwargs(cls), train_data=(TEXTS,),
                                   expected_output_shape=(2, 8, 128))

    def test_language_model_saving(self):
        for cls in LANGUAGE_MODELS:
            with self.subTest(cls.__name__):
                self.run_model_saving_test(cls=cls, init_kwargs=_language_model_kwargs(cls), input_data=TOKEN_IDS)

    def test_any_language_model_generates(self):
        """A CausalLM built from a backbone and a preprocessor carries its own cached decoding."""
        import zoo

        for cls in LANGUAGE_MODELS:
            with self.subTest(cls.__name__):
                model = cls(**_language_model_kwargs(cls))
                out = model.generate("the", max_length=8)  # within the window: the cache changes nothing
                assert isinstance(out, str) and len(out) == 8 and out.startswith("the")
                assert zoo.generate(model, "the", max_length=8, cached=False) == out
                assert len(model.generate(["a", "the"], max_length=20)[1]) == 20  # past it, the window slides
