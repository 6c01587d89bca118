"""Export for serving: a SavedModel for TF Serving, a ``.keras`` archive, and TFLite (float32, float16, int8).

The SavedModel's ``serving_default`` signature takes the raw input a user has (uint8 pixels; text strings once
the text models land), named as on the model card with the batch dimension open, and answers with a dict of
named outputs: for a classifier ``probabilities``, ``class_id`` and ``class_name``. It is written through
``keras.export.ExportArchive`` without ``track()``, so each variable is stored once (KNOWN_ISSUES item 8), into
a numbered version folder (``path/1``) as TF Serving expects, built in a temporary folder and renamed into place.
The model card travels with it in ``assets.extra/zoo_card.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from zoo._io import atomic_dir, atomic_path, atomic_write_files, disk_full_as_error, exclusive, remove_leftovers, \
    sha256_file
from zoo._compat import renamed
from zoo.errors import ExportError, InputError
from zoo.registry import ModelCard

FORMATS = ("saved_model", "keras", "tflite", "onnx", "preset")
QUANTIZATIONS = (None, "float16", "int8")
KERAS_QUANTIZATIONS = (None, "int8")  # a SavedModel's or .keras archive's, by Keras' Model.quantize
SUFFIX = {"keras": ".keras", "tflite": ".tflite", "onnx": ".onnx"}
CARD_FILE = "zoo_card.json"


def _undistributed(model: Any) -> Any:
    """A model built under a tf.distribute strategy holds mirrored variables; export a plain copy, rebuilt
    outside the strategy with the same weights, so the SavedModel holds one ordinary variable each."""
    import tensorflow as tf

    from zoo import api

    if not any(isinstance(getattr(w, "value", None), tf.distribute.DistributedValues) for w in model.weights):
        return model
    if tf.distribute.has_strategy():
        raise ExportError("call zoo.export outside `strategy.scope()`: the exported copy must be built without it")
    return api.copy_model(model)


def _quantized(model: Any, card: ModelCard | None, name_or_model: Any, mode: str) -> Any:
    """``model`` quantized by Keras (:mod:`zoo.quantizing`): in place when export built it from a name, else a
    copy, so the caller's model stays as it was."""
    from zoo import api, quantizing

    if getattr(model, "zoo_quantization", None):
        raise ExportError(f"{model.name} is quantized already ({model.zoo_quantization['mode']}); export it "
                          f"without quantization=")
    if model is name_or_model:
        model = api.copy_model(model)
    try:
        quantizing.quantize(model, mode, name=card.name if card else None, head=card.output.name if card else None)
    except quantizing.QuantizationError as e:
        raise ExportError(str(e)) from e
    return model


def input_spec(model: Any, card: ModelCard | None) -> tuple[str, tuple[int | None, ...], str]:
    """(name, shape with the batch dimension, dtype) of the single input the export takes."""
    if card is not None:
        return card.input.name, (None, *card.input.shape), card.input.dtype
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1 or inputs[0].shape is None:
        raise ExportError(
            f"cannot export {getattr(model, 'name', model)!r}: it has no input spec (a functional model with one "
            f"keras.Input, or a zoo model); build it with keras.Input(shape=..., dtype=..., name=...)"
        )
    tensor = inputs[0]
    return tensor.name, tuple(tensor.shape), str(tensor.dtype)


