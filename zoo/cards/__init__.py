"""The built-in model cards, one module per family: plain data that zoo.registry registers when first asked.

The card modules import only ``zoo.schema`` (and each other's constants), never the registry: no import circle.
"""

from zoo.cards import cnn, hub, mlp, text

BUILTIN_CARDS = (*cnn.CARDS, *text.CARDS, *mlp.CARDS, *hub.CARDS)
