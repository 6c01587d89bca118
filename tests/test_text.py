"""The LSTM and Transformer text models: raw strings in, the vocabulary through save, load and export,
generation (deterministic under a seed, max_length respected), the corpus pipeline, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests._datafiles import write_tiny_shakespeare
from tests.conftest import own_models, run_cli
from zoo import data as zdata

TEXT_MODELS = own_models(task="text-classification") + own_models(task="language-modeling")  # hub ones: test_hub
TEXTS = ["What a wonderful film, I loved every minute.", "Awful. Dull plot, wooden acting.", ""]


@pytest.mark.slow
@pytest.mark.parametrize("name", TEXT_MODELS)
def test_raw_strings_through_every_text_model(name):
    card = zoo.info(name)
    model = zoo.get(name, compile=False)
    assert isinstance(model, keras_hub.models.Task) and isinstance(model.backbone, keras_hub.models.Backbone)
    # token ids of any length in, as keras-hub's backbones take them; the preprocessor pads to the card's length
    assert model.inputs[0].dtype == "int32" and model.inputs[0].shape == (None, None)
    assert model.preprocessor.sequence_length == card.hparams["sequence_length"]
    out = np.asarray(model.predict(TEXTS, verbose=0))  # the preprocessor runs in tf.data
    np.testing.assert_allclose(model(model.preprocessor.token_ids(tf.constant(TEXTS)), training=False), out, rtol=1e-5, atol=1e-6)
    if card.task == "text-classification":
        assert out.shape == (3, card.output.num_classes)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    else:
        assert out.shape == (3, card.hparams["sequence_length"], card.output.num_classes)
    assert np.all(np.isfinite(out))


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(3)
    return zoo.get("transformer_imdb", compile=False, sequence_length=32, embedding_dim=16, intermediate_dim=32)


@pytest.mark.slow
def test_the_vocabulary_survives_keras_save_and_load(classifier, tmp_path):
    path = zoo.export(classifier, tmp_path / "t.keras", format="keras")
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0), classifier.predict(TEXTS, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert loaded.preprocessor.tokenizer.get_vocabulary() == classifier.preprocessor.tokenizer.get_vocabulary()


def _layer_outputs(model, texts, *names):
    """The texts' token ids (the preprocessor's) and the named backbone layers' outputs for them, in one pass."""
    body = model.backbone
    tokens = model.preprocessor(texts)
    outputs = keras.Model(body.inputs, [body.get_layer(n).output for n in names])(tokens)
    return [np.asarray(tokens)] + [np.asarray(o) for o in (outputs if len(names) > 1 else [outputs])]


@pytest.mark.parametrize("pooling,conv_kernel,bigram_buckets", [("mean", 0, 0), ("mean_max", 0, 0), ("mean", 3, 0),
                                                                  ("mean", 0, 101)])