def serving_function(model: Any, card: ModelCard | None, empty_batches: bool = True) -> Any:
    """A ``tf.function`` from the raw named input to a dict of named outputs. ``empty_batches``: answer a batch
    of 0 with empty outputs whatever the kernels do with it (not for TFLite, whose converter aborts on that part
    of the graph, and whose interpreter is given a fixed batch)."""
    import tensorflow as tf

    name, shape, dtype = input_spec(model, card)
    from zoo import api

    names = api.class_names(card, model)  # a folder-trained model answers with its folder's class names
    class_names = tf.constant(list(names)) if names else None
    classifier = card is None or card.task.endswith("classification")

    from zoo.models import hub

    task = hub.is_task(model)  # a keras-hub task: its preprocessor first, then its network

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.as_dtype(dtype), name=name)])
    def serve(inputs):
        inputs = _checked(inputs, name, shape)
        # An empty batch runs as one blank example, none of whose answer is kept: with oneDNN (TensorFlow's
        # default on x86) a Conv2D given a batch of 0 returns its input unchanged on some CPUs, and the next layer
        # fails on the shape (docs/KNOWN_ISSUES.md).
        # A concatenation, not tf.cond: no control flow in the graph, and the static shape kept.
        size = tf.shape(inputs)[0]
        if empty_batches:
            blank = tf.zeros(tf.concat([[tf.maximum(1 - size, 0)], tf.shape(inputs)[1:]], 0), inputs.dtype)
            inputs = tf.concat([inputs, blank], 0)
        outputs = model(hub.preprocess(model, inputs) if task else inputs, training=False)
        if empty_batches:
            outputs = tf.nest.map_structure(lambda t: t[:size], outputs)
        if not classifier:
            return {card.output.name if card is not None else "outputs": outputs}
        result = {"probabilities": outputs, "class_id": tf.argmax(outputs, axis=-1, output_type=tf.int32)}
        if class_names is not None:
            result["class_name"] = tf.gather(class_names, result["class_id"])
        return result

    return serve


def _checked(inputs: Any, name: str, shape: tuple[int | None, ...]) -> Any:
    """The serving input, once its rank and fixed dimensions are checked: a SavedModel signature does not check
    them itself, and a tensor of the wrong rank would reach ops that fail deep in the graph (or, in some
    kernels, abort the serving process). A clear InvalidArgumentError instead, before any op of the model."""
    import tensorflow as tf

    want = "(batch, " + ", ".join(str(d) for d in shape[1:]) + ")" if len(shape) > 1 else "(batch,)"
    message = f"input {name!r} must have shape {want}"
    # Not tf.debugging.assert_rank nor tf.rank: the signature's static rank makes them constants that
    # TensorFlow folds away. The shape given, read at run time and padded with -1 past its rank, is compared
    # with the expected one, position by position, plus one (-1 there: the rank is not larger).
    n = len(shape)
    got = tf.concat([tf.shape(inputs, out_type=tf.int64), tf.fill([n + 1], tf.constant(-1, tf.int64))], 0)[: n + 1]
    want = tf.constant([-2 if d is None else d for d in shape] + [-1], tf.int64)  # -2: any size >= 0
    ok = tf.reduce_all(tf.where(want == -2, got >= 0, tf.equal(got, want)))
    checks = [tf.debugging.Assert(ok, [message + "; got a tensor of shape", tf.shape(inputs)], summarize=n + 2)]
    with tf.control_dependencies(checks):
        return tf.identity(inputs)


def _card_json(model: Any, card: ModelCard | None) -> str:
    from zoo.training import versions

    data = card.to_dict() if card is not None else {"name": model.name}
    if getattr(model, "zoo_class_names", None):  # trained on a folder of the user's: its classes, not the card's
        data["output"] = {**data.get("output", {}), "class_names": list(model.zoo_class_names),
                          "num_classes": len(model.zoo_class_names)}
    data["exported_with"] = versions()
    if card is not None and card.input.kind == "text":
        data["serving_requires"] = ("the TensorFlow Text ops (import tensorflow_text before tf.saved_model.load; "
                                    "TF Serving builds that include them)")
    data["exported_parameters"] = int(model.count_params())
    if getattr(model, "zoo_quantization", None):  # what Keras' quantize changed
        q = model.zoo_quantization
        data["quantization"] = {"mode": q["mode"], "layers": q["quantized"], "share_of_weights": q["quantized_share"]}
    return json.dumps(data, indent=2)


def _check_target(path: Path, overwrite: bool) -> None:
    if not path.parent.is_dir():
        raise ExportError(f"{path}: the parent folder {path.parent} does not exist; create it first")
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists already; pass overwrite=True (zoo export --overwrite) to replace it")


def _write_saved_model(model: Any, card: ModelCard | None, target: Path, empty_batches: bool = True) -> None:
    import keras

    from zoo.models import hub

    archive = keras.export.ExportArchive()
    if hub.is_task(model):  # its tokenizer holds lookup tables: tracked, or the export fails (KNOWN_ISSUES 9)
        if not model.preprocessor.built:  # a preprocessor not yet called; track() takes built layers only
            model.preprocessor.build(None)
        archive.track(model.preprocessor)
    archive.add_endpoint("serving_default", serving_function(model, card, empty_batches))
    archive.write_out(str(target), verbose=False)
    extra = target / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / CARD_FILE).write_text(_card_json(model, card))


