"""Building models: ``get`` (name -> compiled, optionally pretrained ``keras.Model``) and ``verify``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from zoo import recipes, registry, weights
from zoo.errors import UnknownModelError, WeightsError
from zoo.manifest import WeightsInfo
from zoo.registry import ModelCard

log = logging.getLogger("zoo")
CLASS_NAMES = "class_names.json"  # beside a run's weights: the classes of the folder it was trained on


def resolve_hparams(card: ModelCard, overrides: dict[str, Any]) -> dict[str, Any]:
    """The card's hyper-parameters with ``overrides`` applied; an unknown name raises ValueError."""
    unknown = sorted(set(overrides) - set(card.hparams))
    if unknown:
        raise ValueError(
            f"{card.name} has no hyper-parameter {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(card.hparams)}"
        )
    return {**card.hparams, **overrides}


def build(card: ModelCard, hparams: dict[str, Any], *, preset_weights: bool = False) -> Any:
    """Call the card's builder; a builder's TypeError on a bad value becomes a ValueError naming the model.

    An entry backed by keras-hub presets builds from its preset's configuration, and loads the preset's own
    weights too when ``preset_weights``."""
    if card.presets:
        hparams = {**hparams, "load_weights": preset_weights}
    try:
        model = card.load_builder()(**hparams)
    except TypeError as e:
        raise ValueError(f"{card.name}: bad hyper-parameters {hparams}: {e}") from e
    model.zoo_name = card.name  # lets zoo.evaluate / zoo.export find the card of a model object
    return model


# What zoo hangs on a model object (a copy carries them): the card's name, a folder-trained model's class names,
# and why its classifier head is untrained, if it is.
ZOO_ATTRIBUTES = ("zoo_name", "zoo_class_names", "zoo_untrained_head", "zoo_quantization")


def warn_if_untrained_head(model: Any, doing: str) -> None:
    """An UntrainedHeadWarning when ``model``'s classifier head was never trained (``doing``: what is asked)."""
    import warnings

    from zoo.errors import UntrainedHeadWarning

    why = getattr(model, "zoo_untrained_head", None)
    if why:
        warnings.warn(f"{why}: {doing} gives chance-level answers until it is fine-tuned (zoo train) or given "
                      f"weights of your own (pretrained=PATH)", UntrainedHeadWarning, stacklevel=3)


def copy_model(model: Any) -> Any:
    """A copy of ``model`` with the same weights and zoo's attributes, built in the current scope (outside a
    strategy: plain variables), for measuring or exporting without touching the caller's model."""
    import keras

    from zoo.models import hub

    if hub.is_task(model):  # clone_model would give a plain Functional, without the preprocessor
        copy = type(model).from_config({**model.get_config(), "preprocessor": model.preprocessor})  # its vocabulary
    else:
        copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for attr in ZOO_ATTRIBUTES:
        if getattr(model, attr, None):
            setattr(copy, attr, getattr(model, attr))
    return copy


def _check_input_shape(card: ModelCard, info: WeightsInfo, hparams: dict[str, Any]) -> None:
    trained = _plain(info.hparams.get("input_shape", card.hparams.get("input_shape")))
    wanted = _plain(hparams.get("input_shape", trained))
    if trained is not None and wanted != trained:
        raise ValueError(
            f"{info.full_name} was trained on inputs of shape {tuple(trained)} and cannot take "
            f"input_shape={tuple(wanted)}; leave input_shape unset (or resize your inputs to {tuple(trained)})"
        )


def _plain(value: Any) -> Any:
    """JSON gives lists where the cards have tuples."""
    return tuple(_plain(v) for v in value) if isinstance(value, (list, tuple)) else value


def _transfer_body(source: Any, target: Any, head: str) -> None:
    """Copy every layer but the head, pairing the layers by position: both models come from the same builder,
    and layer names are not stable (a backbone's default name is its class's, made unique per process)."""
    if len(source.layers) != len(target.layers):
        raise ValueError(f"cannot move the body of {source.name} into {target.name}: "
                         f"{len(source.layers)} layers against {len(target.layers)}")
    for src, layer in zip(source.layers, target.layers):
        if layer.name != head and layer.weights:
            if type(src) is not type(layer):
                raise ValueError(f"cannot move the body of {source.name} into {target.name}: layer "
                                 f"{src.name} ({type(src).__name__}) against {layer.name} ({type(layer).__name__})")
            layer.set_weights(src.get_weights())


