"""The built-in model cards, one module per family. Importing this registers them (metadata only)."""

from zoo.cards import cnn  # noqa: F401
from zoo.cards import text  # noqa: F401
from zoo.cards import mlp  # noqa: F401
from zoo.cards import hub  # noqa: F401