@renamed(model_or_name="name_or_model")
def export(
    name_or_model: Any,
    path: str | os.PathLike[str],
    *,
    format: str = "saved_model",
    pretrained: bool | str = True,
    overwrite: bool = False,
    version: int = 1,
    quantization: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    preset: str | None = None,
) -> Path:
    """Export a model for serving; returns the path written.

    Args:
        name_or_model: a registered name (built with its default weights, or ``pretrained``: a tag or a
            ``.weights.h5`` path; a model that has no weights as built), or a model from ``zoo.get`` /
            ``zoo.train``. ``model_or_name=`` is its old name.
        path: for ``"saved_model"`` a folder: the export goes to ``path/<version>/`` as TF Serving expects,
            with a ``serving_default`` signature taking the raw input (named as on the card, batch dimension
            open) and answering ``probabilities``, ``class_id`` and ``class_name``, the card in
            ``assets.extra/zoo_card.json``. For ``"keras"`` a ``.keras`` file; for ``"tflite"`` a ``.tflite`` file;
            for ``"preset"`` a folder: a keras-hub preset with a README.md model card and ``zoo_preset.json``, the
            sha256 of every file, checked wherever it is loaded (:mod:`zoo.presets`).
        format: "saved_model", "keras", "tflite", "onnx" or "preset".
        overwrite: replace an existing export (otherwise an existing one is an error).
        quantization: None (float32) or "int8"; for TFLite also "float16". A SavedModel's or ``.keras``
            archive's int8 is Keras' own ``Model.quantize`` (its Dense, EinsumDense and Embedding layers; refused
            for a model whose body has none, :mod:`zoo.quantizing`), TFLite's is calibrated on the model's
            training data, read through ``data_dir`` / ``$ZOO_DATA_DIR``.

    Everything is written into a temporary place first and renamed: nothing half-written is ever left.

    Raises:
        ExportError: a missing parent folder, an existing export, an unknown format, a model without an input spec.
    """
    from zoo.models._common import check_bool

    check_bool("overwrite", overwrite)
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    _check_quantization(format, quantization)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ExportError(f"version must be a positive integer (TF Serving's numbered folder), got {version!r}")
    if not str(path).strip():
        raise ExportError("the export path is empty: give a folder (saved_model) or a file name")
    path = Path(path)
    if format in SUFFIX and path.suffix != SUFFIX[format]:
        raise ExportError(f"{path}: {'an' if format == 'onnx' else 'a'} {format} export is a file ending in "
                          f"{SUFFIX[format]}")
    if format == "saved_model":
        if path.exists() and not path.is_dir():
            raise ExportError(f"{path} is a file; a SavedModel export is a folder (it gets {path}/{version}/)")
        _check_target(path, overwrite=True)  # the parent must exist; the folder itself may
        target = path / str(version)
        if target.exists() and not overwrite:
            raise ExportError(f"{target} exists already; pass overwrite=True (zoo export --overwrite) to replace it")
    else:
        target = path
        _check_target(target, overwrite)

    from zoo import api

    card, model = api.resolve(name_or_model, pretrained=pretrained, preset=preset, untrained_ok=True)
    api.warn_if_untrained_head(model, "the export")
    model = _undistributed(model)
    input_spec(model, card)  # a model without an input spec fails here, before anything is written
    if quantization is not None and format != "tflite":
        model, quantization = _quantized(model, card, name_or_model, quantization), None

    made = format == "saved_model" and not path.exists()
    try:
        if made:
            with disk_full_as_error(path):
                path.mkdir()
        with exclusive(target.parent / f".{target.name}.lock", f"zoo export to {target}", remove=True):
            if target.exists() and not overwrite:  # written by another process since the check above
                raise ExportError(f"{target} exists already; pass overwrite=True (zoo export --overwrite) to "
                                  f"replace it")
            remove_leftovers(target.parent, target.name)  # of a killed export to the same target
            if format == "preset":
                _write_preset(model, card, target, name_or_model, pretrained)
            else:
                _write(model, card, format, target, version, quantization, data_dir)
    except BaseException:
        if made:  # the folder this export made, left empty by its failure
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    return target