def get(
    name: str,
    *,
    pretrained: bool | str = False,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    compile: bool = True,
    weights_sha256: str | None = None,
    strategy: Any = None,
    include_top: bool = True,
    pooling: str | None = None,
    quantize: str | None = None,
    lora: Any = None,
    **hparams: Any,
) -> Any:
    """Build a registered model, compiled with its recipe, optionally with pretrained weights.

    Args:
        name: a registered name (``"cnn_mnist"``), or ``"name.tag"`` for a given weight set.
        pretrained: ``False`` for fresh weights; ``True`` for the default weights; a tag (``"mnist_v2"``) for
            a given set; or a path to a ``.weights.h5`` file of your own. The file's full sha256 is checked
            before anything is loaded.
        num_classes: the size of the classification head. With pretrained weights of another size, the body
            is loaded and a fresh head is built.
        input_shape: the input shape without the batch dimension.
        compile: compile with the card's optimizer (at a constant learning rate, the recipe's peak: a
            schedule needs the steps of your fit; ``zoo.train`` follows the recipe's schedule), loss and
            metrics, so that ``zoo.get(name).fit(x, y)`` works at once.
        weights_sha256: with ``pretrained=path``, the file's expected sha256.
        strategy: a ``tf.distribute.Strategy`` or a name for ``zoo.distribute.get_strategy`` ("mirrored",
            "tpu", ...): the model is built, its weights loaded and it is compiled inside the strategy's scope.
        include_top: False for the body without its classification head, as in keras.applications: an image
            model up to its last feature map (its shape is ``zoo.info(name).feature_shape``), a text classifier
            up to its pooled representation; not compiled (it has no loss). Its weights are the pretrained
            model's own.
        pooling: with ``include_top=False``, "avg" or "max" over the feature map's positions, or None (the map).
            For a model with a ``pooling`` hyper-parameter of its own (transformer_imdb), it is that.
        quantize: ``"int8"``: the model's Dense, EinsumDense and Embedding layers quantized by Keras' own
            ``Model.quantize`` once its weights are loaded (``model.zoo_quantization`` says which layers and what
            share of the weights); refused with :class:`zoo.QuantizationError` where only the head
            could be (the convolutional networks).
        lora: the folder of a ``zoo train --lora-rank`` run: its LoRA adapters and the other weights it trained
            (``lora.lora.h5``, ``lora_trained.npz``: the head, the adapted projections' biases) put onto the model
            as built, its pretrained body (:mod:`zoo.lora`).
        **hparams: any of the card's hyper-parameters (``zoo.info(name).hparams``).

    Raises:
        UnknownModelError: the name is not registered (the message suggests close matches).
        ValueError: an unknown hyper-parameter or a bad value (the message names what is allowed).
        WeightsError: no such weights, a hash mismatch, weights unavailable offline, or weights that do not fit.
    """
    from zoo.models._common import check_bool

    check_bool("include_top", include_top)
    check_bool("compile", compile)
    if _is_preset(name):
        return _get_preset(name, compile=compile, sha256=weights_sha256, strategy=strategy, quantize=quantize,
                           others={"num_classes": num_classes, "input_shape": input_shape, "lora": lora,
                                   "pooling": pooling, "include_top": None if include_top else False,
                                   "pretrained": pretrained if isinstance(pretrained, str) else None, **hparams})
    if strategy is not None:
        from zoo import distribute

        # model *and* optimizer record the strategy (KNOWN_ISSUES 5); a model-parallel layout is the model's own
        with distribute.resolve(strategy, model=name).scope():
            return get(name, pretrained=pretrained, num_classes=num_classes, input_shape=input_shape,
                       compile=compile, weights_sha256=weights_sha256, include_top=include_top, pooling=pooling,
                       quantize=quantize, lora=lora, **hparams)
    card = registry.get_card(name)
    if "preset" in hparams and not card.presets:  # a preset of a zoo entry: the weights it starts from
        if pretrained not in (False, True):
            raise ValueError(f"give preset= or pretrained=, not both (got pretrained={pretrained!r})")
        pretrained = hparams.pop("preset")
    if pooling is not None and "pooling" in card.hparams:  # the model's own hyper-parameter (transformer_imdb's)
        hparams["pooling"], pooling = pooling, None
    _, tag = registry.split_name(name)
    if tag is not None:
        if pretrained not in (False, True, tag):
            raise ValueError(f"{name!r} already names weights {tag!r}; do not also pass pretrained={pretrained!r}")
        pretrained = tag
    for key, value in (("num_classes", num_classes), ("input_shape", input_shape)):
        if value is not None:
            if key not in card.hparams:
                raise ValueError(f"{card.name} does not take {key}; allowed: {', '.join(card.hparams)}")
            hparams[key] = tuple(value) if key == "input_shape" else value
    model = _build_with_weights(card, resolve_hparams(card, hparams), pretrained, weights_sha256, given=set(hparams))
    if not include_top:
        return _body(card, model, pooling)
    if pooling is not None:
        raise ValueError("pooling= applies with include_top=False (the body without its head)")
    if lora is not None:
        from zoo import lora as zlora

        zlora.load(model, lora, card.name)
    return _finish(model, card, quantize=quantize, compile=compile)


