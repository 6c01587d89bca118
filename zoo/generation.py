"""Text generation for the language models, with keras-hub's samplers (greedy, top-k, top-p).

The language models take raw strings; their tokenizer layer is named ``tokenizer``. Generation runs the part
of the model after the tokenizer on token ids, over a window of the model's ``sequence_length`` that slides
along when the text grows longer than it.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

from zoo import registry

SAMPLERS = ("greedy", "top_k", "top_p")
# The longest text generate makes, the prompt included: memory grows with it (the ids, the sampler's state), and
# a typo of a few zeros should get an error, not a process that eats the machine.
MAX_LENGTH = 20_000


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _sampler(name: str, *, temperature: float, top_k: int, top_p: float, seed: int | None, vocabulary: int) -> Any:
    """Checks the sampler's settings and returns what makes it (made only where no compiled loop has one);
    ``vocabulary``: the model's number of tokens, the most ``top_k`` can be."""
    import keras_hub

    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
    if not _number(temperature) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive, finite number, got {temperature!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not -2**63 <= seed < 2**63):
        raise ValueError(f"seed must be an integer in [-2**63, 2**63) (a 64-bit seed) or None, got {seed!r}")
    if seed is not None and not 0 <= seed < 2**32 and _backend() == "jax":  # keras' seed state is uint32 there
        raise ValueError(f"seed must be in [0, 2**32) on the JAX backend (its random state is 32-bit), got {seed!r}")
    if name == "greedy":
        return lambda: keras_hub.samplers.GreedySampler(temperature=temperature)
    if name == "top_k":
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= vocabulary:
            raise ValueError(f"top_k must be a positive integer, at most the model's {vocabulary:,} tokens, got "
                             f"{top_k!r}")
        return lambda: keras_hub.samplers.TopKSampler(k=top_k, seed=seed, temperature=temperature)
    if not _number(top_p) or not 0 < top_p <= 1:  # NaN fails the comparison too
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    return lambda: keras_hub.samplers.TopPSampler(p=top_p, seed=seed, temperature=temperature)


def _check_max_length(max_length: Any, prompt_length: int) -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= prompt_length:
        raise ValueError(f"max_length counts the prompt too: it must be an integer above the prompt's "
                         f"{prompt_length} characters, got {max_length!r}")
    if max_length > MAX_LENGTH:
        raise ValueError(f"max_length must be at most {MAX_LENGTH:,} (characters, the prompt included), got "
                         f"{max_length:,}: generate longer texts a piece at a time, each continuing the last")


def _check_characters(tokenizer: Any, prompt: str, name: str) -> None:
    """A character model's prompt holds only characters of its vocabulary (code points 1 .. size - 1; 0 is the
    padding): the tokenizer would turn any other into its replacement character, and the padding id is
    dropped, silently."""
    import keras_hub

    from zoo.errors import InputError

    if not isinstance(tokenizer, keras_hub.tokenizers.UnicodeCodepointTokenizer):
        return
    size = int(tokenizer.vocabulary_size())
    outside = list(dict.fromkeys(ch for ch in prompt if not 0 < ord(ch) < size))
    if outside:
        listed = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in outside[:10])
        raise InputError(f"the prompt holds characters outside {name}'s vocabulary (code points U+0001 to "
                         f"U+{size - 1:04X}): {listed}; write them another way (e.g. 'e' for 'é', '-' for '—')")


def _prompt_ids(tokenizer: Any, prompt: str) -> Any:
    """The prompt's character ids, however long: the tokenizer pads or cuts to its window, so a longer prompt
    goes through it a window at a time (each character is one id)."""
    import numpy as np
    import tensorflow as tf

    window = int(tokenizer.sequence_length)
    pieces = [prompt[i : i + window] for i in range(0, len(prompt), window)]
    ids = np.asarray(tokenizer(tf.constant(pieces))).reshape(-1)
    return ids[ids != 0]