def _write(model: Any, card: ModelCard | None, format: str, target: Path, version: int, quantization: str | None,
           data_dir: Any) -> None:
    """Write the export into a temporary place beside ``target`` and rename it into place; the device's free
    space is checked against the model's weights first. A SavedModel or TFLite file of a model on another
    backend than TensorFlow is written by TensorFlow, in a process of its own (:func:`_write_on_tensorflow`)."""
    from zoo import backends, quantizing

    if (format == "keras" or backends.current() != "tensorflow") and not quantizing.reloads_from_archive(model):
        raise ExportError(f"an int8 {model.name} cannot go through a .keras archive (Keras rebuilds the quantized "
                          f"layers inside its blocks in float32, and the archive fails to load): export its int8 "
                          f"SavedModel on TensorFlow, or int8 TFLite")
    if format != "keras" and backends.current() != "tensorflow":
        return _write_on_tensorflow(model, card, format, target, version, quantization, data_dir)
    needed = weights_bytes(model)
    if format == "saved_model":
        with atomic_dir(target, needed, replace=True) as tmp:
            _write_saved_model(model, card, tmp)
    elif format == "keras":
        with atomic_path(target, suffix=".keras", needed=needed) as tmp:
            model.save(str(tmp))
    elif format == "onnx":
        from zoo import _onnx

        network = _token_ids_spec(model) if _token_preprocessor(model, "ONNX") is not None else input_spec(model, card)
        data = _onnx.onnx_bytes(model, card, network)
        atomic_write_files({target: data, **_tflite_sidecars(model, card, target, data, False, format="onnx")})
    else:
        data, flex = _tflite_bytes(model, card, quantization, data_dir)
        atomic_write_files({target: data, **_tflite_sidecars(model, card, target, data, flex)})  # all or none


def _check_quantization(format: str, quantization: str | None) -> None:
    if quantization not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {quantization!r}; choose float16 or int8")
    if quantization is not None and format == "preset":
        raise ExportError("a preset holds the float32 weights: quantize where it is loaded, zoo.get(folder, "
                          "quantize='int8')")
    if quantization not in KERAS_QUANTIZATIONS and format != "tflite":
        raise ExportError(f"quantization={quantization!r} applies to format='tflite' only; a SavedModel or .keras "
                          f"export takes int8 (Keras' own quantize)")


def _write_preset(model: Any, card: ModelCard | None, target: Path, name_or_model: Any, pretrained: Any) -> None:
    """A keras-hub preset folder with zoo's model card and the sha256 of every file (:mod:`zoo.presets`); its
    card records the hyper-parameters the network was built with and the weight set it holds."""
    from zoo import api, presets

    info = _weights_of(card, name_or_model, pretrained)
    data = json.loads(_card_json(model, card))
    if card is not None:
        hp = api.resolve_hparams(card, {})
        if info is not None:
            hp = {k: v for k, v in {**hp, **api.trained_hparams(info)}.items() if k not in info.assets}
        data["built_hparams"] = {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()
                                 if isinstance(v, (bool, int, float, str, tuple, type(None)))}
    if info is not None:
        data["weights"] = info.full_name
    presets.write(model, card, json.dumps(data, indent=2), target, weights=info)


def _weights_of(card: ModelCard | None, name_or_model: Any, pretrained: Any) -> Any:
    """The manifest weight set an export of a registered name holds (None for a model object, fresh weights or
    a file of the user's)."""
    from zoo import presets, registry, weights

    if card is None or not card.weights or not isinstance(name_or_model, str) or presets.is_source(name_or_model):
        return None
    _, tag = registry.split_name(name_or_model)
    if pretrained is False or (tag is None and weights.is_path(pretrained)):
        return None
    return weights.find(card, tag or pretrained)


def weights_bytes(model: Any) -> int:
    """The bytes of a model's weights: what any file of it takes, at least."""
    import numpy as np

    return sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)


