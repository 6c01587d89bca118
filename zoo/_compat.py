"""Old spellings of public parameters, kept working for one release with a warning."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any


class ZooDeprecationWarning(FutureWarning):
    """A zoo spelling that still works and will be removed in the next release (shown by default)."""


def renamed(**old_to_new: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Accept ``old=`` for ``new=`` with a :class:`ZooDeprecationWarning`; giving both is a TypeError. The
    function keeps its signature and docstring (``functools.wraps``)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{fn.__name__}() got {old}= and {new}=: {old} is the old name of {new}; "
                                    f"give {new} only")
                warnings.warn(f"zoo.{fn.__name__}({old}=...) is deprecated and goes in the next release: "
                              f"use {new}=", ZooDeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.renamed = dict(old_to_new)  # for the tests and the CLI's map of parameters
        return wrapper

    return decorate
