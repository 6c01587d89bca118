"""Generation on JAX (issue 28, item 5), run under KERAS_BACKEND=jax (the `jax` marker's run of the suite): the
cached sampling loop compiles with jax.jit, greedy text of both shipped language models is the text TensorFlow
gives on the same weights (computed in a TensorFlow process inside the test), the cache gives the whole-window
computation's text, seeded sampling is reproducible, and the compiled loop reads the weights of each call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.jax,
    pytest.mark.skipif(keras.backend.backend() != "jax",
                       reason=f"runs under KERAS_BACKEND=jax (this process runs {keras.backend.backend()}): "
                              f"KERAS_BACKEND=jax python -m pytest -m jax"),
]

MODELS = ("char_lstm_shakespeare", "gpt_shakespeare")
LONG_PROMPT = ("ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and Juliet is the sun. "
               "Arise, fair sun, and kill the envious moon, who is already sick")  # longer than the 128 window
# (prompt, max_length): a few hundred characters, past the window (the cache is refilled), one length bucket
GREEDY = (("ROMEO:", 400), (LONG_PROMPT, len(LONG_PROMPT) + 150))

_ON_TENSORFLOW = textwrap.dedent("""
    import json, sys
    import keras, zoo
    assert keras.backend.backend() == "tensorflow", keras.backend.backend()
    cases = json.loads(sys.argv[1])
    out = {}
    for name in cases["models"]:
        model = zoo.get(name, pretrained=True, compile=False)
        out[name] = [zoo.generate(model, prompt, max_length=n) for prompt, n in cases["greedy"]]
    print(json.dumps(out))
""")


@pytest.fixture(scope="module", autouse=True)
def tensorflow_process():
    """TensorFlow generating the greedy texts of GREEDY for both shipped models in a process of its own, started
    before the module's first test so that it runs beside them (the comparison is the module's last test)."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    cases = json.dumps({"models": MODELS, "greedy": GREEDY})
    process = subprocess.Popen([sys.executable, "-c", _ON_TENSORFLOW, cases], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield process
    if process.poll() is None:
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def tensorflow_text(tensorflow_process):
    out, err = tensorflow_process.communicate(timeout=600)
    assert tensorflow_process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def shipped():
    return {name: zoo.get(name, pretrained=True, compile=False) for name in MODELS}


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_cached_decoding_on_jax_gives_the_text_of_the_whole_window_computation(shipped, name):
    """While the text fits the window, the cache (the LSTM's state, the GPT's keys and values) gives what the
    whole model on the window gives, greedy (the cached text's start, at GREEDY's length: one compiled loop)."""
    from zoo import generation

    model = shipped[name]
    window = zoo.info(name).hparams["sequence_length"]
    for prompt in ("ROMEO:", LONG_PROMPT[:100]):
        full = generation.generate(model, prompt, max_length=window, cached=False)
        assert len(full) == window and full.startswith(prompt)
        assert generation.generate(model, prompt, max_length=GREEDY[0][1])[:window] == full


@pytest.mark.slow
@pytest.mark.parametrize("name, sampler, settings", [("gpt_shakespeare", "top_k", {"top_k": 5}),
                                                     ("char_lstm_shakespeare", "top_p", {"top_p": 0.9})])
def test_seeded_sampling_on_jax_is_reproducible(shipped, name, sampler, settings):
    from zoo import generation

    model = shipped[name]

    def sample(seed):
        return zoo.generate(model, "ROMEO:", max_length=200, sampler=sampler, seed=seed, **settings)

    first = sample(0)
    assert len(first) == 200 and first.startswith("ROMEO:")
    compiled = dict(generation._COMPILED[model])
    assert sample(1) != first  # the seed matters
    assert sample(0) == first  # after another seed's run: the sampler's state starts again from the seed
    assert generation._COMPILED[model] == compiled  # a seed is no new compilation: the loop is kept


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_outside_jaxs_32_bit_random_state_is_refused(shipped, seed):
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*32\) on the JAX backend"):
        zoo.generate(shipped["char_lstm_shakespeare"], "ROMEO:", max_length=20, sampler="top_k", seed=seed)


@pytest.mark.slow
def test_the_compiled_loop_on_jax_reads_the_weights_of_each_call():
    """jax.jit would bake the weights it traced with into the loop as constants; zoo's passes them in, so new
    weights (a fine-tuned model, another weight set) change the text of a loop compiled before, to the text
    of the whole-window computation compiled after the change."""
    from zoo import generation

    keras.utils.set_random_seed(7)
    model = zoo.get("gpt_shakespeare", compile=False, sequence_length=16, embedding_dim=16, num_layers=1,
                    intermediate_dim=32)
    before = generation.generate(model, "KING:", max_length=16)  # the window: cached is uncached's text
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])
    after = generation.generate(model, "KING:", max_length=16)  # the loop compiled by the first call
    assert after != before
    assert after == generation.generate(model, "KING:", max_length=16, cached=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_greedy_text_on_jax_is_tensorflows_on_the_same_weights(shipped, tensorflow_text, name):
    for (prompt, max_length), expected in zip(GREEDY, tensorflow_text[name]):
        got = zoo.generate(shipped[name], prompt, max_length=max_length)
        assert len(got) == max_length and got.startswith(prompt)
        assert got == expected, f"{name} from {prompt[:20]!r}: JAX and TensorFlow part at character " \
                                f"{next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)}"