def tflite_sidecar(target: Path) -> Path:
    """The description written beside a ``.tflite`` or ``.onnx`` export (``m.tflite`` -> ``m.zoo.json``)."""
    return target.with_suffix(".zoo.json")


def _token_preprocessor(model: Any, format: str = "TFLite") -> Any:
    """A zoo text task's preprocessor (raw strings -> token ids), or None for other models; a keras-hub
    preset's text task cannot go to TFLite (or ONNX) and is refused."""
    from zoo.models import hub
    from zoo.models.text import TokenIdsPreprocessor

    if not hub.is_task(model) or getattr(model.preprocessor, "tokenizer", None) is None:
        return None
    if not isinstance(model.preprocessor, TokenIdsPreprocessor):
        raise ExportError(
            f"cannot export {model.name} to {format}: its keras-hub preprocessor ({type(model.preprocessor).__name__}) "
            f"packs several inputs with TensorFlow Text ops that {format} lacks; export a SavedModel instead"
        )
    return model.preprocessor


def _tflite_sidecars(model: Any, card: ModelCard | None, target: Path, data: bytes, flex: bool,
                     format: str = "tflite") -> dict[Path, bytes]:
    """The card, and for a text model the tokenizer's settings and vocabulary: a text model's TFLite file takes
    token ids, and ``zoo predict m.tflite TEXT`` (or any runtime) tokenises with these first. The description
    records the sha256 of the model file and of the vocabulary (``parts``), so that files that travel together
    vouch for each other. ``flex``: the file needs the Flex delegate."""
    import keras

    from zoo import api

    about: dict[str, Any] = {"model": card.name if card is not None else model.name, "format": format,
                             "card": json.loads(_card_json(model, card)),
                             "class_names": list(api.class_names(card, model) or ())}
    if flex:
        about["requires"] = ("the Flex delegate (TensorFlow's own kernels for ops TFLite lacks: this model's LSTM "
                             "loop); LiteRT with tensorflow-lite-select-tf-ops")
    files: dict[Path, bytes] = {}
    parts = {"model": _part(target, data)}
    preprocessor = _token_preprocessor(model, "ONNX" if format == "onnx" else "TFLite")
    if preprocessor is not None:
        tokenizer = keras.saving.serialize_keras_object(preprocessor.tokenizer)
        tokenizer["config"].pop("vocabulary", None)
        name, shape, dtype = _token_ids_spec(model)
        about["preprocessing"] = {"input": {"name": name, "shape": list(shape), "dtype": dtype},
                                  "tokenizer": tokenizer, "empty_token_id": preprocessor.empty_token_id}
        if isinstance(preprocessor.tokenizer, _tokenizer_classes()["keras_hub>WordPieceTokenizer"]):  # code points: none
            vocabulary = target.with_suffix(".vocab.txt")
            files[vocabulary] = ("\n".join(preprocessor.tokenizer.get_vocabulary()) + "\n").encode("utf-8")
            parts["vocabulary"] = _part(vocabulary, files[vocabulary])
    about["parts"] = parts
    files[tflite_sidecar(target)] = (json.dumps(about, indent=2) + "\n").encode("utf-8")
    return files


def _part(path: Path, data: bytes) -> dict[str, str]:
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest()}


def _tokenizer_classes() -> dict[str, type]:
    """The tokenizers zoo's text models use, by their registered names: the only ones a description may name."""
    import keras
    import keras_hub

    from zoo.models.text import CodepointTokenizer, HeadTailWordPieceTokenizer

    classes = (keras_hub.tokenizers.WordPieceTokenizer, keras_hub.tokenizers.UnicodeCodepointTokenizer,
               HeadTailWordPieceTokenizer, CodepointTokenizer)
    return {keras.saving.get_registered_name(c): c for c in classes}


@dataclasses.dataclass
class TFLiteExport:
    """A ``.tflite`` export of zoo read back with its description, every part checked: the card of its model,
    its class names, the preprocessor that turns texts into its token ids (None for an image model), and the
    interpreter's ``serving_default`` runner."""

    path: Path
    card: ModelCard
    class_names: tuple[str, ...]
    preprocessor: Any
    runner: Any


