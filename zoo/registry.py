"""The registry: model names, their cards and their builders.

Metadata is data, builders are code. A :class:`ModelCard` is plain Python data and importing this module
imports nothing heavy, so listing and describing models never loads TensorFlow. A card names its builder as
``"module:function"`` and the builder's module (which imports Keras) is imported only when a model is built.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Sequence

from zoo.errors import ModelExistsError, UnknownModelError
from zoo.schema import FAMILIES, TASKS, HubPreset, InputSpec, ModelCard, OutputSpec, Recipe

__all__ = ["FAMILIES", "TASKS", "HubPreset", "InputSpec", "ModelCard", "OutputSpec", "Recipe", "get_card", "info",
           "list_models", "register", "register_card", "split_name", "unregister"]


_REGISTRY: dict[str, ModelCard] = {}
_BUILTINS_LOADED = False


def _ensure_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from zoo.cards import BUILTIN_CARDS  # plain data; it imports zoo.schema, never this module

        for card in BUILTIN_CARDS:
            register_card(card)


def _check_card(card: ModelCard) -> None:
    if not isinstance(card, ModelCard):
        raise TypeError(f"card must be a zoo.ModelCard, got {type(card).__name__}")
    if not card.name or not all(c.isalnum() or c == "_" for c in card.name):
        raise ValueError(f"model name {card.name!r} must be non-empty letters, digits and underscores")
    if card.family not in FAMILIES:
        raise ValueError(f"family {card.family!r} is not one of {', '.join(FAMILIES)}")
    if card.task not in TASKS:
        raise ValueError(f"task {card.task!r} is not one of {', '.join(TASKS)}")
    shadowed = sorted(set(card.hparams) & {f.name for f in dataclasses.fields(Recipe)})
    if shadowed:  # zoo.train takes both by keyword: a name must say which it is
        raise ValueError(f"hyper-parameter name(s) {', '.join(shadowed)} are recipe fields; rename them")
    if not (callable(card.builder) or (isinstance(card.builder, str) and ":" in card.builder)):
        raise TypeError("builder must be a callable or a 'module:function' string")


def register(card: ModelCard) -> ModelCard:
    """Register a model of your own: a :class:`ModelCard` whose ``builder`` is a callable (or ``"module:fn"``).

    The builder takes the card's ``hparams`` as keyword arguments and returns a ``keras.Model``. A name that
    is taken raises :class:`ModelExistsError`. Returns the card.
    """
    _ensure_builtins()
    return register_card(card)


def register_card(card: ModelCard) -> ModelCard:
    """Add a card to the registry; a name that is taken is refused with :class:`ModelExistsError`."""
    _check_card(card)
    if card.name in _REGISTRY:
        raise ModelExistsError(
            f"a model named {card.name!r} is already registered; choose another name "
            f"(registered names: zoo.list_models())"
        )
    _REGISTRY[card.name] = card
    return card


def unregister(name: str) -> None:
    """Remove a model from the registry (for user registrations and tests)."""
    _ensure_builtins()
    if name not in _REGISTRY:
        raise _unknown(name)
    del _REGISTRY[name]


def _unknown(name: str) -> UnknownModelError:
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownModelError(f"unknown model {name!r}{hint} (zoo.list_models() lists the {len(_REGISTRY)} models)")


def split_name(name: str) -> tuple[str, str | None]:
    """``"cnn_mnist.mnist_v2"`` -> ``("cnn_mnist", "mnist_v2")``; a plain name has no tag."""
    if not isinstance(name, str):
        raise TypeError(f"a model name must be a string, got {type(name).__name__}")
    arch, _, tag = name.partition(".")
    return arch, (tag or None)


def info(name: str) -> ModelCard:
    """The model card of ``name``: task, dataset, input spec, outputs, parameters, licence, recipe, weights.

    ``str(card)`` reads as text, ``card.to_json()`` as JSON; a ``name.tag`` is accepted (its tag must name one of the weight sets).
    Raises :class:`UnknownModelError` (with close-match suggestions) for a name that is not registered, or a
    tag that names none of its weight sets.
    """
    card = get_card(name)
    _, tag = split_name(name)
    if tag is not None and tag not in {w.tag for w in card.weights}:
        tags = ", ".join(repr(w.tag) for w in card.weights) or "none"
        raise UnknownModelError(f"{card.name} has no weights tagged {tag!r}; its weight sets: {tags}")
    return card


def get_card(name: str) -> ModelCard:
    """The card of a registered model (a ``name.tag`` is accepted: the tag is ignored here)."""
    _ensure_builtins()
    arch, _ = split_name(name)
    try:
        return _REGISTRY[arch]
    except KeyError:
        raise _unknown(arch) from None


def _match(value: str, wanted: str | Sequence[str] | None) -> bool:
    if wanted is None:
        return True
    patterns = [wanted] if isinstance(wanted, str) else list(wanted)
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


_SCOPES = {True: "whole model", "backbone": "backbone only", False: None}  # list_models(pretrained=) -> scope


def list_models(
    pattern: str | Sequence[str] = "*",
    *,
    family: str | None = None,
    task: str | None = None,
    dataset: str | None = None,
    pretrained: bool | str | None = None,
    exclude: str | Sequence[str] | None = None,
) -> list[str]:
    """Names of registered models, sorted, filtered with fnmatch wildcards.

    Args:
        pattern: one wildcard pattern or several (a name matching any is kept), e.g. ``"cnn_*"``.
        family: keep one family ("cnn", "lstm", "transformer", "mlp", "linear"); wildcards allowed.
        task: keep one task, e.g. ``"image-classification"``; wildcards allowed.
        dataset: keep models trained on one dataset, e.g. ``"mnist"``; wildcards allowed.
        pretrained: ``True`` keeps models with weights for the whole model, ``"backbone"`` those whose
            pretrained weights are a backbone only (a keras-hub preset under a new, untrained head),
            ``False`` those with no weights at all, ``None`` all.
        exclude: wildcard pattern(s) of names to leave out.

    Returns:
        The matching names, sorted.
    """
    _ensure_builtins()
    if pretrained is not None and pretrained not in _SCOPES:
        raise ValueError(f"pretrained must be True, False, 'backbone' or None, got {pretrained!r}")
    if family is not None and isinstance(family, str) and not any(ch in family for ch in "*?[") and family not in FAMILIES:
        raise ValueError(f"family {family!r} is not one of {', '.join(FAMILIES)}")
    names = []
    for name, card in _REGISTRY.items():
        if not _match(name, pattern) or (exclude is not None and _match(name, exclude)):
            continue
        if not (_match(card.family, family) and _match(card.task, task) and _match(card.dataset, dataset)):
            continue
        if pretrained is not None and card.pretrained_scope != _SCOPES[pretrained]:
            continue
        names.append(name)
    return sorted(names)