@pytest.mark.slow
def test_the_transformer_classifier_ignores_padding(pooling, conv_kernel, bigram_buckets, tmp_path):
    """Pooling (mean, and the masked max), the local convolution and the bigram embeddings see the real tokens
    only: what sits at the padding positions never reaches the answer. And the variant survives a .keras save
    and safe load."""
    keras.utils.set_random_seed(5)
    model = zoo.get("transformer_imdb", compile=False, sequence_length=32, embedding_dim=16, intermediate_dim=32,
                    pooling=pooling, conv_kernel=conv_kernel, bigram_buckets=bigram_buckets, mask_padding=True)
    texts = tf.constant(TEXTS[:2])
    tokens, encoded, pooled = _layer_outputs(model, texts, "encoder1", "pool")
    real = tokens != 0
    for row in range(2):
        tokens = encoded[row][real[row]]
        expected = tokens.mean(0) if pooling == "mean" else np.concatenate([tokens.mean(0), tokens.max(0)])
        np.testing.assert_allclose(pooled[row], expected, rtol=1e-4, atol=1e-5)
    if conv_kernel:
        _, local = _layer_outputs(model, texts, "local_conv")
        assert np.all(local[~real] == 0) and np.any(local[real] != 0)
    if bigram_buckets:  # a bigram needs the token and the next one: none at the last real token or the padding
        _, bigrams = _layer_outputs(model, texts, "bigrams")
        has_next = real & np.roll(real, -1, axis=1)
        assert np.all(bigrams[~has_next] == 0) and np.all(np.abs(bigrams[has_next]).sum(-1) > 0)
    loaded = keras.saving.load_model(zoo.export(model, tmp_path / "m.keras", format="keras"), safe_mode=True)
    np.testing.assert_allclose(loaded.predict(texts, verbose=0), model.predict(texts, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bigram_buckets", [0, 101])
def test_the_lstm_classifier_ignores_padding(bigram_buckets):
    keras.utils.set_random_seed(5)
    model = zoo.get("lstm_imdb", compile=False, sequence_length=32, embedding_dim=8, lstm_units=4,
                    bigram_buckets=bigram_buckets)
    texts = tf.constant(TEXTS[:2])
    tokens, states, pooled = _layer_outputs(model, texts, "bilstm", "pool")
    real = tokens != 0
    for row in range(2):
        tokens = states[row][real[row]]
        np.testing.assert_allclose(pooled[row], np.concatenate([tokens.max(0), tokens.mean(0)]), rtol=1e-4, atol=1e-5)


def test_transformer_hyper_parameters_are_checked():
    with pytest.raises(ValueError, match="pooling must be one of mean, mean_max"):
        zoo.get("transformer_imdb", compile=False, pooling="max")
    with pytest.raises(ValueError, match="conv_kernel must be at least 0"):
        zoo.get("transformer_imdb", compile=False, conv_kernel=-1)
    with pytest.raises(ValueError, match="bigram_buckets must be at least 0"):
        zoo.get("transformer_imdb", compile=False, bigram_buckets=-1)


def test_without_padding_mask_the_encoder_and_the_mean_see_every_position():
    """mask_padding=False (the card's choice, as in the Keras example): the mean is over all positions, padding
    included."""
    keras.utils.set_random_seed(5)
    model = zoo.get("transformer_imdb", compile=False, sequence_length=32, embedding_dim=16, intermediate_dim=32,
                    bigram_buckets=101, mask_padding=False)
    _, encoded, pooled = _layer_outputs(model, tf.constant(TEXTS[:2]), "encoder1", "pool")
    np.testing.assert_allclose(pooled, encoded.mean(axis=1), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="mask_padding must be True or False"):
        zoo.get("transformer_imdb", compile=False, mask_padding="no")


def test_bigram_embeddings_tell_word_order_apart():
    from zoo.models.text import HashedBigramEmbedding

    layer = HashedBigramEmbedding(buckets=1009, output_dim=8)
    out = np.asarray(layer(tf.constant([[5, 9, 0], [9, 5, 0]])))  # "a b" and "b a"
    assert not np.allclose(out[0, 0], out[1, 0])  # bigram (5, 9) is not (9, 5)
    np.testing.assert_array_equal(out[:, 1:], 0)  # the last real token and the padding have no bigram


@pytest.mark.slow
def test_head_tail_truncation_keeps_a_long_texts_start_and_end(tmp_path):
    from zoo.models.text import HeadTailWordPieceTokenizer

    vocabulary = ["[PAD]", "[UNK]"] + [f"w{i}" for i in range(12)]  # w0 is id 2, w9 is id 11
    tok = HeadTailWordPieceTokenizer(head=2, vocabulary=vocabulary, sequence_length=6, lowercase=True,
                                     oov_token="[UNK]")
    texts = tf.constant(["", "w0 w1 w2", " ".join(f"w{i}" for i in range(6)), " ".join(f"w{i}" for i in range(10))])
    expected = [[0] * 6, [2, 3, 4, 0, 0, 0], [2, 3, 4, 5, 6, 7], [2, 3, 8, 9, 10, 11]]  # long: w0 w1 + w6..w9
    assert np.asarray(tok(texts)).tolist() == expected
    assert tf.function(tok)(texts).numpy().tolist() == expected  # graphs (fit, export) agree with eager calls
    assert np.asarray(tok(texts[3])).tolist() == expected[3]  # one text, unbatched

    model = zoo.get("transformer_imdb", compile=False, truncation="head_tail", sequence_length=64)
    assert isinstance(model.preprocessor.tokenizer, HeadTailWordPieceTokenizer)
    long_texts = tf.constant(["a fine film " * 100 + "but the end was awful", "bad"])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")  # safe mode: the class is registered
    np.testing.assert_allclose(loaded.predict(long_texts, verbose=0), model.predict(long_texts, verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match="head must be at least 0 and at most 6"):
        HeadTailWordPieceTokenizer(head=7, vocabulary=vocabulary, sequence_length=6)
    with pytest.raises(ValueError, match="truncation must be one of head, head_tail"):
        zoo.get("transformer_imdb", compile=False, truncation="tail")
    lstm = zoo.get("lstm_imdb", compile=False, truncation="head_tail", sequence_length=64, embedding_dim=8,
                   lstm_units=4)
    assert isinstance(lstm.preprocessor.tokenizer, HeadTailWordPieceTokenizer)
    with pytest.raises(ValueError, match="truncation must be one of head, head_tail"):
        zoo.get("lstm_imdb", compile=False, truncation="tail")
    with pytest.raises(ValueError, match="bigram_buckets must be at least 0"):
        zoo.get("lstm_imdb", compile=False, bigram_buckets=-1)


@pytest.mark.slow
def test_saved_model_takes_strings_and_agrees_in_a_fresh_process(classifier, tmp_path):
    path = zoo.export(classifier, tmp_path / "served")
    expected = classifier.predict(tf.constant(TEXTS), verbose=0)
    script = textwrap.dedent(f"""
        import json, tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer's ops, as TF Serving's text build has them)
        serve = tf.saved_model.load({str(path)!r}).signatures["serving_default"]
        out = serve(text=tf.constant({TEXTS!r}))
        print(json.dumps({{"p": out["probabilities"].numpy().tolist(),
                          "names": [s.decode() for s in out["class_name"].numpy()]}}))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    got = json.loads(run.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(got["p"], expected, rtol=1e-5, atol=1e-6)
    assert got["names"] == [("negative", "positive")[i] for i in expected.argmax(axis=1)]
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert serve(text=tf.constant([], tf.string))["probabilities"].shape == (0, 2)
    refused = r"text.* must have shape \(batch,\); got a tensor of shape\] \[1 2\]"
    with pytest.raises(tf.errors.InvalidArgumentError, match=refused):
        serve(text=tf.constant([TEXTS[:2]]))


@pytest.mark.slow
def test_predict_on_raw_text(classifier):
    results = zoo.predict(classifier, ["what a wonderful film", "terrible"], top_k=1)
    assert [r["input"] for r in results] == ["what a wonderful film", "terrible"]
    assert all(r["top_k"][0]["class_name"] in ("negative", "positive") for r in results)
    with pytest.raises(zoo.ZooError, match="no inputs given"):
        zoo.predict(classifier, [])
    with pytest.raises(zoo.ZooError, match="every input must be a string, got a int"):
        zoo.predict(classifier, ["fine", 3])


@pytest.fixture(scope="module")
def language_model():
    keras.utils.set_random_seed(5)
    return zoo.get("gpt_shakespeare", compile=False, sequence_length=16, embedding_dim=16, num_layers=1,
                   intermediate_dim=32)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["top_k", "top_p"])
def test_generation_is_deterministic_under_a_seed(language_model, sampler):
    a = zoo.generate(language_model, "ROMEO:", max_length=30, sampler=sampler, seed=11)
    b = zoo.generate(language_model, "ROMEO:", max_length=30, sampler=sampler, seed=11)
    assert a == b and a.startswith("ROMEO:") and len(a) == 30


@pytest.mark.slow
def test_generation_respects_max_length_past_the_window(language_model):
    text = zoo.generate(language_model, "KING:", max_length=40)  # the window is 16: it slides
    assert len(text) == 40 and text.startswith("KING:")
    assert zoo.generate(language_model, "KING:", max_length=40) == text  # greedy: deterministic
    assert language_model.generate("KING:", max_length=40) == text  # the CausalLM's own generate: zoo's loop
    assert language_model.generate(["KING:", "KING:"], max_length=40) == [text, text]


@pytest.mark.slow
@pytest.mark.parametrize("name, hparams", [
    ("gpt_shakespeare", {"embedding_dim": 16, "num_layers": 2, "intermediate_dim": 32}),
    ("char_lstm_shakespeare", {"embedding_dim": 8, "lstm_units": 16, "num_layers": 2}),
])
def test_cached_decoding_gives_the_text_of_the_full_window_computation(name, hparams):
    """Greedy decoding over the cache (the LSTM's state, the GPT's keys and values) equals recomputing the whole
    window for every character while the text fits the window; past it, the cache is refilled and the text goes
    on to max_length."""
    from zoo import generation

    keras.utils.set_random_seed(3)
    model = zoo.get(name, compile=False, sequence_length=24, **hparams)
    for prompt in ("ROMEO:", "A prompt of 20 chars"):
        full = generation.generate(model, prompt, max_length=24, cached=False)
        assert generation.generate(model, prompt, max_length=24) == full
        assert generation.generate(model, prompt, max_length=24, compiled=False) == full
    longer = generation.generate(model, "ROMEO:", max_length=90)
    assert len(longer) == 90 and longer.startswith(generation.generate(model, "ROMEO:", max_length=24))


@pytest.mark.parametrize("normalize_first", [False, True])
def test_the_decoding_block_is_keras_hubs_decoder_with_its_cache(normalize_first):
    """zoo's decoder block over a cache (plain matmuls, for XLA on CPU) computes what keras-hub's
    TransformerDecoder computes with its own cache: a prefill of several tokens, then one token at every
    position left, with either place of the layer norms."""
    from zoo import generation

    keras.utils.set_random_seed(5)
    batch, window, dim, heads, prefill = 2, 8, 16, 4, 3
    size = dim // heads
    decoder = keras_hub.layers.TransformerDecoder(24, heads, normalize_first=normalize_first)
    inputs = tf.random.normal([batch, window, dim])
    decoder(inputs)  # builds it
    for dense in (decoder._self_attention_layer._query_dense, decoder._self_attention_layer._output_dense):
        dense.bias.assign(tf.random.normal(dense.bias.shape))  # biases start at 0: make them count
    stepper = generation._DecoderStepper.__new__(generation._DecoderStepper)
    stepper.decoders = [decoder]
    (projections,) = stepper.weights()
    cache = tf.zeros([batch, 2, window, heads, size])
    keys = values = tf.zeros([batch, heads, window, size])
    for start, end in [(0, prefill)] + [(p, p + 1) for p in range(prefill, window)]:
        expected, cache = decoder(inputs[:, start:end], self_attention_cache=cache,
                                  self_attention_cache_update_index=start)
        got, keys, values = generation._decoder_block(decoder, projections, inputs[:, start:end], keys, values,
                                                      tf.constant(start))
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keys.numpy(), tf.transpose(cache[:, 0], [0, 2, 1, 3]).numpy(), atol=1e-6)
    np.testing.assert_allclose(values.numpy(), tf.transpose(cache[:, 1], [0, 2, 1, 3]).numpy(), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name, hparams", [
    ("gpt_shakespeare", {"embedding_dim": 16, "num_layers": 2, "intermediate_dim": 32}),
    ("char_lstm_shakespeare", {"embedding_dim": 8, "lstm_units": 16, "num_layers": 2}),
])
def test_past_the_window_cached_decoding_is_the_model_on_the_refilled_window(name, hparams):
    """Past the window the cache is refilled from the last half window: each character is then what the whole
    model computes on the text from the last refill point (greedy), checked one character at a time against
    plain calls of the model."""
    keras.utils.set_random_seed(4)
    window, half = 24, 12
    model = zoo.get(name, compile=False, sequence_length=window, **hparams)
    prompt, max_length = "A prompt of thirty characters!", 80  # longer than the window, too
    tokenizer = model.preprocessor.tokenizer
    pieces = [prompt[i : i + window] for i in range(0, len(prompt), window)]  # the tokenizer keeps a window
    tokens = [int(t) for piece in pieces for t in np.asarray(tokenizer(piece)) if t != 0]
    assert len(tokens) == len(prompt)
    start = max(len(tokens) - window, 0)
    while len(tokens) < max_length:
        index = len(tokens)
        if index - 1 - start >= window:
            start = index - 1 - half
        context = tokens[start:index] + [0] * (window - (index - start))
        logits = np.asarray(model(np.array([context], "int32"), training=False))
        tokens.append(int(np.argmax(logits[0, index - 1 - start])))
    expected = tokenizer.detokenize(np.array(tokens, "int32"))
    expected = expected.numpy().decode("utf-8") if hasattr(expected, "numpy") else str(expected)
    assert zoo.generate(model, prompt, max_length=max_length) == expected


@pytest.mark.slow
def test_a_prompt_longer_than_the_window_is_continued(language_model):
    prompt = "ROMEO: a prompt longer than the sixteen-character window, and then some"
    text = zoo.generate(language_model, prompt, max_length=len(prompt) + 20)
    assert text.startswith(prompt) and len(text) == len(prompt) + 20
    with pytest.raises(ValueError, match=f"above the prompt's {len(prompt)} characters"):
        zoo.generate(language_model, prompt, max_length=len(prompt))


@pytest.mark.parametrize(
    "prompt, kwargs, error, message",
    [
        ("", {}, ValueError, "prompt must not be empty"),
        (42, {}, TypeError, "prompt must be a string"),
        ("ROMEO:", {"max_length": 6}, ValueError, "above the prompt's 6 characters"),
        ("ROMEO:", {"sampler": "beam"}, ValueError, "sampler must be one of greedy, top_k, top_p"),
        ("ROMEO:", {"temperature": 0}, ValueError, "temperature must be a positive, finite number"),
        ("ROMEO:", {"temperature": -1.0}, ValueError, "temperature must be a positive, finite number"),
        ("ROMEO:", {"temperature": float("nan")}, ValueError, "temperature must be a positive, finite number"),
        ("ROMEO:", {"temperature": float("inf")}, ValueError, "temperature must be a positive, finite number"),
        ("ROMEO:", {"sampler": "top_p", "top_p": 1.5}, ValueError, r"top_p must be in \(0, 1\]"),
        ("ROMEO:", {"sampler": "top_p", "top_p": float("nan")}, ValueError, r"top_p must be in \(0, 1\]"),
        ("ROMEO:", {"sampler": "top_p", "top_p": 0.0}, ValueError, r"top_p must be in \(0, 1\]"),
        ("ROMEO:", {"sampler": "top_k", "top_k": 0}, ValueError, "top_k must be a positive integer"),
        ("ROMEO:", {"sampler": "top_k", "top_k": -3}, ValueError, "top_k must be a positive integer"),
        ("ROMEO:", {"max_length": 10**9}, ValueError, "max_length must be at most 20,000"),
        ("ROMEO:", {"seed": 1.5}, ValueError, "seed must be an integer"),
    ],
)
def test_generation_bad_input(language_model, prompt, kwargs, error, message):
    with pytest.raises(error, match=message):
        zoo.generate(language_model, prompt, **kwargs)


@pytest.mark.slow
def test_generate_needs_a_language_model(classifier):
    with pytest.raises(ValueError, match="generate needs a language model"):
        zoo.generate(classifier, "hello")
    out = run_cli("generate", "transformer_imdb", "hello")
    assert out.returncode == 2 and "generate needs a language model" in out.stderr


def test_corpus_examples_are_shifted_by_one_character(tmp_path):
    root = write_tiny_shakespeare(tmp_path, n_chars=5000)
    split = zdata.load("tiny_shakespeare", "validation", data_dir=root)
    inputs, targets = zdata.corpus_examples(split, 16, training=False)
    assert inputs.shape[0] == targets.shape[0] == (len(split.text) - 16 + 15) // 16
    for text, target, start in zip(inputs[:3], targets[:3], range(0, 48, 16)):
        assert text == split.text[start : start + 16]
        assert "".join(map(chr, target)) == split.text[start + 1 : start + 17]
    train_inputs, _ = zdata.corpus_examples(split, 16, training=True)
    assert train_inputs[1] == split.text[8:24]  # training windows overlap by half
    with pytest.raises(ValueError, match="give sequence_length"):
        zdata.pipeline(split, batch_size=4)


def test_a_language_model_makes_its_own_targets_from_the_same_windows(tmp_path):
    """zoo.train gives a language model text alone, each window with the character after it, and its
    preprocessor shifts: the very (ids, next ids) pairs of the older (window, next code points) form, so the
    shipped weights' figures are unchanged; that form still works, with a DeprecationWarning."""
    root = write_tiny_shakespeare(tmp_path, n_chars=5000)
    split = zdata.load("tiny_shakespeare", "validation", data_dir=root)
    model = zoo.get("char_lstm_shakespeare", pretrained=False, compile=False, sequence_length=16, lstm_units=8)
    preprocessor = model.preprocessor
    for training in (False, True):
        old_x, old_y = zdata.corpus_examples(split, 16, training=training)
        texts, same_y = zdata.corpus_examples(split, 16, training=training, in_window=True)
        assert all(len(t) == 17 and t[:16] == w for t, w in zip(texts, old_x))
        x, y, weights = preprocessor(tf.constant(texts.tolist()))
        np.testing.assert_array_equal(y, old_y)
        np.testing.assert_array_equal(y, same_y)
        np.testing.assert_array_equal(x, preprocessor.tokenizer(tf.constant(old_x.tolist())))
        np.testing.assert_array_equal(weights, 1.0)
    (stream, _), = [zdata.epoch_stream(split, batch_size=4, epochs=1, sequence_length=16, targets="in_window")]
    assert next(iter(stream)).shape == (4,)  # text alone
    with pytest.raises(ValueError, match="targets must be True, False or 'in_window'"):
        zdata.pipeline(split, batch_size=4, sequence_length=16, targets="shifted")
    # a short text: padding, which the sample weights leave out
    x, y, weights = preprocessor(tf.constant(["To be"]))
    assert x.shape == y.shape == weights.shape == (1, 16)
    np.testing.assert_array_equal(weights[0], [1.0] * 4 + [0.0] * 12)
    assert "".join(map(chr, y[0][:4])) == "o be"
    with pytest.warns(DeprecationWarning, match="give the text alone"):
        old = preprocessor(tf.constant(["To be"]), tf.constant([[1] * 16]))
    assert len(old) == 2


@pytest.mark.slow
def test_fit_on_raw_text_trains_the_next_token_objective():
    """model.fit(list of strings), as a keras-hub user writes it: the padding is masked out of the loss."""
    keras.utils.set_random_seed(0)
    model = zoo.get("gpt_shakespeare", pretrained=False, sequence_length=16, embedding_dim=16, num_layers=1,
                    num_heads=2, intermediate_dim=32)
    texts = ["To be, or not to be, that is the question:", "Whether 'tis nobler in the mind to suffer"] * 8
    first = model.evaluate(texts, verbose=0, return_dict=True)["loss"]
    model.fit(texts, epochs=3, batch_size=4, verbose=0)
    assert model.evaluate(texts, verbose=0, return_dict=True)["loss"] < first
    short = ["To be"]  # 4 real targets: the loss is theirs alone, whatever the padding's logits
    x, y, weights = model.preprocessor(tf.constant(short))
    logits = model(x, training=False)
    per_token = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    expected = float(np.sum(per_token * weights) / np.sum(weights))
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(x=x, y=y, y_pred=logits, sample_weight=weights)))
    assert loss * 16 / 4 == pytest.approx(expected, rel=1e-4)  # Keras' mean over the 16 positions, 12 of them 0


@pytest.mark.slow
def test_a_short_language_model_run_learns_and_reports_bits_per_character(tmp_path):
    root = write_tiny_shakespeare(tmp_path / "data", n_chars=20_000)
    result = zoo.train("char_lstm_shakespeare", epochs=2, batch_size=32, data_dir=root, model_dir=tmp_path / "run",
                       sequence_length=32, lstm_units=32, embedding_dim=16, verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.test_metrics["bits_per_character"] == pytest.approx(result.test_metrics["loss"] / np.log(2))
    assert result.test_metrics["bits_per_character"] < 7.0  # uniform over 128 code points is 7 bits


@pytest.mark.slow
@pytest.mark.parametrize("name", own_models(task="language-modeling", weights=True))
def test_the_sample_on_the_card_is_what_generate_gives(name):
    info = zoo.info(name).weights[0]
    assert info.sample.startswith("ROMEO:") and len(info.sample) == 240
    again = zoo.generate(name, "ROMEO:", max_length=240, sampler="top_k", top_k=5, seed=0)
    assert again == info.sample


@pytest.mark.slow
def test_tflite_of_the_transformer_takes_token_ids_and_agrees_with_keras_on_real_reviews(real_data_dir, tmp_path):
    """The TFLite file holds the network on token ids; the tokenizer's settings and vocabulary go beside it and
    zoo predict tokenises with them. benchmarks/tflite_text.py measures the same on 1,000 reviews."""
    reviews = zdata.load("imdb_reviews", "test", data_dir=real_data_dir)
    texts = [str(t) for t in reviews.features[::125][:200]]  # 200 reviews of both labels
    path = zoo.export("transformer_imdb", tmp_path / "t.tflite", format="tflite")
    about = json.loads((tmp_path / "t.zoo.json").read_text())
    assert about["preprocessing"]["input"] == {"name": "token_ids", "shape": [None, 512], "dtype": "int32"}
    assert (tmp_path / "t.vocab.txt").read_text().splitlines()[:2] == ["[PAD]", "[UNK]"]
    lite = zoo.predict(path, texts, top_k=2)
    keras_side = zoo.predict("transformer_imdb", texts, top_k=2)
    for a, b in zip(lite, keras_side):
        assert a["top_k"][0]["class_name"] == b["top_k"][0]["class_name"]
        assert a["top_k"][0]["probability"] == pytest.approx(b["top_k"][0]["probability"], abs=1e-4)
    (tmp_path / "t.vocab.txt").unlink()
    with pytest.raises(zoo.InputError, match="its vocabulary t.vocab.txt is missing beside it"):
        zoo.predict(path, texts[:1])


@pytest.mark.slow
def test_tflite_of_the_lstm_needs_the_flex_delegate_and_says_so(tmp_path):
    model = zoo.get("lstm_imdb", compile=False, sequence_length=16, embedding_dim=8, lstm_units=4)
    path = zoo.export(model, tmp_path / "l.tflite", format="tflite")
    assert "Flex delegate" in json.loads((tmp_path / "l.zoo.json").read_text())["requires"]
    with pytest.raises(zoo.InputError, match="uses TensorFlow ops through the Flex delegate"):
        zoo.predict(path, ["a fine film"])
    out = run_cli("predict", str(path), "a fine film")
    assert out.returncode != 0 and "Flex delegate" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", TEXT_MODELS)
def test_every_text_model_trains_under_xla(name):
    """The preprocessor runs in tf.data, so the compiled step sees token ids only: XLA (what a GPU's "auto" and
    a TPU compile) takes every text model. With strings inside the step, XLA would refuse the first batch."""
    from keras.src.trainers.trainer import model_supports_jit

    small = {"lstm_imdb": dict(embedding_dim=8, lstm_units=8),
             "transformer_imdb": dict(embedding_dim=16, intermediate_dim=32),
             "char_lstm_shakespeare": dict(embedding_dim=8, lstm_units=16),
             "gpt_shakespeare": dict(embedding_dim=16, intermediate_dim=32, num_layers=1),
             "nbsvm_imdb": dict(buckets=101)}[name]
    model = zoo.get(name, sequence_length=16, **small)
    assert model_supports_jit(model)
    card = zoo.info(name)
    texts = tf.constant(["a fine film with a sad end", "ROMEO: what light", "", "dull"] * 4)
    if card.task == "text-classification":
        labels = tf.constant([1, 0, 0, 0] * 4)
    else:
        labels = tf.random.uniform((16, 16), 0, card.output.num_classes, dtype=tf.int32, seed=1)
    model.compile(optimizer="adam", loss=model.loss, jit_compile=True)
    history = model.fit(tf.data.Dataset.from_tensor_slices((texts, labels)).batch(8), epochs=1, verbose=0)
    assert model.jit_compile is True and np.isfinite(history.history["loss"][-1])


@pytest.mark.slow
def test_tflite_of_a_language_model_gives_its_logits_on_token_ids(language_model, tmp_path):
    path = zoo.export(language_model, tmp_path / "g.tflite", format="tflite")
    about = json.loads((tmp_path / "g.zoo.json").read_text())
    assert about["preprocessing"]["input"] == {"name": "token_ids", "shape": [None, 16], "dtype": "int32"}
    assert "vocabulary_file" not in about["preprocessing"] and "requires" not in about  # code points; builtins
    ids = np.asarray(language_model.preprocessor.token_ids(tf.constant(["ROMEO: hark", "KING:"])))
    runner = zoo.exporting.tflite_interpreter(path).get_signature_runner("serving_default")
    np.testing.assert_allclose(runner(token_ids=ids)["logits"], language_model(ids, training=False), atol=1e-4)
    with pytest.raises(zoo.InputError, match="is a language model's"):
        zoo.predict(path, ["ROMEO:"])
    with pytest.raises(zoo.ExportError, match="int8 quantization of gpt_shakespeare is not offered"):
        zoo.export(language_model, tmp_path / "q.tflite", format="tflite", quantization="int8")


@pytest.mark.parametrize("buckets", [16381, 32749, 46340])
def test_the_bigram_hash_is_the_int64_formula_in_int32(buckets):
    """HashedBigramEmbedding's rows are (id * 1_000_003 + next * 7_919) mod buckets, the formula the shipped
    weights were trained with in int64, computed in int32 so that JAX (no int64 without x64) hashes alike."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 2**31 - 1, size=(4, 64)).astype("int32")
    ids[0, :5] = [0, 1, 16383, 2**31 - 1, 0]
    layer = zoo.models.text.HashedBigramEmbedding(buckets, 1, mask_zero=False)
    layer.build(ids.shape)
    layer.embeddings.assign(np.arange(buckets, dtype="float32")[:, None])
    following = np.concatenate([ids[:, 1:], np.zeros_like(ids[:, :1])], axis=1).astype(np.int64)
    want = (ids.astype(np.int64) * 1_000_003 + following * 7_919) % buckets
    want = np.where((ids > 0) & (following > 0), want, 0)
    got = keras.ops.convert_to_numpy(layer(ids))[..., 0]
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="buckets must be at least 1 and at most 46340"):
        zoo.models.text.HashedBigramEmbedding(46341, 1)


_SMALL = {"lstm_imdb": dict(embedding_dim=8, lstm_units=8, dropout=0.0),
          "gpt_shakespeare": dict(embedding_dim=16, intermediate_dim=32, num_layers=1, dropout=0.0)}


def _text_batches(card):
    texts = tf.constant(["a fine film with a sad end", "ROMEO: what light", "", "dull"] * 4)
    if card.task == "text-classification":
        labels = tf.constant([1, 0, 0, 0] * 4)
    else:
        labels = tf.random.uniform((16, 16), 0, card.output.num_classes, dtype=tf.int32, seed=1)
    return tf.data.Dataset.from_tensor_slices((texts, labels)).batch(8)


@pytest.mark.any_backend
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_SMALL))
def test_a_keras_archive_of_a_text_model_reloads_compiled_and_trains_on(name, tmp_path):
    """The task's compile() is keras-hub's own, which Keras does not call on load: zoo's tasks compile the saved
    config again, so the optimizer and its state come back and training goes on as it would have."""
    card = zoo.info(name)
    model = zoo.get(name, sequence_length=16, **_SMALL[name])
    batches = _text_batches(card)
    model.fit(batches, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.compiled and type(loaded.optimizer) is type(model.optimizer)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    went_on = model.fit(batches, epochs=1, verbose=0).history["loss"]
    assert loaded.fit(batches, epochs=1, verbose=0).history["loss"] == pytest.approx(went_on, rel=1e-5)


def test_zoos_tasks_compile_themselves_as_keras_hubs_do_unless_told_not_to():
    from zoo.models import text

    backbone = text.BiLSTMBackbone(50, 16, 8, 4)
    task = text.BiLSTMTextClassifier(backbone, 2)
    assert task.compiled and not task.loss.get_config()["from_logits"]  # a softmax head: probabilities
    assert not text.BiLSTMTextClassifier(backbone, 2, compile=False).compiled
    lm = text.CharLSTMCausalLM(text.CharLSTMBackbone(128, 16, 8, 8), compile=False)
    assert not lm.compiled and text.CharLSTMCausalLM(lm.backbone).compiled