def load_tflite(path: str | os.PathLike[str]) -> TFLiteExport:
    """Read a ``.tflite`` export and its description (``m.zoo.json``): the sha256 of the model file and of the
    vocabulary as recorded, the vocabulary a file beside the model, the tokenizer one of zoo's own classes
    (checked before it is built), the class names as many as the outputs. Anything else is an InputError naming
    the file."""
    path, sidecar, about, card, preprocessor = _read_export(path, "TFLite", "the TFLite interpreter")
    runner = _tflite_runner(path)
    (size,) = runner.get_output_details()["probabilities"]["shape"][-1:]
    return TFLiteExport(path, card, _class_names(sidecar, about, size), preprocessor, runner)


def _read_export(path: Any, kind: str, runtime: str) -> tuple[Path, Path, dict[str, Any], ModelCard, Any]:
    """What a ``.tflite`` or ``.onnx`` export and its description give before its runtime loads it: the paths,
    the description, the card of its model and the preprocessor of a text model; every part checked."""
    from zoo import registry

    path = Path(path)
    sidecar = tflite_sidecar(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {kind} file")
    about = _read_description(path, sidecar)
    try:
        card = registry.get_card(about["model"])
    except (KeyError, TypeError) as e:
        raise InputError(f"{sidecar}: names no zoo model ({about.get('model')!r})") from e
    if card.task == "language-modeling":
        raise InputError(f"{path} is a language model's: run it with {runtime} on token ids")
    _checked_part(sidecar, about, "model", path)
    return path, sidecar, about, card, _tflite_preprocessor(sidecar, about)


def _read_description(path: Path, sidecar: Path) -> dict[str, Any]:
    if not sidecar.is_file():
        raise InputError(f"{path}: its description {sidecar.name} is missing beside it; export with zoo export "
                         f"--format tflite, which writes both")
    try:
        about = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{sidecar}: not a zoo TFLite description ({e})") from e
    if not isinstance(about, dict) or not isinstance(about.get("parts"), dict):
        raise InputError(f"{sidecar}: not a zoo TFLite description that records its parts' sha256 (written by an "
                         f"older zoo?); export the model again")
    return about


def _checked_part(sidecar: Path, about: dict[str, Any], role: str, path: Path | None = None) -> Path:
    """The file the description names for ``role`` (``path``, or a file beside it), its sha256 as recorded."""
    part = about["parts"].get(role)
    if not isinstance(part, dict) or not all(isinstance(part.get(k), str) for k in ("file", "sha256")):
        raise InputError(f"{sidecar}: records no file and sha256 for its {role}; export the model again")
    if path is None:
        name = part["file"]
        path = sidecar.parent / name
        if Path(name).name != name or name in ("", ".", "..") or path.resolve().parent != sidecar.parent.resolve():
            raise InputError(f"{sidecar}: names its {role} {name!r}, not a file beside it; an export's files "
                             f"stay together in one folder")
    if not path.is_file():
        raise InputError(f"{sidecar}: its {role} {path.name} is missing beside it")
    if sha256_file(path) != part["sha256"]:
        raise InputError(f"{path}: not the {role} file {sidecar.name} was written with (sha256 mismatch); the "
                         f"files of one export travel together: export the model again")
    return path


def _tflite_preprocessor(sidecar: Path, about: dict[str, Any]) -> Any:
    """The token-ids preprocessor a text model's description gives (None for an image model)."""
    tokenizing = about.get("preprocessing")
    if tokenizing is None:
        return None
    from zoo.models.text import TokenIdsPreprocessor, read_vocabulary

    spec = tokenizing.get("tokenizer") if isinstance(tokenizing, dict) else None
    classes = _tokenizer_classes()
    name = spec.get("registered_name") if isinstance(spec, dict) else None
    if name not in classes or not isinstance(spec.get("config"), dict):
        raise InputError(f"{sidecar}: its tokenizer {name!r} is not one of zoo's ({', '.join(classes)})")
    empty = tokenizing.get("empty_token_id")
    vocabulary = _checked_part(sidecar, about, "vocabulary") if "vocabulary" in about["parts"] else None
    try:
        tokenizer = classes[name].from_config(spec["config"])
        if vocabulary is not None:
            tokenizer.set_vocabulary(read_vocabulary(vocabulary))
        return TokenIdsPreprocessor(tokenizer, empty)
    except (TypeError, ValueError, KeyError) as e:
        raise InputError(f"{sidecar}: its tokenizer's settings do not make a {name} ({e})") from e


@dataclasses.dataclass
class ONNXExport:
    """An ``.onnx`` export of zoo read back with its description, every part checked (as a TFLite export)."""

    path: Path
    card: Any
    class_names: tuple[str, ...]
    preprocessor: Any
    session: Any

    def __call__(self, batch: Any) -> Any:
        import numpy as np

        (spec,) = self.session.get_inputs()
        return self.session.run(None, {spec.name: np.asarray(batch)})[0]


def load_onnx(path: Any) -> ONNXExport:
    """Read an ``.onnx`` export and its description (``m.zoo.json``): the file's and the vocabulary's sha256 as
    recorded, the tokenizer one of zoo's own; anything else is an InputError naming the file."""
    from zoo import _onnx

    path, sidecar, about, card, preprocessor = _read_export(path, "ONNX", "onnxruntime")
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except ImportError as e:
        raise InputError(f"reading {path} needs onnxruntime: {_onnx.INSTALL}") from e
    except Exception as e:  # onnxruntime's own exception types
        raise InputError(f"{path}: onnxruntime cannot load it ({_onnx._first_line(e)})") from e
    return ONNXExport(path, card, _class_names(sidecar, about, session.get_outputs()[0].shape[-1]), preprocessor,
                      session)


def tflite_interpreter(path: str | os.PathLike[str]) -> Any:
    """A TFLite interpreter of ``path``: LiteRT's (``ai_edge_litert``) where it is installed, else TensorFlow's
    ``tf.lite.Interpreter`` (deprecated in its favour; its deprecation warning is not shown)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def _tflite_runner(path: Path) -> Any:
    try:
        return tflite_interpreter(path).get_signature_runner("serving_default")
    except (ValueError, RuntimeError) as e:
        raise InputError(f"{path}: the TFLite interpreter cannot run it ({_first_error(e)})") from e


def _class_names(sidecar: Path, about: dict[str, Any], size: int) -> tuple[str, ...]:
    """The class names a description gives, as many as the model file's outputs."""
    from zoo._names import check_class_names

    names = about.get("class_names")
    if names == []:  # a model of the user's own, without a card: its class ids are its names
        return ()
    return check_class_names(names, count=int(size), where=str(sidecar), error=InputError)


def _token_ids_spec(model: Any) -> tuple[str, tuple[int | None, ...], str]:
    """(name, shape, dtype) of a text task's network input: its token ids, as many as its preprocessor pads to
    (the backbone takes any length; a TFLite file and its readers want the one the model was trained on)."""
    (tensor,) = model.inputs
    preprocessor = getattr(model, "preprocessor", None)
    length = getattr(preprocessor, "sequence_length", None) or tensor.shape[1]
    return tensor.name, (None, length), str(tensor.dtype)


def _write_token_ids_model(model: Any, card: ModelCard | None, target: Path) -> None:
    """A SavedModel of a text task's network alone: token ids in (int32, batch x sequence_length)."""
    import keras
    import tensorflow as tf

    name, shape, dtype = _token_ids_spec(model)
    classifier = card is None or card.task.endswith("classification")

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.as_dtype(dtype), name=name)])
    def serve(token_ids):
        outputs = model(token_ids, training=False)
        if not classifier:
            return {card.output.name: outputs}
        return {"probabilities": outputs, "class_id": tf.argmax(outputs, axis=-1, output_type=tf.int32)}

    archive = keras.export.ExportArchive()
    archive.add_endpoint("serving_default", serve)
    archive.write_out(str(target), verbose=False)


