"""zoo: a model zoo for Keras 3 on TensorFlow.

Find a model, read its card, build it (compiled, optionally with weights this project trained itself),
train it with its recipe, evaluate it::

    import zoo
    zoo.list_models("cnn_*")                  # names, from metadata alone
    print(zoo.info("cnn_mnist"))              # the model card
    model = zoo.get("cnn_mnist", pretrained=True)
    result = zoo.train("cnn_mnist", epochs=2)

This module only says what is public. Each function is defined once, with its docstring, in the module that
owns it, and re-exported here on first use, so that ``import zoo`` imports no TensorFlow and listing and
describing stay instant.
"""

from __future__ import annotations

import importlib
from typing import Any

from zoo._version import __version__
from zoo.errors import (
    BusyError,
    DataFormatError,
    DataNotFoundError,
    DeviceUnavailableError,
    DiskFullError,
    ExportError,
    InputError,
    ModelExistsError,
    QuantizationError,
    UnknownModelError,
    UntrainedHeadWarning,
    WeightsError,
    ZooError,
)
from zoo.manifest import WeightsInfo
from zoo.registry import HubPreset, InputSpec, ModelCard, OutputSpec, Recipe, info, list_models, register, unregister

# The public functions that import Keras when called, and the module that defines each.
_FUNCTIONS = {
    "get": "zoo.api", "verify": "zoo.api", "train": "zoo.training", "evaluate": "zoo.training",
    "export": "zoo.exporting", "predict": "zoo.prediction", "generate": "zoo.generation",
}
_SUBMODULES = ("data", "distribute", "exporting", "training", "weights", "manifest", "registry", "recipes", "settings",
               "quantizing", "lora")

__all__ = [
    "__version__", "get", "list_models", "info", "register", "unregister", "train", "evaluate", "verify", "export",
    "predict", "generate",
    "ModelCard", "HubPreset", "InputSpec", "OutputSpec", "Recipe", "WeightsInfo",
    "ZooError", "UnknownModelError", "ModelExistsError", "WeightsError", "DataNotFoundError", "DataFormatError",
    "DeviceUnavailableError", "ExportError", "InputError", "QuantizationError", "BusyError", "DiskFullError",
    "UntrainedHeadWarning",
]


def __getattr__(name: str) -> Any:
    """``zoo.get``, ``zoo.train``, ... and ``zoo.data``, ``zoo.distribute``, ... imported on first use."""
    if name in _FUNCTIONS:
        value = getattr(importlib.import_module(_FUNCTIONS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FUNCTIONS) | set(_SUBMODULES))


# Saved zoo models (.keras archives, preset folders) load after a plain ``import zoo``: see zoo._registration.
importlib.import_module("zoo._registration").install()