def _finish(model: Any, card: ModelCard | None, *, quantize: str | None, compile: bool) -> Any:
    """What ``zoo.get`` does last, to an entry and to a preset alike: quantize if asked, then compile with the
    card's recipe (a constant rate at its peak: a schedule needs the steps of the user's own fit)."""
    if quantize is not None:
        from zoo import quantizing

        quantizing.quantize(model, quantize, name=card.name if card is not None else model.name,
                            head=card.output.name if card is not None else None)
    if compile and card is not None:  # a preset without a zoo card: a keras-hub task compiled itself
        recipes.compile_model(model, recipes.for_fit(card.recipe))
    return model


def _get_preset(source: str, *, compile: bool, sha256: str | None, strategy: Any, quantize: str | None,
                others: dict[str, Any]) -> Any:
    """``zoo.get`` of a preset (a local folder, ``hf://`` or ``kaggle://``): its model with its own weights,
    every file checked first (:mod:`zoo.presets`); compiled with its card's recipe where zoo wrote it."""
    from zoo import presets

    given = sorted(k for k, v in others.items() if v is not None)
    if given:
        raise ValueError(f"{source}: a preset is a whole model with its weights; {', '.join(given)} cannot be "
                         f"given with it (pass the preset as pretrained= of its entry to fine-tune it)")
    if strategy is not None:
        from zoo import distribute

        with distribute.resolve(strategy).scope():
            return _get_preset(source, compile=compile, sha256=sha256, strategy=None, quantize=quantize, others={})
    model, about = presets.read(source, sha256=sha256)
    card = _registered(about.get("name"))
    if card is not None:
        model.zoo_name = card.name
        names = tuple(about.get("output", {}).get("class_names") or ())
        if names and names != tuple(card.output.class_names):
            model.zoo_class_names = names
    return _finish(model, card, quantize=quantize, compile=compile)


def _is_preset(name: Any) -> bool:
    """A preset source, not a registered name: a registered name wins over a folder of the same name."""
    from zoo import presets

    return presets.is_source(name) and (presets.is_uri(name) or _registered(name) is None)


def _registered(name: Any) -> ModelCard | None:
    try:
        return registry.get_card(name) if isinstance(name, str) else None
    except UnknownModelError:
        return None