def generate(
    name_or_model: Any,
    prompt: str,
    *,
    max_length: int = 200,
    sampler: str = "greedy",
    temperature: float = 1.0,
    top_k: int = 10,
    top_p: float = 0.9,
    seed: int | None = None,
    pretrained: bool | str = True,
    preset: str | None = None,
    compiled: bool = True,
    cached: bool = True,
) -> str:
    """Continue ``prompt`` with a language model (``char_lstm_shakespeare``, ``gpt_shakespeare``).

    Args:
        max_length: characters of the result, the prompt included (more than the prompt's length), for every
            language model: zoo's count characters, and a keras-hub one (gpt2_lm) is asked for enough byte-pair
            tokens and its text cut there (shorter if it ends the text itself).
        sampler: "greedy", "top_k" (``top_k``) or "top_p" (``top_p``), keras-hub's samplers; ``temperature``
            divides the logits; ``seed`` makes sampling deterministic.

    Returns:
        The prompt and its continuation, ``max_length`` characters.

    zoo's models decode with a cache (``cached=True``): the character LSTM carries its state, the GPT its
    attention keys and values, so each new character costs one step, not a pass over the window. When the
    text outgrows the model's window (the length it was trained on), the cache is refilled from the last half
    window and decoding goes on from there. ``cached=False`` recomputes the whole window for every character
    (the same text while it fits the window; a sliding window after), and ``compiled=False`` runs the sampling
    loop eagerly: baselines for benchmarks/generation.py. The loop is ``keras.ops`` and keras-hub's samplers, so
    it runs on TensorFlow and JAX alike; only its compiler is the backend's (:func:`_compile`).
    """
    import numpy as np

    from zoo.models._common import check_bool

    check_bool("compiled", compiled)
    check_bool("cached", cached)
    model, name, vocabulary = _language_model(name_or_model, pretrained=pretrained, preset=preset)
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
    if not prompt:
        raise ValueError("prompt must not be empty: give the text to continue")
    from zoo.models import hub

    if hub.is_task(model) and not _is_zoo_lm(model):
        return _generate_with_task(model, prompt, max_length=max_length,
                                   sampler=_sampler(sampler, temperature=temperature, top_k=top_k, top_p=top_p,
                                                    seed=seed, vocabulary=vocabulary)())
    tokenizer = model.preprocessor.tokenizer
    _check_characters(tokenizer, prompt, name)
    window = int(tokenizer.sequence_length)
    prompt_ids = _prompt_ids(tokenizer, prompt)
    prompt_length = len(prompt_ids)
    _check_max_length(max_length, prompt_length)
    make_chooser = _sampler(sampler, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                            vocabulary=vocabulary)

    total = max(max_length, window)
    if cached and compiled:  # XLA compiles per length: lengths in powers of two, a few compilations in all
        total = 1 << (total - 1).bit_length()
    # the loop's inputs made in NumPy: a few eager TensorFlow ops cost as much as 50 steps of the compiled loop
    ids = np.zeros((1, total), prompt_ids.dtype)
    ids[0, :prompt_length] = prompt_ids
    inputs = (ids, np.arange(total)[None, :] < prompt_length, np.asarray(prompt_length, "int32"))
    if not compiled:
        import keras

        out = _loop(model, make_chooser(), window, cached)(*map(keras.ops.convert_to_tensor, inputs))
    else:
        # Compiled once per model, sampler settings and length bucket, and kept: later calls run the compiled
        # loop (with XLA when cached: 4-6x the plain graph here; each length bucket is one trace of the same
        # compiled function). The sampler's random state starts again from the seed at each call, so a seed
        # gives the same text every time.
        key = (sampler, float(temperature), top_k, top_p, cached)
        store = _COMPILED.setdefault(model, {})
        if key not in store:
            chooser = make_chooser()
            store[key] = (_compile(_loop(model, chooser, window, cached), model, chooser, jit=cached), chooser)
        function, chooser = store[key]
        _reseed(chooser, seed)
        out = function(*inputs)
    text = tokenizer.detokenize(np.asarray(out)[0, :max_length])
    return text.numpy().decode("utf-8") if hasattr(text, "numpy") else str(text)


def _language_model(name_or_model: Any, *, pretrained: bool | str, preset: str | None) -> tuple[Any, str, int]:
    """The model ``generate`` continues text with, its name and its vocabulary size."""
    from zoo import api
    from zoo.models.text import ZooCausalLM

    if isinstance(name_or_model, ZooCausalLM):  # however built or loaded: a zoo backbone knows its own decoding
        return name_or_model, name_or_model.name, int(name_or_model.backbone.vocabulary_size)
    card = api.card_of(name_or_model)
    if card.task != "language-modeling":
        raise ValueError(f"{card.name} is a {card.task} model; generate needs a language model "
                         f"({', '.join(registry.list_models(task='language-modeling'))})")
    _, model = api.resolve(name_or_model, pretrained=pretrained, preset=preset)
    return model, card.name, card.output.num_classes


