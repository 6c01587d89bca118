"""keras-hub presets, verified: zoo's entries written as presets with a model card, and presets read from a local
folder, the Hugging Face Hub (``hf://org/name``) or Kaggle Models (``kaggle://owner/model/keras/variant[/version]``)
with every file checked against a recorded sha256 before anything of it is loaded.

A preset zoo writes (``zoo export NAME DIR --format preset``) is what keras-hub's ``save_to_preset`` writes
(``config.json``, ``model.weights.h5``, and for a keras-hub task ``task.json``, ``task.weights.h5``,
``preprocessor.json``, ``tokenizer.json`` and the tokenizer's ``assets/``), plus three files of zoo's:

- ``README.md``, the model card, with the metadata keras-hub's ``upload_preset`` writes (``library_name``,
  ``pipeline_tag``) and the card's licence, dataset, metrics and recipe (Hugging Face's ``model-index``);
- ``zoo_card.json``, the card as a SavedModel export carries it;
- ``zoo_preset.json``, the record: the sha256 of every other file. A preset whose files do not match it (a file
  changed, missing or added) is refused, naming the file.

A preset from a hub is checked twice: against its own record, where it has one, and against what this machine
recorded the first time it loaded it (``$ZOO_HOME/presets/``; keras-hub checks nothing), so a preset changed on
the hub after its first use is refused too, until the user deletes the record to accept the new files. A local
folder that zoo did not write (no record) is the user's own files and loads as keras-hub loads it.

The image models are plain Keras models, not keras-hub Backbones: their presets have the same layout
(``config.json`` is the serialized model, loaded in Keras' safe mode) and load through ``zoo.get(folder)``;
keras-hub's own ``from_preset`` is for the text models and the keras-hub entries.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from zoo import settings
from zoo._io import atomic_dir, atomic_write_text, sha256_file
from zoo.errors import WeightsError

RECORD = "zoo_preset.json"
CARD = "zoo_card.json"
README = "README.md"
SCHEMES = ("hf://", "kaggle://")
# Written by a hub beside the files it was given, never read by keras-hub: not part of the preset.
HUB_FILES = (".gitattributes",)
PIPELINE_TAGS = {"text-classification": "text-classification", "language-modeling": "text-generation",
                 "image-classification": "image-classification"}


def is_uri(value: Any) -> bool:
    """An ``hf://`` or ``kaggle://`` handle."""
    return isinstance(value, str) and value.lower().startswith(SCHEMES)


def is_source(value: Any) -> bool:
    """A hub handle, or a local folder holding a preset (its ``config.json``)."""
    if is_uri(value):
        return True
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        return False
    folder = Path(value).expanduser()
    return folder.is_dir() and (folder / "config.json").is_file()


def fetch(source: Any) -> Path:
    """The local folder of a preset: a local folder as it is, a hub handle downloaded whole (by
    ``huggingface_hub`` or ``kagglehub``, into their caches). Raises WeightsError when it cannot be had."""
    if not is_uri(source):
        folder = Path(source).expanduser()
        if not (folder / "config.json").is_file():
            raise WeightsError(f"{folder} is not a preset folder (it has no config.json); give a folder written by "
                               f"zoo export --format preset or save_to_preset, hf://org/name or "
                               f"kaggle://owner/model/keras/variant")
        return folder
    scheme, handle = source.split("://", 1)
    if not handle.strip("/"):
        raise WeightsError(f"{source}: the handle is empty; give hf://org/name or kaggle://owner/model/keras/variant")
    if scheme.lower() == "hf":
        return _from_hugging_face(source, handle)
    return _from_kaggle(source, handle)


def _from_hugging_face(source: str, handle: str) -> Path:
    import huggingface_hub
    from huggingface_hub import errors

    if handle.count("/") != 1:
        raise WeightsError(f"{source}: a Hugging Face preset is hf://org/name")
    try:  # offline, what huggingface_hub cached before, or a clear refusal
        return Path(huggingface_hub.snapshot_download(repo_id=handle, local_files_only=settings.offline()))
    except errors.RepositoryNotFoundError as e:
        raise WeightsError(f"{source}: no such model repository on the Hugging Face Hub (or it is private: log in "
                           f"with `hf auth login`)") from e
    except errors.LocalEntryNotFoundError as e:
        raise WeightsError(f"{source}: not in the Hugging Face cache and "
                           + ("ZOO_OFFLINE=1 forbids downloading it" if settings.offline() else
                              "the Hub cannot be reached; check the network, or pass a local preset folder")) from e
    except (OSError, errors.HfHubHTTPError, ValueError) as e:
        raise WeightsError(f"could not fetch {source}: {str(e).splitlines()[0][:300]}") from e