def _from_preset(card: ModelCard, hp: dict[str, Any], source: str, sha256: str | None) -> Any:
    """An entry's model starting from a preset of it (``pretrained="hf://..."``, ``zoo train --preset``): the
    preset's model itself, or with another ``num_classes`` its body under a fresh head."""
    from zoo import presets

    folder, about = presets.open_verified(source, sha256)
    if about.get("name") != card.name:
        raise WeightsError(f"{source} holds {about.get('name') or 'a model zoo did not write'}, not {card.name}: "
                           f"give a preset of {card.name} (zoo export {card.name} DIR --format preset)")
    wanted, trained = hp.get("num_classes"), about.get("output", {}).get("num_classes")
    if wanted is None or wanted == trained:
        model = presets.load(folder)
    elif (folder / "task.json").is_file():  # keras-hub's own way: the backbone's weights, a fresh head
        model = presets.load(folder, num_classes=wanted)
    else:
        model = build(card, {**about.get("built_hparams", {}), "num_classes": wanted})
        _transfer_body(presets.load(folder), model, card.output.name)
    model.zoo_name = card.name
    if wanted is not None and wanted != trained:
        model.zoo_untrained_head = f"{card.name}: the body of {source} under a new, untrained head of {wanted} classes"
    return model


def _body(card: ModelCard, model: Any, pooling: str | None) -> Any:
    from zoo.models.features import without_top

    if card.presets or card.task == "language-modeling":
        raise ValueError(f"include_top=False is for zoo's classifiers; {card.name} is "
                         + ("a keras-hub task: its body is model.backbone" if card.presets else "a language model"))
    body = without_top(model, pooling=pooling, head=card.output.name, spatial=card.input.kind == "image")
    body.zoo_name = card.name
    return body


def _build_with_weights(card: ModelCard, hp: dict[str, Any], pretrained: bool | str | None,
                        weights_sha256: str | None, given: set[str] = frozenset()) -> Any:
    """The model of ``hp`` with the weights ``pretrained`` names: none, a file of the user's, a keras-hub
    preset's, or a manifest weight set (its vocabulary, input shape and hyper-parameters checked; ``given``: the
    hyper-parameters the caller set, the others being the card's)."""
    if pretrained is False or pretrained is None:
        if weights_sha256 is not None:
            raise ValueError("weights_sha256 is only meaningful with pretrained='path/to/file.weights.h5'")
        return build(card, hp)
    from zoo import presets

    if presets.is_source(pretrained):
        return _from_preset(card, hp, pretrained, weights_sha256)
    if weights.is_path(pretrained):
        path = weights.local_file(pretrained, weights_sha256)
        names = run_class_names(card, path)
        if names is not None and "num_classes" in card.hparams:
            hp = {**hp, "num_classes": len(names)}
        model = build(card, hp)
        weights.load_into(model, path)
        if names is not None:
            model.zoo_class_names = names
        return model
    if card.presets and (pretrained is True and not card.weights):
        model = build(card, hp, preset_weights=True)  # the keras-hub preset's weights (hp["preset"])
        if card.pretrained_scope == "backbone only":
            model.zoo_untrained_head = (f"{card.name}: the preset {hp.get('preset')} holds a backbone only and its "
                                        f"classifier head is new, untrained")
        return model
    if pretrained is True or isinstance(pretrained, str):
        return _build_release(card, hp, weights.find(card, pretrained), given)
    raise TypeError(f"pretrained must be a bool, a weight tag or a path, got {type(pretrained).__name__}")


def run_class_names(card: ModelCard, weights_path: Any) -> tuple[str, ...] | None:
    """The class names of a run trained on a folder of the user's (``class_names.json`` beside its weights)."""
    import json
    from pathlib import Path

    from zoo._names import check_class_names

    sidecar = Path(weights_path).parent / CLASS_NAMES
    if not sidecar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        given = record["class_names"]
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{sidecar}: not a class-names record of a zoo run ({e})") from e
    # a head sized to the names where the model takes num_classes (the weights must then fit it), else the card's
    size = None if "num_classes" in card.hparams else card.output.num_classes
    names = check_class_names(given, count=size, where=str(sidecar), error=WeightsError)
    if record.get("model") != card.name:
        raise WeightsError(f"{weights_path} comes from a run of {record.get('model')!r}, not {card.name}")
    return names