# model -> {sampler settings: (compiled sampling loop, its sampler)}; forgotten with the model
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _reseed(chooser: Any, seed: int | None) -> None:
    """The sampler's random state back to its start for ``seed`` (a fresh random one for None)."""
    generator = getattr(chooser, "seed_generator", None)
    if generator is not None:
        import numpy as np

        start = seed if seed is not None else int(np.random.default_rng().integers(0, 2**31 - 1))
        generator.state.assign(np.array([start, 0], dtype=generator.state.dtype))


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _compile(loop: Any, model: Any, chooser: Any, *, jit: bool) -> Any:
    """The sampling loop compiled for the backend, (ids, mask, prompt_length) NumPy arrays -> ids: the one
    backend-specific piece of generation (the loop itself is ``keras.ops`` and keras-hub's samplers).

    TensorFlow: a ``tf.function`` (with XLA when ``jit``; it reads the model's variables at each call, and
    traces once per length bucket). JAX: ``jax.jit`` of the loop made stateless, as keras-hub's
    ``CausalLM.make_generate_function`` does: the model's and the sampler's variables go in as arguments, mapped
    onto the variables by a ``keras.StatelessScope``, so that the compiled loop reads the weights of the call,
    not copies taken when it was traced (JAX always compiles with XLA: ``jit`` is for TensorFlow's plain graph,
    the uncached baseline). The sampler's random state is set from the seed before each call
    (:func:`_reseed`), so its updated state is not handed back."""
    import keras

    from zoo import backends

    backend = backends.check_supported()
    if backend == "tensorflow":
        import tensorflow as tf

        # autograph off: the loop's control flow is the samplers' ops.while_loop and ops.cond, the same Python
        # that JAX traces (and autograph re-reads the source file when it traces: edited since the import, it
        # converts the wrong lines)
        function = tf.function(loop, jit_compile=jit, autograph=False)
        return lambda ids, mask, prompt_length: function(tf.constant(ids), tf.constant(mask),
                                                         tf.constant(prompt_length))
    import jax

    variables = [*model.trainable_variables, *model.non_trainable_variables, *chooser.variables]

    def stateless(values, ids, mask, prompt_length):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return loop(ids, mask, prompt_length)

    function = jax.jit(stateless)
    return lambda ids, mask, prompt_length: function([v.value for v in variables], ids, mask, prompt_length)


def _loop(model: Any, chooser: Any, window: int, cached: bool) -> Any:
    """The sampling loop, (ids, mask, prompt_length) -> ids: over a cache, or the whole window each step. The
    sampler is given the model: on JAX it carries the model's variables through its loop (keras-hub's
    ``Sampler.run_loop``), so that the steps read them from the loop's state."""
    from keras import ops

    if cached:
        stepper = _stepper(model)
        return lambda ids, mask, prompt_length: _cached_loop(stepper, chooser, ids, mask, prompt_length, window,
                                                             model)

    def next_logits(tokens, cache, index):  # the whole window again for every character (token ids -> logits)
        start = ops.clip(index - window, 0, ops.shape(tokens)[1] - window)
        logits = model(ops.slice(tokens, [0, start], [ops.shape(tokens)[0], window]), training=False)
        return ops.take(logits, index - 1 - start, axis=1), None, cache

    return lambda ids, mask, prompt_length: chooser(next_logits, ids, cache=(), index=prompt_length, mask=mask,
                                                    model=model)


def _cached_loop(stepper: Any, chooser: Any, ids: Any, mask: Any, prompt_length: Any, window: int,
                 model: Any) -> Any:
    """The sampler's loop over a cache: the state holds the tokens from ``start`` to ``index - 2``; each step
    takes token ``index - 1`` at position ``index - 1 - start`` of the window. A full window is refilled from
    its last half (those tokens again from an empty state, at positions 0 ..)."""
    from keras import ops

    half = window // 2
    batch = ops.shape(ids)[0]
    prompt_length = ops.cast(prompt_length, "int32")
    weights = stepper.weights()  # read once, before the loop (see _DecoderStepper.weights)
    first = ops.maximum(prompt_length - window, 0)  # the prompt's tail that fits the window, its last token to come
    state = stepper.prefill(ops.slice(ids, [0, first], [batch, window]), prompt_length - 1 - first, weights)

    def refill(tokens, index):  # only the half kept goes through the model (into a cache as long as the window)
        start = index - 1 - half
        return stepper.prefill(ops.slice(tokens, [0, start], [batch, half]), half, weights), start

    def next_logits(tokens, cache, index):
        state, start = cache
        state, start = ops.cond(index - 1 - start >= window, lambda: refill(tokens, index), lambda: (state, start))
        token = ops.slice(tokens, [0, index - 1], [batch, 1])[:, 0]
        logits, state = stepper.step(token, state, index - 1 - start, weights)
        return logits, None, (state, start)

    return chooser(next_logits, ids, cache=(state, first), index=prompt_length, mask=mask, model=model)