def _tflite_bytes(model: Any, card: ModelCard | None, quantization: str | None, data_dir: Any) -> tuple[bytes, bool]:
    """The TFLite file's bytes, and whether it needs the Flex delegate (TensorFlow's kernels for ops that
    TFLite's builtins lack)."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "saved_model"
        if _token_preprocessor(model) is not None:
            _write_token_ids_model(model, card, saved)
        else:
            _write_saved_model(model, card, saved, empty_batches=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serving_default"])
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantization == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _representative(model, card, data_dir)
        try:
            return converter.convert(), False
        except Exception as e:  # the converter's own errors are long and raw: name the model and the reason
            if "SELECT_TF_OPS" not in str(e):
                raise ExportError(f"TFLite cannot convert {model.name}: {_first_error(e)}; export a SavedModel "
                                  f"instead") from e
        # A masked LSTM's loop (tensor lists) has no TFLite builtin: TensorFlow's own kernels for those ops
        # (the Flex delegate, in the full TensorFlow pip package and in tflite-runtime builds that add it).
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        converter._experimental_lower_tensor_list_ops = False
        try:
            return converter.convert(), True
        except Exception as e:
            raise ExportError(f"TFLite cannot convert {model.name}: {_first_error(e)}; export a SavedModel "
                              f"instead") from e


def _first_error(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if "error:" in line] or str(e).strip().splitlines()
    return lines[0][:300]


def _representative(model: Any, card: ModelCard | None, data_dir: Any, count: int = 256) -> Any:
    """Calibration inputs for int8: the first examples of the model's training split (a text model's as
    token ids)."""
    if card is None:
        raise ExportError("int8 quantization needs calibration data: export a zoo model (its card names the dataset)")
    from zoo import data as zdata

    if card.task == "language-modeling":
        raise ExportError(f"int8 quantization of {card.name} is not offered: calibrate it on text windows yourself")
    train = zdata.load(card.dataset, "train", data_dir=data_dir)
    preprocessor = _token_preprocessor(model)

    def generate():
        for i in range(min(count, len(train))):
            if preprocessor is not None:
                yield {_token_ids_spec(model)[0]: preprocessor([str(t) for t in train.features[i : i + 1]])}
            else:
                yield {card.input.name: train.features[i : i + 1]}

    return generate


def load_card(saved_model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The model card that travels with a SavedModel export."""
    return json.loads((Path(saved_model_dir) / "assets.extra" / CARD_FILE).read_text())