def _from_kaggle(source: str, handle: str) -> Path:
    import kagglehub

    if len(handle.strip("/").split("/")) not in (4, 5):
        raise WeightsError(f"{source}: a Kaggle preset is kaggle://owner/model/keras/variant[/version]")
    if settings.offline():
        raise WeightsError(f"{source}: ZOO_OFFLINE=1 forbids downloading from Kaggle; on a machine with network "
                           f"run zoo.presets.fetch({source!r}) and pass the folder it gives")
    try:
        return Path(kagglehub.model_download(handle.strip("/")))
    except Exception as e:  # kagglehub raises its own HTTP errors and plain ValueErrors
        raise WeightsError(f"could not fetch {source}: {str(e).splitlines()[0][:300]}") from e


def files_of(folder: Path) -> dict[str, Path]:
    """Every file of a preset folder by its relative path; a hub's own files and dot-folders left out."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and rel.as_posix() not in HUB_FILES and not any(p.startswith(".") for p in rel.parts[:-1]):
            out[rel.as_posix()] = path
    return out


def digests(folder: Path) -> dict[str, str]:
    return {rel: sha256_file(path) for rel, path in files_of(folder).items()}


def _compare(expected: dict[str, str], actual: dict[str, str], where: str, fix: str) -> None:
    """WeightsError naming the first file that differs from the record ``where``."""
    for rel in sorted(set(expected) | set(actual)):
        if rel not in actual:
            raise WeightsError(f"{where}: the preset's file {rel} is missing; nothing was loaded ({fix})")
        if rel not in expected:
            raise WeightsError(f"{where}: the preset has a file {rel} that its record does not list; nothing was "
                               f"loaded ({fix})")
        if expected[rel] != actual[rel]:
            raise WeightsError(f"{where}: the preset's file {rel} was changed: sha256 {actual[rel]}, recorded "
                               f"{expected[rel]}; nothing was loaded ({fix})")


def verify(folder: Path, source: Any, sha256: str | None = None) -> dict[str, Any] | None:
    """Check every file of a preset before it is loaded; returns its record (None for a folder without one).

    ``sha256``: the expected digest of the preset's record file (what ``zoo export`` prints), pinning it whole."""
    actual = digests(folder)
    record = _read_record(folder) if RECORD in actual else None
    if sha256 is not None:
        if record is None:
            raise WeightsError(f"{source}: sha256= pins a preset's {RECORD}, and this preset has none")
        if actual[RECORD] != sha256.lower():
            raise WeightsError(f"{source}: {RECORD} has sha256 {actual[RECORD]}, not the {sha256.lower()} asked "
                               f"for; nothing was loaded")
    if record is not None:
        _compare(record["files"], {k: v for k, v in actual.items() if k != RECORD}, f"{source} ({RECORD})",
                 "the files are not the ones zoo exported: fetch the preset again")
    if is_uri(source):
        _check_first_use(str(source), actual)
    return record


def _read_record(folder: Path) -> dict[str, Any]:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        if not isinstance(record.get("files"), dict):
            raise ValueError("no 'files' table")
        return record
    except (ValueError, OSError, AttributeError) as e:
        raise WeightsError(f"{folder / RECORD}: not a zoo preset record ({e}); nothing was loaded") from e


def first_use_record(source: str) -> Path:
    """Where this machine keeps the sha256 of a hub preset's files as first loaded."""
    key = hashlib.sha256(source.rstrip("/").encode()).hexdigest()[:24]
    return settings.cache("presets") / f"{key}.json"


