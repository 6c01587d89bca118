"""The settings zoo reads from the environment, in one place (plain Python: no TensorFlow).

| variable | meaning | read by |
| --- | --- | --- |
| ``ZOO_DATA_DIR`` | the folder of local dataset copies (``data_dir=`` and ``--data-dir`` win over it) | :func:`data_dir` |
| ``ZOO_HOME`` | zoo's cache (downloaded weights); else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo`` | :func:`home`, :func:`cache` |
| ``ZOO_OFFLINE`` | ``1``/``true``/``yes``: no network anywhere in zoo (weights, keras-hub presets, TFDS) | :func:`offline` |
| ``ZOO_DEBUG`` | ``1``/``true``/``yes``: the CLI shows the traceback of an error (as ``--debug``) | :func:`debug` |

Each is read when asked, not at import, so a test or a notebook may change it at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = ("1", "true", "yes", "on")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def data_dir(given: str | os.PathLike[str] | None = None) -> Path | None:
    """Where local dataset copies are looked for: ``given``, else ``$ZOO_DATA_DIR``, else nowhere (None)."""
    root = given if given is not None else os.environ.get("ZOO_DATA_DIR")
    return Path(root).expanduser() if root else None


def home() -> Path:
    """zoo's cache folder: ``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "zoo"


def cache(sub: str) -> Path:
    """The folder ``sub`` of zoo's cache (:func:`home`), made if need be. A ``ZOO_HOME`` (or default) where it
    cannot be made or written is a ValueError that names the variable and the fix."""
    folder = home() / sub
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:
        given = f"ZOO_HOME={os.environ['ZOO_HOME']!r}" if os.environ.get("ZOO_HOME") else f"zoo's cache {home()}"
        raise ValueError(f"{given}: zoo cannot write its cache there ({folder}: {e.strerror or e}); set ZOO_HOME "
                         f"to a folder you can write") from e
    return folder


def offline() -> bool:
    """True when ``ZOO_OFFLINE`` forbids every download: weights, keras-hub presets and TFDS data."""
    return _flag("ZOO_OFFLINE")


def debug() -> bool:
    """True when ``ZOO_DEBUG`` asks the CLI for tracebacks."""
    return _flag("ZOO_DEBUG")