def _is_zoo_lm(model: Any) -> bool:
    """A language model whose backbone says what its decoding cache is (zoo's): generated by the loop here."""
    return getattr(getattr(model, "backbone", None), "decoding_cache", None) is not None


def _stepper(model: Any) -> Any:
    kind = getattr(model.backbone, "decoding_cache", None)  # zoo.models.text.ZooBackbone.decoding_cache
    steppers = {"lstm_state": _LSTMStepper, "attention": _DecoderStepper}
    if kind not in steppers:
        raise ValueError(f"{model.name}: no cached decoding for {type(model.backbone).__name__}; pass cached=False")
    return steppers[kind](model)


class _LSTMStepper:
    """char_lstm_shakespeare one character at a time: the LSTM cells' (h, c) are the cache."""

    def __init__(self, model: Any):
        import keras

        body = model.backbone
        self.embedding = body.get_layer("embedding")
        self.cells = [body.get_layer(f"lstm{i + 1}").cell for i in range(body.num_layers)]
        self.head = model.layers[-1]  # the logits
        # The same cells over a whole segment, for the prefill (masked steps keep the state)
        self.rnns = [keras.layers.RNN(cell, return_sequences=True, return_state=True) for cell in self.cells]

    def weights(self) -> None:  # the cells read their own
        return None

    def prefill(self, tokens: Any, length: Any, weights: None) -> Any:
        from keras import ops

        x = self.embedding(tokens)
        mask = ops.broadcast_to(ops.arange(tokens.shape[1])[None, :] < length, ops.shape(tokens))
        state = []
        for rnn in self.rnns:
            x, h, c = rnn(x, mask=mask)
            state.append((h, c))
        return tuple(state)

    def step(self, token: Any, state: Any, position: Any, weights: None) -> tuple[Any, Any]:
        x = self.embedding(token)
        new = []
        for cell, (h, c) in zip(self.cells, state):
            x, (h, c) = cell(x, [h, c], training=False)
            new.append((h, c))
        return self.head(x), tuple(new)


class _DecoderStepper:
    """gpt_shakespeare over a cache: each TransformerDecoder's attention keys and values over the window, (batch,
    heads, window, size) each. The prefill and each step run the decoder layers on their new tokens only, with
    :func:`_decoder_block` (keras-hub's TransformerDecoder with its cache, computed with plain matmuls)."""

    def __init__(self, model: Any):
        body = model.backbone
        self.embedding = body.get_layer("embedding")
        self.decoders = [body.get_layer(f"decoder{i + 1}") for i in range(body.num_layers)]
        self.size = body.embedding_dim // body.num_heads  # each head's key and value width
        self.window = body.sequence_length
        self.norm = body.get_layer("final_norm")
        self.head = model.layers[-1]  # the logits

    def weights(self) -> tuple[dict[str, tuple[Any, Any]], ...]:
        """Each decoder's attention projections as matrices ((dim, heads * size); the output's (heads * size,
        dim)) and flat biases, made once per call, before the sampling loop: reshaped inside it, XLA on CPU
        compiles them into the same slow loop as the layer's einsum (docs/KNOWN_ISSUES.md)."""
        from keras import ops

        def matrix(dense, shape):
            bias = None if dense.bias is None else ops.reshape(dense.bias, [-1])
            return ops.reshape(dense.kernel, shape), bias

        out = []
        for decoder in self.decoders:
            attention = decoder._self_attention_layer
            inputs = [attention._query_dense.kernel.shape[0], -1]  # dim in, heads and size flattened out
            out.append({"query": matrix(attention._query_dense, inputs),
                        "key": matrix(attention._key_dense, inputs),
                        "value": matrix(attention._value_dense, inputs),
                        "output": matrix(attention._output_dense, [-1, attention._output_dense.kernel.shape[-1]])})
        return tuple(out)

    def _run(self, x: Any, state: Any, start: Any, weights: Any) -> tuple[Any, Any]:
        caches = []
        for decoder, (keys, values), projections in zip(self.decoders, state, weights):
            x, keys, values = _decoder_block(decoder, projections, x, keys, values, start)
            caches.append((keys, values))
        return x, tuple(caches)

    def prefill(self, tokens: Any, length: Any, weights: Any) -> Any:
        # the segment at once, into empty caches as long as the window: positions from `length` on hold padding
        # or nothing yet, overwritten before they are read
        from keras import ops

        empty = ops.zeros([ops.shape(tokens)[0], self.decoders[0].num_heads, self.window, self.size],
                          self.embedding.compute_dtype)
        return self._run(self.embedding(tokens), [(empty, empty)] * len(self.decoders), 0, weights)[1]

    def step(self, token: Any, state: Any, position: Any, weights: Any) -> tuple[Any, Any]:
        x, state = self._run(self.embedding(token[:, None], start_index=position), state, position, weights)
        return self.head(self.norm(x))[:, 0, :], state


