"""Saved zoo models load after a plain ``import zoo`` (zoo._registration): ``.keras`` archives of a CNN and of
both text classifiers, and a keras-hub preset folder, each in a fresh process that imports nothing of zoo but
the package, with Keras' safe mode on."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo import _registration

TEXTS = ["a fine film, moving and well acted", "dull and far too long", ""]


def _fresh_process(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])


def test_the_deferred_list_is_what_the_text_module_registers():
    """HUB_CLASSES must name every class zoo.models.text registers, or a saved model using the missing one
    would not load after a plain import zoo."""
    source = Path(zoo.__file__).parent.joinpath("models", "text.py").read_text()
    registered = [node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef)
                  and any("register_keras_serializable" in ast.unparse(d) for d in node.decorator_list)]
    assert sorted(registered) == sorted(_registration.HUB_CLASSES)


@pytest.mark.slow
@pytest.mark.parametrize("name, sample", [
    ("resnet20_cifar10", "np.zeros((2, 32, 32, 3), 'uint8') + np.arange(2, dtype='uint8')[:, None, None, None]"),
    ("lstm_imdb", repr(TEXTS)),
    ("transformer_imdb", repr(TEXTS)),
])
def test_a_keras_archive_loads_after_a_plain_import_zoo(name, sample, tmp_path):
    small = {"lstm_imdb": {"sequence_length": 24, "embedding_dim": 8, "lstm_units": 8},
             "transformer_imdb": {"sequence_length": 24, "embedding_dim": 16, "intermediate_dim": 32}}
    keras.utils.set_random_seed(1)
    model = zoo.get(name, compile=False, **small.get(name, {}))
    path = zoo.export(model, tmp_path / f"{name}.keras", format="keras")
    x = eval(sample)  # noqa: S307 (a literal written above)
    expected = model.predict(x, verbose=0)
    script = (
        "import json, sys; import numpy as np; import zoo\n"
        "assert 'zoo.models' not in sys.modules and 'keras' not in sys.modules\n"
        "import keras\n"
        f"m = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        f"print(json.dumps(m.predict({sample}, verbose=0).tolist()))\n"
    )
    done = _fresh_process(script)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.array(json.loads(done.stdout.strip().splitlines()[-1])), expected,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_preset_folder_loads_after_a_plain_import_zoo(tmp_path):
    keras.utils.set_random_seed(2)
    model = zoo.get("transformer_imdb", compile=False, sequence_length=24, embedding_dim=16, intermediate_dim=32)
    model.save_to_preset(str(tmp_path / "preset"))
    expected = model.predict(TEXTS, verbose=0)
    script = (
        "import json; import zoo, keras_hub\n"
        f"m = keras_hub.models.TextClassifier.from_preset({str(tmp_path / 'preset')!r})\n"
        "assert type(m).__name__ == 'EncoderTextClassifier', type(m)\n"
        f"print(json.dumps(m.predict({TEXTS!r}, verbose=0).tolist()))\n"
    )
    done = _fresh_process(script)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.array(json.loads(done.stdout.strip().splitlines()[-1])), expected,
                               rtol=1e-5, atol=1e-6)


def test_without_the_registration_a_fresh_process_cannot_load_a_zoo_archive(tmp_path):
    """The check above can fail: Keras itself refuses a zoo class it was not told about (the ResNet's shortcut;
    cifar10_v2 has no test-time views, whose classes would be the first refused)."""
    model = zoo.get("resnet20_cifar10", pretrained="cifar10_v2", compile=False)
    path = zoo.export(model, tmp_path / "r.keras", format="keras")
    done = _fresh_process(f"import keras\nkeras.saving.load_model({str(path)!r}, safe_mode=True)\n")
    assert done.returncode != 0 and "ZeroPadShortcut" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["char_lstm_shakespeare", "gpt_shakespeare"])
def test_a_language_models_preset_folder_loads_through_keras_hubs_causal_lm(tmp_path, name):
    """Its tokenizer has no vocabulary file: zoo's CodepointTokenizer saves none (keras-hub's own could not save
    into a preset at all), and keras_hub.models.CausalLM.from_preset gives zoo's task back, weights and all."""
    model = zoo.get(name, pretrained=True, compile=False)
    model.save_to_preset(str(tmp_path / "preset"))
    ids = np.asarray(model.preprocessor.token_ids(["ROMEO: what light"]))
    expected = keras.ops.convert_to_numpy(model(ids, training=False))
    script = (
        "import json; import numpy as np; import zoo, keras, keras_hub\n"
        f"m = keras_hub.models.CausalLM.from_preset({str(tmp_path / 'preset')!r})\n"
        f"assert type(m).__name__ == {type(model).__name__!r}, type(m)\n"
        f"ids = np.asarray(m.preprocessor.token_ids(['ROMEO: what light']))\n"
        "print(json.dumps(keras.ops.convert_to_numpy(m(ids, training=False)).tolist()))\n"
    )
    done = _fresh_process(script)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.array(json.loads(done.stdout.strip().splitlines()[-1])), expected,
                               rtol=1e-5, atol=1e-5)
