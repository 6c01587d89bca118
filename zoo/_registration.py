"""Keras finds zoo's saved classes after a plain ``import zoo``.

A ``.keras`` archive or a keras-hub preset folder names its classes ("zoo>BiLSTMBackbone", ...), and Keras
looks them up in its registry of custom objects; it imports the defining module itself only for its own
packages. zoo's classes register when their modules are imported, which ``import zoo`` does not do: it imports
no TensorFlow, so that listing and describing stay instant. So ``import zoo`` asks Python to tell it when
Keras and keras-hub are imported (or notes that they already are), and then:

- once Keras is: imports the modules whose classes need only Keras (:data:`KERAS_MODULES`), and puts a
  stand-in for each class of :data:`HUB_MODULE` in the registry; deserialising a stand-in imports that module
  (and keras-hub), so loading a zoo text model never waits on an import the user did not make;
- once keras-hub is: imports :data:`HUB_MODULE`, whose real classes replace the stand-ins (keras-hub's
  ``from_preset`` checks the class it finds is a subclass of the one asked for, which a stand-in is not).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading
import warnings
from collections.abc import Callable

KERAS_MODULES = ("zoo.losses", "zoo.models.cnn")
HUB_MODULE = "zoo.models.text"
# The classes HUB_MODULE registers under package "zoo" (tests/test_saving.py checks this list against it).
HUB_CLASSES = (
    "Orthogonal", "MaskedGlobalMaxPooling1D", "MaskedLocalConv1D", "HeadTailWordPieceTokenizer", "CodepointTokenizer",
    "HashedBigramEmbedding",
    "TokenIdsPreprocessor", "CausalLMTokenIdsPreprocessor", "BiLSTMBackbone", "EncoderBackbone", "CharLSTMBackbone", "DecoderBackbone",
    "ZooTextClassifier", "ZooCausalLM", "BiLSTMTextClassifier", "EncoderTextClassifier", "CharLSTMCausalLM",
    "DecoderCausalLM",
)
PACKAGE = "zoo"

_lock = threading.Lock()
_installed = False


class DeferredClass:
    """Stands in, in Keras' registry, for a class of :data:`HUB_MODULE` until that module is imported."""

    def __init__(self, registered_name: str):
        self.registered_name = registered_name

    def from_config(self, config):
        import keras

        importlib.import_module(HUB_MODULE)  # registers the real class over this stand-in
        # The global registry, not get_registered_object: while a model deserialises, Keras answers from a
        # snapshot of the registry taken when it began, in which this stand-in still is.
        real = keras.saving.get_custom_objects().get(self.registered_name)
        if real is None or isinstance(real, DeferredClass):
            raise TypeError(f"{HUB_MODULE} did not register {self.registered_name!r}: zoo's installation is broken")
        return real.from_config(config)

    def __repr__(self) -> str:
        return f"<{self.registered_name}, defined in {HUB_MODULE} (imported when first deserialised)>"


def _register_keras_classes() -> None:
    import keras

    for module in KERAS_MODULES:
        importlib.import_module(module)
    registry = keras.saving.get_custom_objects()
    for name in HUB_CLASSES:
        registry.setdefault(f"{PACKAGE}>{name}", DeferredClass(f"{PACKAGE}>{name}"))


def _register_hub_classes() -> None:
    importlib.import_module(HUB_MODULE)


def _guarded(callback: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            callback()
        except Exception as error:  # never break the user's own import of Keras over zoo's registration
            warnings.warn(f"zoo could not register its Keras classes ({type(error).__name__}: {error}); "
                          f"import zoo.models before loading a saved zoo model", RuntimeWarning, stacklevel=2)
    return run


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback`` once the top-level module ``name`` has been executed (a one-shot import hook)."""

    def __init__(self, name: str, callback: Callable[[], None]):
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # one shot; the finders after this one find the module itself
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, callback = spec.loader.exec_module, self.callback

        def exec_then_register(module):
            exec_module(module)
            callback()

        spec.loader.exec_module = exec_then_register  # this module's own loader instance only
        return spec


def install() -> None:
    """Arrange for zoo's classes to be in Keras' registry whenever Keras is imported (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    keras_step, hub_step = _guarded(_register_keras_classes), _guarded(_register_hub_classes)
    if "keras" in sys.modules:
        keras_step()
    else:
        sys.meta_path.insert(0, _AfterImport("keras", keras_step))
    if "keras_hub" in sys.modules:
        hub_step()
    else:
        sys.meta_path.insert(0, _AfterImport("keras_hub", hub_step))
