"""ONNX export: checked with onnxruntime on real test data in a process that imports neither zoo nor Keras (all
of MNIST's test images; 1,000 IMDB test reviews, token ids in, tokenised with the settings written beside the
file), `zoo predict m.onnx`, the refusals (airbench's erfc, a missing converter) and the parts' sha256."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zoo
from zoo import data as zdata

# Run with onnxruntime and NumPy alone: the file must stand without zoo, Keras or TensorFlow.
RUNTIME = textwrap.dedent("""
    import sys
    import numpy as np
    import onnxruntime
    model, inputs, out = sys.argv[1:]
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    (spec,) = session.get_inputs()
    x = np.load(inputs)
    probabilities = np.concatenate([session.run(["probabilities"], {spec.name: x[i:i + 500]})[0]
                                    for i in range(0, len(x), 500)])
    np.save(out, probabilities)
    assert not {"zoo", "keras", "tensorflow"} & set(sys.modules), sorted(sys.modules)
    print(spec.name, spec.type)
""")


def _run_alone(tmp_path, model_path, inputs: np.ndarray) -> tuple[np.ndarray, str]:
    np.save(tmp_path / "inputs.npy", inputs)
    script = tmp_path / "runtime.py"
    script.write_text(RUNTIME)
    done = subprocess.run([sys.executable, str(script), str(model_path), str(tmp_path / "inputs.npy"),
                           str(tmp_path / "out.npy")], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return np.load(tmp_path / "out.npy"), done.stdout.strip()


@pytest.mark.slow
def test_cnn_mnist_in_onnxruntime_alone_scores_what_keras_does_on_every_test_image(tmp_path, real_data_dir):
    path = zoo.export("cnn_mnist", tmp_path / "cnn_mnist.onnx", format="onnx")
    about = json.loads((tmp_path / "cnn_mnist.zoo.json").read_text())
    assert about["format"] == "onnx" and about["class_names"] == list(zoo.info("cnn_mnist").output.class_names)
    test = zdata.load("mnist", "test", data_dir=real_data_dir)
    probabilities, signature = _run_alone(tmp_path, path, test.features)
    assert signature == "image tensor(uint8)"
    keras_probabilities = zoo.get("cnn_mnist", pretrained=True, compile=False).predict(test.features, verbose=0)
    assert len(probabilities) == 10_000
    np.testing.assert_allclose(probabilities, keras_probabilities, atol=1e-4)
    accuracy = (probabilities.argmax(1) == test.labels).mean()
    assert accuracy == (keras_probabilities.argmax(1) == test.labels).mean() and accuracy > 0.99


@pytest.mark.slow
def test_lstm_imdb_in_onnxruntime_alone_scores_what_keras_does_on_1000_reviews(tmp_path, real_data_dir):
    path = zoo.export("lstm_imdb", tmp_path / "lstm_imdb.onnx", format="onnx")
    assert (tmp_path / "lstm_imdb.vocab.txt").is_file()
    from zoo.exporting import load_onnx

    export = load_onnx(path)  # its tokenizer, from the settings and vocabulary beside the file
    test = zdata.load("imdb_reviews", "test", data_dir=real_data_dir)
    pick = np.random.default_rng(0).choice(len(test), 1000, replace=False)
    texts, labels = list(test.features[pick]), test.labels[pick]
    ids = np.asarray(export.preprocessor(texts), np.int32)
    assert ids.shape == (1000, 512)
    probabilities, signature = _run_alone(tmp_path, path, ids)
    assert signature == "token_ids tensor(int32)"
    keras_probabilities = zoo.get("lstm_imdb", pretrained=True, compile=False).predict(texts, verbose=0)
    np.testing.assert_allclose(probabilities, keras_probabilities, atol=1e-4)
    assert (probabilities.argmax(1) == labels).mean() == (keras_probabilities.argmax(1) == labels).mean()


@pytest.mark.slow
def test_zoo_predict_runs_an_onnx_text_model_and_checks_its_parts(tmp_path, cli):
    path = zoo.export("transformer_imdb", tmp_path / "t.onnx", format="onnx")
    texts = ["a wonderful, moving film", "dull, predictable and far too long"]
    from_file = zoo.predict(str(path), texts, top_k=2)
    from_model = zoo.predict("transformer_imdb", texts, top_k=2)
    for a, b in zip(from_file, from_model):
        assert a["top_k"][0]["class_name"] == b["top_k"][0]["class_name"]
        assert abs(a["top_k"][0]["probability"] - b["top_k"][0]["probability"]) < 1e-4
    result = cli("predict", str(path), texts[0])
    assert result.returncode == 0 and result.stdout.startswith(texts[0] + ": positive"), result.stderr
    vocabulary = tmp_path / "t.vocab.txt"
    vocabulary.write_text(vocabulary.read_text().replace("film", "movie", 1))
    result = cli("predict", str(path), texts[0])
    assert result.returncode != 0 and "sha256 mismatch" in result.stderr and result.stderr.count("\n") == 1


def test_what_onnx_cannot_run_is_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(zoo.ExportError, match=r"cannot export airbench_cifar10 to ONNX: .*Erfc"):
        zoo.export("airbench_cifar10", tmp_path / "a.onnx", format="onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_converter_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(zoo.ExportError, match=r"needs tf2onnx: pip install 'zoo\[onnx\]'"):
        zoo.export("mlp_mnist", tmp_path / "m.onnx", format="onnx")
    assert list(tmp_path.iterdir()) == []
