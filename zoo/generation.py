"""Text generation for the language models, with keras-hub's samplers (greedy, top-k, top-p).

The language models take raw strings; their tokenizer layer is named ``tokenizer``. Generation runs the part
of the model after the tokenizer on token ids, over a window of the model's ``sequence_length`` that slides
along when the text grows longer than it.
"""

from __future__ import annotations

import math
from typing import Any

from zoo import registry

SAMPLERS = ("greedy", "top_k", "top_p")
# The longest text generate makes, the prompt included: memory grows with it (the ids, the sampler's state), and
# a typo of a few zeros should get an error, not a process that eats the machine.
MAX_LENGTH = 20_000


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _sampler(name: str, *, temperature: float, top_k: int, top_p: float, seed: int | None) -> Any:
    import keras_hub

    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
    if not _number(temperature) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive, finite number, got {temperature!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    if name == "greedy":
        return keras_hub.samplers.GreedySampler(temperature=temperature)
    if name == "top_k":
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        return keras_hub.samplers.TopKSampler(k=top_k, seed=seed, temperature=temperature)
    if not _number(top_p) or not 0 < top_p <= 1:  # NaN fails the comparison too
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    return keras_hub.samplers.TopPSampler(p=top_p, seed=seed, temperature=temperature)


def _check_max_length(max_length: Any, prompt_length: int, unit: str = "characters", whose: str = "") -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= prompt_length:
        raise ValueError(f"max_length counts the prompt too{whose}: it must be an integer above the prompt's "
                         f"{prompt_length} {unit}, got {max_length!r}")
    if max_length > MAX_LENGTH:
        raise ValueError(f"max_length must be at most {MAX_LENGTH:,} ({unit}, the prompt included), got "
                         f"{max_length:,}: generate longer texts a piece at a time, each continuing the last")


def _prompt_ids(tokenizer: Any, prompt: str) -> Any:
    """The prompt's character ids, however long: the tokenizer pads or cuts to its window, so a longer prompt
    goes through it a window at a time (each character is one id)."""
    import tensorflow as tf

    window = int(tokenizer.sequence_length)
    pieces = [prompt[i : i + window] for i in range(0, len(prompt), window)]
    ids = tokenizer(tf.constant(pieces))
    return tf.boolean_mask(ids, ids != 0)


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
) -> str:
    """Continue ``prompt`` with a language model (``char_lstm_shakespeare``, ``gpt_shakespeare``).

    Args:
        max_length: characters of the result, the prompt included (more than the prompt's length).
        sampler: "greedy", "top_k" (``top_k``) or "top_p" (``top_p``), keras-hub's samplers; ``temperature``
            divides the logits; ``seed`` makes sampling deterministic.

    Returns:
        The prompt and its continuation, ``max_length`` characters.

    ``compiled=False`` runs the sampling loop eagerly (a baseline for benchmarks/generation.py; the text is the
    same).
    """
    import keras
    import tensorflow as tf

    from zoo import api

    card = api.card_of(name_or_model)
    if card.task != "language-modeling":
        raise ValueError(f"{card.name} is a {card.task} model; generate needs a language model "
                         f"({', '.join(registry.list_models(task='language-modeling'))})")
    _, model = api.resolve(name_or_model, pretrained=pretrained, preset=preset)
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
    if not prompt:
        raise ValueError("prompt must not be empty: give the text to continue")
    from zoo.models import hub

    if hub.is_task(model):
        return _generate_with_task(model, prompt, max_length=max_length,
                                   sampler=_sampler(sampler, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed))
    tokenizer = model.get_layer("tokenizer")
    window = int(tokenizer.sequence_length)
    prompt_ids = _prompt_ids(tokenizer, prompt)
    prompt_length = int(prompt_ids.shape[0])
    _check_max_length(max_length, prompt_length)
    chooser = _sampler(sampler, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)

    core = keras.Model(tokenizer.output, model.output)  # token ids -> logits
    total = max(max_length, window)
    ids = tf.concat([prompt_ids[:prompt_length], tf.zeros([total - prompt_length], prompt_ids.dtype)], 0)[None, :]
    mask = tf.range(total)[None, :] < prompt_length

    def next_logits(tokens, cache, index):
        start = tf.clip_by_value(index - window, 0, total - window)
        logits = core(tf.slice(tokens, [0, start], [1, window]), training=False)
        return logits[:, index - 1 - start, :], None, cache

    # One graph for the whole sampling loop: run eagerly, every step calls the model op by op, many times slower
    # (benchmarks/generation.py). The sampler's seeded random ops give the same draws either way.
    def sample(ids, mask):
        return chooser(next_logits, ids, cache=(), index=prompt_length, mask=mask)

    if not compiled:
        out = sample(ids, mask)
    else:  # a fresh graph each call, by design (the sampler and its seed state are the call's own): no warning
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")
        try:
            out = tf.function(sample)(ids, mask)
        finally:
            logger.setLevel(level)
    text = tokenizer.detokenize(out[0, :max_length])
    return text.numpy().decode("utf-8") if hasattr(text, "numpy") else str(text)


def _generate_with_task(model: Any, prompt: str, *, max_length: int, sampler: Any) -> str:
    """A keras-hub causal LM generates with its own ``generate``; ``max_length`` counts its tokens, the prompt's
    included."""
    prompt_tokens = int(model.preprocessor.tokenizer(prompt).shape[0])
    _check_max_length(max_length, prompt_tokens, "tokens", f" and, for {model.name}, is in byte-pair tokens")
    model.sampler = sampler
    model.generate_function = None  # made again with this sampler
    text = model.generate(prompt, max_length=max_length)
    return text if isinstance(text, str) else str(text)