__all__ = ["export", "FORMATS", "QUANTIZATIONS", "serving_function", "load_card", "load_tflite", "load_onnx"]


def _write_on_tensorflow(model: Any, card: ModelCard | None, format: str, target: Path, version: int,
                         quantization: str | None, data_dir: Any) -> None:
    """A SavedModel or TFLite export of a model on JAX: the model goes to a TensorFlow process as a ``.keras``
    archive, and that process writes the export with :func:`_write`, as an export made on TensorFlow is (the
    same serving signature and outputs; zoo._tensorflow_export). A SavedModel is a TensorFlow graph: writing it
    from JAX would mean jax2tf, which cannot take the tokenizers' lookup tables or the string ops around the
    network that the serving signature runs."""
    import subprocess
    import sys

    from zoo import api, backends, errors

    with tempfile.TemporaryDirectory(prefix="zoo-export-") as tmp:
        folder = Path(tmp)
        model.save(str(folder / "model.keras"))
        attributes = {a: getattr(model, a) for a in api.ZOO_ATTRIBUTES if getattr(model, a, None) is not None}
        job = {"card": card.name if card is not None else None, "attributes": attributes, "format": format,
               "target": str(target), "version": version, "quantization": quantization,
               "data_dir": None if data_dir is None else str(data_dir)}
        (folder / "job.json").write_text(json.dumps(job, default=list), encoding="utf-8")
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.pop("XLA_FLAGS", None)  # JAX's virtual devices are no business of TensorFlow's
        done = subprocess.run([sys.executable, "-m", "zoo._tensorflow_export", str(folder)], env=env,
                              capture_output=True, text=True)
    if done.returncode == 0:
        return
    lines = done.stderr.strip().splitlines()
    try:
        failure = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise ExportError(f"the TensorFlow process that writes the {format} export of a model on "
                          f"{backends.current()} failed (exit {done.returncode}): {' '.join(lines[-3:])[-400:]}") from None
    kind = getattr(errors, failure["type"], None)
    if isinstance(kind, type) and issubclass(kind, errors.ZooError):
        raise kind(failure["error"])
    raise ExportError(f"TensorFlow could not write the {format} export of this model (made on {backends.current()}): "
                      f"{failure['type']}: {failure['error']}")