def _check_first_use(source: str, actual: dict[str, str]) -> None:
    import logging

    path = first_use_record(source)
    if not path.is_file():
        atomic_write_text(path, json.dumps({"source": source, "files": actual}, indent=2))
        logging.getLogger("zoo").info("zoo: %s: first use; the sha256 of its %d files recorded in %s", source,
                                      len(actual), path)
        return
    try:
        expected = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, OSError) as e:
        raise WeightsError(f"{path}: a damaged record of {source} ({e}); delete it to record the preset again") from e
    _compare(expected, actual, f"{source} (recorded at first use in {path})",
             f"the preset changed since this machine first loaded it: delete {path} to accept the new files")


def open_verified(source: Any, sha256: str | None = None) -> tuple[Path, dict[str, Any]]:
    """A preset's local folder, every file verified, and its zoo card (an empty dict for a preset zoo did not
    write). ``sha256`` as for :func:`verify`."""
    folder = fetch(source)
    record = verify(folder, source, sha256)
    card = {}
    if record is not None and (folder / CARD).is_file():
        try:
            card = json.loads((folder / CARD).read_text(encoding="utf-8"))
        except ValueError as e:
            raise WeightsError(f"{source}: its {CARD} is not JSON ({e})") from e
    return folder, card


def load(folder: Path, *, load_weights: bool = True, **kwargs: Any) -> Any:
    """The model of a verified preset folder (not compiled by zoo; a keras-hub task compiles itself).
    ``kwargs`` go to a keras-hub class's ``from_preset`` (``num_classes=`` for a fresh head)."""
    import warnings

    try:
        with warnings.catch_warnings():  # a task compiles itself, and its saved task weights hold no optimizer
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return _load(folder, load_weights, kwargs)
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise WeightsError(f"{folder}: not a preset Keras can load: {str(e).splitlines()[0][:300]}") from e