def class_names(card: ModelCard | None, model: Any) -> tuple[str, ...]:
    """The names of a classifier's classes: a folder-trained model's own, else its card's."""
    own = getattr(model, "zoo_class_names", None)
    if own:  # set by zoo.train, or by hand: checked as the names that enter through files are
        from zoo._names import check_class_names

        outputs = getattr(model, "outputs", None) or []
        size = int(outputs[0].shape[-1]) if len(outputs) == 1 and len(outputs[0].shape) == 2 else None
        return check_class_names(own, count=size, where=f"{getattr(model, 'name', 'the model')}.zoo_class_names")
    return tuple(card.output.class_names) if card is not None else ()


# Hyper-parameters that hold no weights and change only what the model does at inference (the test-time views
# of zoo.models.tta): a caller may set them with any pretrained weights; left unset, the weight set's value holds.
SERVING_HPARAMS = frozenset({"tta_level"})


def trained_hparams(info: WeightsInfo) -> dict[str, Any]:
    """The hyper-parameters a weight set's network was built with, but its head's classes, its input shape (both
    checked apart) and the files it names (its vocabulary)."""
    return {k: _plain(v) for k, v in info.hparams.items() if k not in ("num_classes", "input_shape", *info.assets)}


def _build_release(card: ModelCard, hp: dict[str, Any], info: WeightsInfo, given: set[str] = frozenset()) -> Any:
    """A model with a manifest weight set; with another ``num_classes``, its body and a fresh head.

    The network is the one the weights were trained with: a hyper-parameter the caller left to the card takes
    the weight set's value (an older weight set of another configuration loads as it was trained); one the
    caller set to another value is an error."""
    hp.update(weights.asset_hparams(info))  # the vocabulary the weights were trained with, hash-checked
    _check_input_shape(card, info, hp)
    trained = {k: v for k, v in trained_hparams(info).items() if not (k in SERVING_HPARAMS and k in given)}
    changed = sorted(k for k in trained if (k in given or k not in card.hparams) and hp.get(k) != trained[k])
    if changed:
        raise ValueError(f"{info.full_name} was trained with {', '.join(f'{k}={trained[k]!r}' for k in changed)}; "
                         f"these cannot change with pretrained weights")
    hp.update(trained)
    path = weights.fetch(info)
    trained_classes = info.hparams.get("num_classes", card.hparams.get("num_classes"))
    if "num_classes" not in hp or hp["num_classes"] == trained_classes:
        model = build(card, hp)
        weights.load_into(model, path)
        return model
    source = build(card, {**hp, "num_classes": trained_classes})
    weights.load_into(source, path)
    model = build(card, hp)
    _transfer_body(source, model, card.output.name)
    model.zoo_untrained_head = (f"{card.name}: the body of {info.full_name} under a new, untrained head of "
                                f"{hp['num_classes']} classes")
    log.warning("zoo: %s: loaded the body of %s (%d classes); the head '%s' is new, with %d classes",
                card.name, info.full_name, trained_classes, card.output.name, hp["num_classes"])
    return model


def resolve(name_or_model: Any, *, pretrained: bool | str = True, preset: str | None = None,
            untrained_ok: bool = False) -> tuple[ModelCard | None, Any]:
    """What every command that takes "a model" does first: a registered name (or ``name.tag``) becomes its
    card and the model built with those weights (not compiled); a model object is returned as it is, with the
    card of the zoo model it is (None for a model of the user's own).

    ``pretrained`` is a tag, a ``.weights.h5`` path, True (the default weights) or False; with
    ``untrained_ok``, a model that has no weights is built without them instead of refused (an export of an
    architecture). ``preset`` picks a keras-hub preset for the entries backed by one.
    """
    if _is_preset(name_or_model):
        model = get(name_or_model, compile=False)
        return _registered(getattr(model, "zoo_name", None)), model
    if isinstance(name_or_model, str):
        card = registry.get_card(name_or_model)
        _, tag = registry.split_name(name_or_model)
        if untrained_ok and tag is None and pretrained is True and not card.weights and not card.presets:
            pretrained = False
        extra = {"preset": preset} if preset is not None else {}
        return card, get(name_or_model, pretrained=pretrained, compile=False, **extra)
    name = getattr(name_or_model, "zoo_name", None) or getattr(name_or_model, "name", None)
    try:
        return registry.get_card(name), name_or_model
    except (UnknownModelError, TypeError):
        return None, name_or_model


