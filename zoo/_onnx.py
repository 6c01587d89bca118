"""ONNX export (``zoo export NAME m.onnx --format onnx``); ``zoo.exporting.load_onnx`` reads it back.

tf2onnx converts the model's TensorFlow graph: through Keras' own ``model.export(format="onnx")`` first, and
where that file does not run as the model does, once more on the graph with its variables and constants frozen
in (Keras' path hands tf2onnx the live function, whose captured constants, a ``Normalization`` layer's mean and
variance, become graph inputs a runtime asks to be fed; docs/KNOWN_ISSUES.md). The file takes what a TFLite
export takes: uint8 images named as on the card, or a text model's token ids (int32, batch x sequence_length),
its tokenizer's settings and vocabulary written beside it (``m.zoo.json``, ``m.vocab.txt``, their sha256
recorded), and answers ``probabilities``. Every export runs once in onnxruntime against the Keras model before
it is written: a file the runtime cannot load, or that answers otherwise, is an ExportError, never a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ExportError

OPSET = 17  # tf2onnx 1.17 writes up to opset 18; 17 is what onnxruntime and the other runtimes all read
INSTALL = "pip install 'zoo[onnx]' (tf2onnx, onnx and onnxruntime)"
AGREEMENT = 1e-4  # largest difference from the Keras model accepted on the export's check input


def _check_input(model: Any, shape: tuple[int | None, ...], dtype: str) -> np.ndarray:
    """Four examples of the network's input: random pixels, or token ids of the model's own vocabulary."""
    rng = np.random.default_rng(0)
    if dtype == "uint8":
        return rng.integers(0, 256, size=(4, *shape[1:]), dtype=np.uint8)
    vocabulary = int(getattr(getattr(model, "backbone", None), "vocabulary_size", 2))
    return rng.integers(1, vocabulary, size=(4, *shape[1:])).astype(dtype)


def onnx_bytes(model: Any, card: Any, network_input: tuple[str, tuple[int | None, ...], str]) -> bytes:
    """The ONNX file of ``model`` taking ``network_input`` (name, shape, dtype), from the first conversion whose
    file answers as the Keras model does in onnxruntime."""
    try:
        import onnx  # noqa: F401 - Keras' conversion reads its file with it
        import onnxruntime  # noqa: F401 - the check needs it
        import tf2onnx  # noqa: F401 - both conversions run it
    except ImportError as e:
        raise ExportError(f"the ONNX export needs {e.name}: {INSTALL}") from e
    name, shape, dtype = network_input
    label = card.name if card is not None else model.name
    failures = []
    for convert in (_keras_conversion, _frozen_conversion):
        try:
            proto = convert(model, name, shape, dtype)
            _rename(proto.graph, proto.graph.input[0].name, name)
            _rename(proto.graph, proto.graph.output[0].name, "probabilities" if _is_classifier(card) else "outputs")
            data = proto.SerializeToString()
            _check_against_keras(data, model, name, shape, dtype)
            return data
        except ExportError as e:
            failures.append(f"{convert.__doc__}: {e}")
        except Exception as e:  # tf2onnx raises bare ValueErrors and RuntimeErrors from deep in a conversion
            failures.append(f"{convert.__doc__}: tf2onnx failed ({_first_line(e)})")
    raise ExportError(f"cannot export {label} to ONNX: {'; '.join(failures)}. Export a SavedModel or TFLite "
                      f"instead")


def _keras_conversion(model: Any, name: str, shape: tuple, dtype: str) -> Any:
    """Keras' model.export(format="onnx")"""
    import tempfile

    import onnx
    import tensorflow as tf

    model(_check_input(model, shape, dtype))  # Keras exports a model that has been called
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        model.export(str(path), format="onnx", verbose=False, opset_version=OPSET,
                     input_signature=[tf.TensorSpec(shape, tf.as_dtype(dtype), name=name)])
        return onnx.load(str(path))


def _frozen_conversion(model: Any, name: str, shape: tuple, dtype: str) -> Any:
    """tf2onnx on the frozen graph"""
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec(shape, tf.as_dtype(dtype), name=name)
    function = tf.function(lambda x: model(x, training=False), input_signature=[spec]).get_concrete_function()
    frozen = convert_variables_to_constants_v2(function)
    patch_tf2onnx()  # Keras' own fix of tf2onnx for NumPy 2, as model.export(format="onnx") applies it
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(), input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs], opset=OPSET)
    return proto


def _is_classifier(card: Any) -> bool:
    return card is None or card.task.endswith("classification")


def _rename(graph: Any, old: str, new: str) -> None:
    """Rename a tensor of an ONNX graph everywhere it appears (tf2onnx keeps TensorFlow's ``image:0``)."""
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in (*graph.input, *graph.output):
        if value.name == old:
            value.name = new


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[-1][:300]


def _check_against_keras(data: bytes, model: Any, name: str, shape: tuple, dtype: str) -> None:
    import onnxruntime

    x = _check_input(model, shape, dtype)
    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        got = session.run(None, {name: x})[0]
    except Exception as e:  # onnxruntime's own exception types, one per failure
        raise ExportError(f"its file does not run in onnxruntime ({_first_line(e)})") from e
    want = np.asarray(model(x, training=False))
    error = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not error <= AGREEMENT:
        raise ExportError(f"its file answers otherwise than the Keras model (by up to {error:.3g} on the check "
                          f"input, more than {AGREEMENT:g})")