def read(source: Any, *, sha256: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The model a preset holds, with its weights, and its zoo card: :func:`open_verified`, then :func:`load`."""
    folder, card = open_verified(source, sha256)
    return load(folder), card


def _load(folder: Path, load_weights: bool, kwargs: dict[str, Any]) -> Any:
    import keras

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if (folder / "task.json").is_file():  # a keras-hub task: the class its task.json names, as keras-hub finds it
        task = json.loads((folder / "task.json").read_text(encoding="utf-8"))
        cls = keras.saving.get_registered_object(task.get("registered_name") or task["class_name"])
        if cls is None:
            raise ValueError(f"task.json names {task.get('registered_name')!r}, a class Keras does not know "
                             f"(import the library that defines it)")
        return cls.from_preset(str(folder), load_weights=load_weights, **kwargs)
    cls = keras.saving.get_registered_object(config.get("registered_name") or "")
    import keras_hub

    if isinstance(cls, type) and issubclass(cls, keras_hub.models.Backbone):
        return cls.from_preset(str(folder), load_weights=load_weights, **kwargs)
    if kwargs:
        raise ValueError(f"{', '.join(kwargs)} apply to a keras-hub preset; this one is a plain Keras model")
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)  # a plain Keras model: zoo's image entries
    if load_weights:
        model.load_weights(str(folder / "model.weights.h5"))
    return model


def write(model: Any, card: Any, card_json: str, target: Path, *, weights: Any = None) -> str:
    """Write ``model`` as a preset folder at ``target`` (atomically: all of it or nothing); returns the sha256 of
    its record. ``card``: its zoo card (None for a model of the user's); ``weights``: the manifest weight set it
    holds, whose figures the model card gives."""
    import keras_hub

    with atomic_dir(target, replace=True) as tmp:
        if isinstance(model, (keras_hub.models.Task, keras_hub.models.Backbone)):
            model.save_to_preset(str(tmp))
        else:
            _save_plain(model, tmp)
        (tmp / CARD).write_text(card_json, encoding="utf-8")
        (tmp / README).write_text(model_card(model, card, weights, tmp), encoding="utf-8")
        files = digests(tmp)
        record = {"format": 1, "files": files, "model": getattr(model, "zoo_name", None) or model.name}
        (tmp / RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
        digest = sha256_file(tmp / RECORD)
    return digest


def _save_plain(model: Any, folder: Path) -> None:
    """keras-hub's layout for a plain Keras model: its config (no compile or build state), weights, metadata."""
    import keras

    config = keras.saving.serialize_keras_object(model)
    for key in ("compile_config", "build_config"):
        config.pop(key, None)
    (folder / "config.json").write_text(json.dumps(config, indent=4), encoding="utf-8")
    model.save_weights(str(folder / "model.weights.h5"))
    metadata = {"keras_version": keras.version(), "parameter_count": int(model.count_params()),
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"), "tasks": []}
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=4), encoding="utf-8")


def model_card(model: Any, card: Any, weights: Any, folder: Path) -> str:
    """README.md: Hugging Face's YAML metadata (keras-hub's ``library_name`` and ``pipeline_tag``, the licence,
    dataset, metrics as a ``model-index``), then the card in words. YAML is written as JSON values (YAML 1.2
    reads JSON), so nothing in it needs escaping by hand."""
    name = getattr(model, "zoo_name", None) or model.name
    meta: dict[str, Any] = {"library_name": "keras-hub"}
    if card is not None:
        if card.task in PIPELINE_TAGS:
            meta["pipeline_tag"] = PIPELINE_TAGS[card.task]
        meta["license"] = (weights.license if weights is not None else card.license).lower()
        meta["datasets"] = [card.recipe.dataset]
        meta["tags"] = ["keras", "keras-hub", "zoo", card.family, card.task]
        if weights is not None:
            meta["metrics"] = sorted(weights.metrics)
            meta["model-index"] = [{"name": name, "results": [{
                "task": {"type": card.task}, "dataset": {"name": weights.dataset, "type": weights.dataset,
                                                         "split": weights.split},
                "metrics": [{"type": k, "value": v, "name": f"{weights.split} {k}"}
                            for k, v in sorted(weights.metrics.items())]}]}]
    lines = ["---", *(f"{k}: {json.dumps(v)}" for k, v in meta.items()), "---", "", f"# {name}", ""]
    lines += _card_text(model, card, weights, folder)
    return "\n".join(lines) + "\n"


def _card_text(model: Any, card: Any, weights: Any, folder: Path) -> list[str]:
    kind = "keras-hub task" if (folder / "task.json").is_file() else "Keras model"
    lines = [card.description if card is not None else f"A {kind} written by zoo.", "",
             "## Use", "", "```python", "import zoo", "", 'model = zoo.get("hf://ORG/NAME")  # every file\'s sha256 '
             "checked against zoo_preset.json first", "```", ""]
    if (folder / "task.json").is_file():
        lines += [f"keras-hub loads it too (without zoo's checks): `keras_hub.models.{_task_base(folder)}"
                  f'.from_preset("hf://ORG/NAME")` after `import zoo`.', ""]
    lines += ["## Card", "", f"- parameters: {int(model.count_params()):,}"]
    if card is not None:
        lines += [f"- task: {card.task}; family: {card.family}", f"- dataset: {card.recipe.dataset}",
                  f"- input: {card.input.name} {list(card.input.shape)} {card.input.dtype} ({card.input.kind})",
                  f"- licence: {weights.license if weights is not None else card.license}"
                  + (f" (data: {weights.data_license})" if weights is not None else "")]
        lines += [f"- reference: {card.reference}"] if card.reference else []
    if weights is not None:
        figures = ", ".join(f"{k} {v:.4f}" for k, v in sorted(weights.metrics.items()))
        lines += [f"- weights: {weights.full_name}, trained by zoo; {figures} on the {weights.split} split, "
                  f"measured once on the file as shipped"]
        if weights.selection:
            lines += [f"- chosen on: {weights.selection.get('split')}, watching {weights.selection.get('monitor')} "
                      f"({weights.selection.get('configurations_tried')} configuration(s) tried)"]
        lines += ["", "## Recipe", "", "```json", json.dumps(weights.recipe, indent=2, sort_keys=True), "```"]
    return lines


def _task_base(folder: Path) -> str:
    """The keras-hub base class of a preset's task ("TextClassifier", "CausalLM", ...), for the card's example."""
    import keras

    import keras_hub

    task = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    cls = keras.saving.get_registered_object(task.get("registered_name") or "")
    for base in ("TextClassifier", "CausalLM", "ImageClassifier"):
        if isinstance(cls, type) and issubclass(cls, getattr(keras_hub.models, base)):
            return base
    return "Task"