def card_of(name_or_model: Any) -> ModelCard:
    """The card of a registered name or of a zoo model; a model zoo did not build is refused plainly."""
    registered = isinstance(name_or_model, str) and not _is_preset(name_or_model)
    card, _ = (registry.get_card(name_or_model), None) if registered else resolve(name_or_model)
    if card is None:
        raise ValueError(f"{getattr(name_or_model, 'name', name_or_model)!r} is not a zoo model: give a registered "
                         f"name or a model from zoo.get / zoo.train")
    return card


CHECK_TEXTS = ("A fixed input to check the weights: the film was wonderful.", "Dull, slow and far too long.",
               "ROMEO: What light through yonder window breaks?", "zoo verify 0123456789 !?")


def check_input(spec: dict[str, Any]) -> Any:
    """The fixed input of ``zoo.verify`` (``{"seed", "batch", "shape", "dtype"}``): deterministic
    pseudo-random pixels over the input's range and shape, or fixed sentences for text models."""
    if spec["dtype"] == "string":
        import tensorflow as tf

        return tf.constant(list(CHECK_TEXTS[: spec["batch"]]))
    rng = np.random.default_rng(spec["seed"])
    shape = (spec["batch"], *spec["shape"])
    if spec["dtype"] == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    raise NotImplementedError(f"no fixed input for dtype {spec['dtype']}")


CHECK_KIND = "logits"  # what zoo.verify compares: values that move with every weight, unlike saturated softmaxes


def expected_outputs(model: Any, x: Any, kind: str = CHECK_KIND) -> np.ndarray:
    """The model's answer on the fixed input of ``zoo.verify``: with ``kind="logits"`` a classifier's logits
    (its softmax head's input times its kernel plus its bias: a softmax of a random input is often all 0s and
    1s, which hides a changed weight), a language model's per-position logits averaged over positions; with
    ``"outputs"`` (manifests written before), the model's outputs as they are."""
    import keras

    from zoo.models import hub

    if hub.is_task(model):  # raw strings: its preprocessor first, as the task's predict does
        x = hub.preprocess(model, x)
    head = model.layers[-1]
    if kind == "logits" and getattr(getattr(head, "activation", None), "__name__", "") == "softmax":
        features = np.asarray(keras.Model(model.inputs, head.input)(x, training=False), dtype=np.float64)
        kernel, bias = (np.asarray(w, dtype=np.float64) for w in head.get_weights())
        return features @ kernel + bias
    out = np.asarray(model(x, training=False), dtype=np.float64)
    return out.mean(axis=1) if out.ndim == 3 else out


def verify(name: str, *, tag: str | bool = True) -> dict[str, Any]:
    """Check a weight set end to end: its sha256, that it loads, and that a fixed input gives the outputs
    recorded in the manifest (catching dtype, layout or version drift). ``name`` may carry a tag
    (``"cnn_mnist.mnist_v2"``). Raises :class:`WeightsError` on any failure; returns what was checked."""
    card = registry.get_card(name)
    _, name_tag = registry.split_name(name)
    info = weights.find(card, name_tag or tag)
    path = weights.fetch(info)  # checks the sha256
    model = get(card.name, pretrained=info.tag, compile=False)
    if not info.check:
        raise WeightsError(f"{info.full_name} has no fixed-input check in the manifest")
    got = expected_outputs(model, check_input(info.check["input"]), kind=info.check.get("kind", "outputs"))
    want = np.asarray(info.check["outputs"], dtype=np.float64)
    atol = float(info.check.get("atol", 1e-4))
    if got.shape != want.shape or not np.allclose(got, want, atol=atol, rtol=float(info.check.get("rtol", 0))):
        err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
        raise WeightsError(
            f"{info.full_name}: the fixed input gave outputs that differ from the manifest by up to {err:.3g} "
            f"(tolerance {atol:g}): a dtype, layout or version drift (made with {info.versions})"
        )
    return {
        "weights": info.full_name, "file": str(path), "sha256": info.sha256, "sha256_ok": True,
        "outputs_ok": True, "max_abs_diff": float(np.max(np.abs(got - want))), "tolerance": atol,
    }