def _project(x: Any, projection: tuple[Any, Any]) -> Any:
    from keras import ops

    kernel, bias = projection
    y = ops.matmul(x, kernel)
    return y if bias is None else y + bias


def _decoder_block(decoder: Any, projections: dict[str, tuple[Any, Any]], x: Any, keys: Any, values: Any,
                   start: Any) -> tuple[Any, Any, Any]:
    """keras-hub's ``TransformerDecoder`` (self-attention only, causal, inference) on the tokens at positions
    ``start`` .. ``start + T - 1``, over the cached keys and values of the positions before them: (batch, T, dim)
    -> (batch, T, dim), and the caches (batch, heads, window, size) with the new positions written. The same
    arithmetic and weights as the layer's call with ``self_attention_cache`` (checked in tests/test_text.py), but
    each projection is a plain matmul with the matrices of :meth:`_DecoderStepper.weights`: XLA on CPU compiles
    the layer's one-token EinsumDense contractions into a slow scalar loop (docs/KNOWN_ISSUES.md)."""
    from keras import ops

    batch, length = ops.shape(x)[0], ops.shape(x)[1]
    heads, window, size = int(keys.shape[1]), int(keys.shape[2]), int(keys.shape[3])

    def split(t):  # (batch, T, heads * size) -> (batch, heads, T, size)
        return ops.transpose(ops.reshape(t, [batch, length, heads, size]), [0, 2, 1, 3])

    def attend(x):
        q = split(_project(x, projections["query"])) * (1.0 / math.sqrt(size))
        k, v = split(_project(x, projections["key"])), split(_project(x, projections["value"]))
        at = [0, 0, start, 0]  # written in place, as keras-hub's cache update
        keys_out, values_out = ops.slice_update(keys, at, k), ops.slice_update(values, at, v)
        # (batch, heads, T, window): one dot over the cache as it lies. matmul(q, swapaxes(keys)), and Keras'
        # TensorFlow einsum of q first (it rewrites "bhtd,bhwd" as that), left XLA on CPU a copy of each layer's
        # transposed cache every step (4% of gpt_shakespeare's time); with the keys first, tf.einsum lowers it
        scores = ops.einsum("bhwd,bhtd->bhtw", keys_out, q)
        seen = ops.arange(window)[None, :] <= start + ops.arange(length)[:, None]  # causal: (T, window)
        scores = ops.where(seen, scores, ops.cast(-1e9, scores.dtype))
        out = ops.transpose(ops.matmul(ops.softmax(scores), values_out), [0, 2, 1, 3])  # (batch, T, heads, size)
        return _project(ops.reshape(out, [batch, length, heads * size]), projections["output"]), keys_out, values_out

    def feedforward(x):
        return decoder._feedforward_output_dense(decoder._feedforward_intermediate_dense(x))

    first = decoder.normalize_first
    h = decoder._self_attention_layer_norm(x) if first else x
    out, keys, values = attend(h)
    x = x + out
    if not first:
        x = decoder._self_attention_layer_norm(x)
    h = decoder._feedforward_layer_norm(x) if first else x
    x = x + feedforward(h)
    if not first:
        x = decoder._feedforward_layer_norm(x)
    return x, keys, values


def _generate_with_task(model: Any, prompt: str, *, max_length: int, sampler: Any) -> str:
    """A keras-hub causal LM (byte-pair tokens) generates with its own ``generate``, whose ``max_length`` counts
    tokens; zoo's counts characters for every language model. A token is at least one byte, so asking for as
    many new tokens as characters are still wanted is enough for text in ASCII (more than enough for English,
    about four characters a token); the result is cut at ``max_length`` characters. It can be shorter: the model
    ended the text (its end token), its window was full, or the text has characters of several bytes."""
    _check_max_length(max_length, len(prompt))
    window = getattr(model.backbone, "max_sequence_length", None) or MAX_LENGTH
    have = int(model.preprocessor.tokenizer(prompt).shape[0]) + 1  # the preprocessor adds a start token
    if have >= window:
        raise ValueError(f"the prompt is {have - 1} tokens long, which fills {model.name}'s window of {window} "
                         f"tokens: give a shorter prompt")
    model.sampler = sampler
    model.generate_function = None  # made again with this sampler
    text = model.generate(prompt, max_length=min(have + max_length - len(prompt), window))
    return (text if isinstance(text, str) else str(text))[:max_length]
