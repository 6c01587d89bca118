"""Names that come from outside (folder names, ``class_names.json``, an export's description) are data: checked
where they enter, escaped where they are shown, so that no terminal escape sequence or line break of theirs
reaches a user's terminal or fakes a line of output. Plain Python: no TensorFlow."""

from __future__ import annotations

import unicodedata
from typing import Any

# Control characters (C0, DEL, C1), format characters (bidirectional overrides, zero-width marks), lone
# surrogates (bytes that were not UTF-8 in a file name) and the Unicode line and paragraph separators.
_UNSHOWABLE = ("Cc", "Cf", "Cs", "Zl", "Zp")


def unshowable(text: str) -> list[str]:
    """The characters of ``text`` that a terminal would act on instead of showing, each once."""
    return list(dict.fromkeys(ch for ch in text if unicodedata.category(ch) in _UNSHOWABLE))


def shown(text: Any, keep: str = "") -> str:
    """``text`` with every unshowable character (but those in ``keep``) written as its escape (``\\x1b``,
    ``\\u202e``): what the CLI prints of anything that came from outside."""
    text = str(text)
    if not unshowable(text):
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(ch) in _UNSHOWABLE and ch not in keep else ch for ch in text)


def class_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a class name (None if it can): not a string, blank, or with unshowable characters."""
    if not isinstance(name, str):
        return f"not a string but a {type(name).__name__}"
    if not name.strip():
        return "empty" if not name else "blank"
    bad = unshowable(name)
    if bad:
        return "it holds control characters (" + ", ".join(shown(ch) for ch in bad) + ")"
    return None


def check_class_names(names: Any, *, count: int | None, where: str, error: type[Exception] = ValueError
                      ) -> tuple[str, ...]:
    """``names`` as a tuple of class names: a list of distinct, non-empty strings without control characters,
    ``count`` of them (the head's size) where given; else ``error`` naming ``where`` they came from and what
    is wrong. A string is refused, not read as one class a character."""
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise error(f"{where}: class names must be a list of strings, got {shown(repr(names))[:200]}")
    for i, name in enumerate(names):
        problem = class_name_problem(name)
        if problem is not None:
            raise error(f"{where}: class name {i} ({shown(repr(name))[:100]}) cannot be a class name: {problem}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise error(f"{where}: class names must be distinct; repeated: {', '.join(map(repr, repeated))}")
    if count is not None and len(names) != count:
        raise error(f"{where}: {len(names)} class names for a head of {count} classes; give one name a class")
    return tuple(names)
