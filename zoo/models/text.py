"""The LSTM and Transformer text models, built as keras-hub builds its own: a preprocessor, a backbone, a task.

The preprocessor (:class:`TokenIdsPreprocessor`, keras-hub's ``WordPieceTokenizer`` or
``UnicodeCodepointTokenizer`` inside) turns raw strings into a fixed number of token ids and runs in ``tf.data``;
the backbones (``keras_hub.models.Backbone``: :class:`BiLSTMBackbone`, :class:`EncoderBackbone`,
:class:`CharLSTMBackbone`, :class:`DecoderBackbone`, built from keras-hub's ``TokenAndPositionEmbedding``,
``TransformerEncoder`` and ``TransformerDecoder``) take token ids only, so XLA compiles them; the tasks
(:class:`ZooTextClassifier`, :class:`ZooCausalLM`) add the head. The IMDB classifiers' WordPiece vocabulary is a
file shipped with the package (``zoo/assets``), so it travels with the weights and the exports.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import keras_hub
import keras_hub.src.utils.tensor_utils
import numpy as np
from keras import layers

from zoo.data.catalog import CHAR_VOCABULARY_SIZE
from zoo.models._common import check_float, check_int, check_transformer, softmax_head

# keras-hub's PositionEmbedding (inside TokenAndPositionEmbedding, whose own mask is kept) warns on every call
# that it destroys the mask: it does not (docs/KNOWN_ISSUES.md).
warnings.filterwarnings("ignore", message=r"Layer 'position_embedding' .* does not support masking",
                        category=UserWarning)

ASSETS = Path(__file__).resolve().parents[1] / "assets"
IMDB_VOCABULARY = ASSETS / "imdb_wordpiece_16k.txt"
LM_HEAD = "logits"


def read_vocabulary(path: str | Path) -> list[str]:
    """The tokens of a vocabulary file, one a line (as written beside a TFLite export)."""
    return Path(path).read_text(encoding="utf-8").rstrip("\n").split("\n")  # not splitlines(): it splits on \x85


def _vocabulary(vocabulary: str | Sequence[str] | None) -> list[str] | str:
    if vocabulary is None:
        vocabulary = IMDB_VOCABULARY
    if isinstance(vocabulary, (str, Path)):
        path = Path(vocabulary)
        if not path.is_file():
            raise ValueError(f"vocabulary file {path} not found; give a list of tokens or a file of one token a line")
        return read_vocabulary(path)
    vocabulary = list(vocabulary)
    if len(vocabulary) < 3 or not all(isinstance(t, str) for t in vocabulary):
        raise ValueError("vocabulary must hold at least 3 string tokens ([PAD], [UNK], ...)")
    return vocabulary


@keras.saving.register_keras_serializable(package="zoo")
class Orthogonal(keras.initializers.Orthogonal):
    """Keras' orthogonal initializer (the LSTMs' recurrent kernels), computed in float32 whatever the variable's
    dtype and then cast: TensorFlow's QR has no bfloat16 kernel, so an LSTM under the ``"bfloat16"`` policy could
    not be built on TensorFlow (docs/KNOWN_ISSUES.md). The same values as Keras' own in float32."""

    def __call__(self, shape, dtype=None):
        return keras.ops.cast(super().__call__(shape, dtype="float32"), dtype or "float32")


def _lstm(units: int, dtype: Any, **kwargs) -> layers.LSTM:
    return layers.LSTM(units, return_sequences=True, recurrent_initializer=Orthogonal(), dtype=dtype, **kwargs)


@keras.saving.register_keras_serializable(package="zoo")
class MaskedGlobalMaxPooling1D(layers.Layer):
    """The maximum over the real (unmasked) positions of a sequence; Keras' GlobalMaxPooling1D ignores the mask,
    so a Transformer's outputs at padding positions would take part in the max."""

    supports_masking = True

    def call(self, x, mask=None):
        if mask is not None:
            lowest = keras.ops.cast(-1e4 if x.dtype == "float16" else -1e9, x.dtype)
            x = keras.ops.where(keras.ops.expand_dims(mask, -1), x, lowest)
        return keras.ops.max(x, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="zoo")
class MaskedLocalConv1D(layers.Layer):
    """``x + conv(x)`` over the real tokens: a ``kernel_size``-wide convolution that hands the encoder local
    n-gram features. Padding positions are zeroed before and after, so they leak into no real token, and the
    mask passes through (Keras' Conv1D would drop it)."""

    supports_masking = True

    def __init__(self, kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size

    def build(self, input_shape):
        self.conv = layers.Conv1D(input_shape[-1], self.kernel_size, padding="same", activation="gelu",
                                  dtype=self.dtype_policy, name="conv")
        self.conv.build(input_shape)

    def call(self, x, mask=None):
        keep = None if mask is None else keras.ops.cast(keras.ops.expand_dims(mask, -1), x.dtype)
        if keep is not None:
            x = x * keep
        y = x + self.conv(x)
        return y if keep is None else y * keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


_WHOLE = threading.local()  # .ids: the tokenizers asked for whole texts on this thread (see _Untruncated)


class _Untruncated:
    """A tokenizer that can be asked for the whole text (``with tokenizer.untruncated(): ...``) without changing
    its ``sequence_length`` for anyone else: keras-hub runs preprocessing in several threads (Grain), where
    setting the attribute for a moment let another thread's call see None."""

    @property
    def sequence_length(self):
        return None if id(self) in getattr(_WHOLE, "ids", ()) else self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        self._sequence_length = value

    @contextlib.contextmanager
    def untruncated(self):
        ids = _WHOLE.__dict__.setdefault("ids", set())
        ids.add(id(self))
        try:
            yield self
        finally:
            ids.discard(id(self))


def _untruncated(tokenizer: Any) -> Any:
    """``tokenizer.untruncated()``; for a keras-hub tokenizer without it (an archive naming keras-hub's class),
    its ``sequence_length`` set to None for the call."""
    if isinstance(tokenizer, _Untruncated):
        return tokenizer.untruncated()

    @contextlib.contextmanager
    def unset():
        saved, tokenizer.sequence_length = tokenizer.sequence_length, None
        try:
            yield tokenizer
        finally:
            tokenizer.sequence_length = saved

    return unset()


@keras.saving.register_keras_serializable(package="zoo")
class HeadTailWordPieceTokenizer(_Untruncated, keras_hub.tokenizers.WordPieceTokenizer):
    """WordPiece that keeps the first ``head`` and the last ``sequence_length - head`` tokens of a text longer
    than ``sequence_length`` (a review's verdict is often at its end), where the plain tokenizer keeps only the
    first ``sequence_length``. Shorter texts are unchanged. Sun et al. 2019 ("How to Fine-Tune BERT for Text
    Classification") found head+tail the best truncation on IMDB. Always on TensorFlow's path, so that eager
    calls and graphs agree."""

    def __init__(self, *, head: int = 128, **kwargs):
        kwargs["_allow_python_workflow"] = False
        super().__init__(**kwargs)
        if not self.sequence_length:
            raise ValueError("HeadTailWordPieceTokenizer needs a sequence_length (the tokens it keeps)")
        self.head = check_int("head", head, minimum=0, maximum=self.sequence_length)

    def tokenize(self, inputs):
        import tensorflow as tf

        length = self.sequence_length
        with self.untruncated():  # the whole text first, as a ragged batch
            ids = super().tokenize(inputs)
        if not isinstance(ids, (tf.Tensor, tf.RaggedTensor)):  # eager: keras-hub hands back Python lists
            batched = np.ndim(inputs) > 0
            ids = tf.ragged.constant(ids, dtype=tf.int32, ragged_rank=1) if batched else tf.constant(ids, tf.int32)
        unbatched = ids.shape.rank == 1
        if unbatched:
            ids = tf.RaggedTensor.from_tensor(ids[tf.newaxis])
        n = ids.row_lengths()
        head = tf.minimum(n, min(self.head, length))  # a sequence_length set shorter than head: the head only
        tail_start = tf.maximum(head, n - (length - self.head))  # == head when the text fits: nothing dropped
        positions = tf.concat([tf.ragged.range(head), tf.ragged.range(tail_start, n)], axis=1)
        out = tf.gather(ids, positions, batch_dims=1).to_tensor(shape=[None, length])
        return out[0] if unbatched else out

    def get_config(self):
        config = super().get_config()
        config.pop("_allow_python_workflow", None)
        return {**config, "head": self.head}


@keras.saving.register_keras_serializable(package="zoo")
class HashedBigramEmbedding(layers.Layer):
    """An embedding of each token's bigram (the token and the one after it), hashed into ``buckets`` rows: the
    bigram features of fastText (Joulin et al. 2017), added to the token embeddings so that the encoder sees
    "not good" apart from "not" and "good". Zero where the token or the next one is padding. Takes token ids."""

    MAX_BUCKETS = 46_340  # the largest b with b * b < 2**31 (see call)

    def __init__(self, buckets: int, output_dim: int, mask_zero: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_int("buckets", buckets, minimum=1, maximum=self.MAX_BUCKETS)
        self.buckets, self.output_dim, self.mask_zero = buckets, output_dim, mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.buckets, self.output_dim), name="embeddings",
                                          initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, ids):
        # The row is (id * 1_000_003 + next * 7_919) mod buckets (two primes: a cheap, fixed hash), computed in
        # int32 as sums of products of residues: JAX has no int64 unless x64 is on, and there the int64 form
        # overflowed and hashed differently from TensorFlow (docs/KNOWN_ISSUES.md). Each product is under
        # buckets**2 < 2**31, hence the bound on buckets.
        ids = keras.ops.cast(ids, "int32")
        following = keras.ops.concatenate([ids[:, 1:], keras.ops.zeros_like(ids[:, :1])], axis=1)
        b = self.buckets
        mod = keras.ops.mod
        rows = mod(mod(mod(ids, b) * (1_000_003 % b), b) + mod(mod(following, b) * (7_919 % b), b), b)
        real = keras.ops.cast(keras.ops.logical_and(ids > 0, following > 0), self.compute_dtype)
        return keras.ops.take(self.embeddings, rows, axis=0) * keras.ops.expand_dims(real, -1)

    def compute_mask(self, ids, mask=None):
        # The token embedding's mask: Keras' Add drops the mask when one of its inputs has none (KNOWN_ISSUES).
        return keras.ops.not_equal(ids, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "buckets": self.buckets, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero}


POOLINGS = ("mean", "mean_max")
TRUNCATIONS = ("head", "head_tail")


# -- preprocessing: raw strings -> token ids, in tf.data on the host (never in the compiled step) --

@keras.saving.register_keras_serializable(package="zoo")
class TokenIdsPreprocessor(keras_hub.models.Preprocessor):
    """Raw strings -> the backbone's ``token_ids`` (``sequence_length`` of them, zero-padded), labels passed on.

    keras-hub's text preprocessors add start and end tokens and a padding mask for BERT-like backbones; zoo's
    backbones take the bare token ids, so this one only tokenises. ``empty_token_id``: what the first position
    of a text with no tokens gets (the classifiers' ``[UNK]``), so that a masked model always sees one token.
    A ``keras_hub.models.Task`` runs it in ``tf.data`` for ``fit``, ``evaluate`` and ``predict``; the SavedModel's
    serving function runs it before the network.
    """

    def __init__(self, tokenizer, empty_token_id: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.empty_token_id = empty_token_id
        if not getattr(tokenizer, "sequence_length", None):
            raise ValueError("TokenIdsPreprocessor needs a tokenizer with a sequence_length (the padded length)")

    def token_ids(self, x):
        """The network's input for raw strings ``x``, alone: what ``predict`` gives it (a language model's
        preprocessor returns ``(x, y, sample_weight)``, as keras-hub's ``CausalLMPreprocessor`` does)."""
        ids, _, _ = keras.utils.unpack_x_y_sample_weight(self(x))
        return ids

    @property
    def sequence_length(self) -> int:
        """The token ids of each text; settable after construction, as keras-hub's preprocessors' is."""
        return int(self.tokenizer.sequence_length)

    @sequence_length.setter
    def sequence_length(self, value: int) -> None:
        self.tokenizer.sequence_length = check_int("sequence_length", value, minimum=1)

    @keras_hub.src.utils.tensor_utils.preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        import tensorflow as tf

        ids = tf.cast(self.tokenizer(x), tf.int32)
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(shape=[None, self.sequence_length])
        if self.empty_token_id is not None:
            first = ids[..., :1]
            ids = tf.concat([tf.where(first == 0, self.empty_token_id, first), ids[..., 1:]], axis=-1)
        return keras.utils.pack_x_y_sample_weight(ids, y, sample_weight)

    def get_config(self):
        return {**super().get_config(), "empty_token_id": self.empty_token_id}


@keras.saving.register_keras_serializable(package="zoo")
class CausalLMTokenIdsPreprocessor(TokenIdsPreprocessor):
    """zoo's language models' preprocessor, as keras-hub's ``CausalLMPreprocessor``: each raw text ->
    ``(x, y, sample_weight)``, ``x`` its first ``sequence_length`` token ids, ``y`` the id after each (the text
    shifted by one), ``sample_weight`` 1 where ``y`` is a real token and 0 at the padding. So ``fit`` and
    ``evaluate`` on raw text (a list of strings or a dataset of them) train and measure the next-token objective
    with the padding masked out; ``predict`` takes ``x``. A text of ``sequence_length + 1`` characters gives a
    full window.

    The older form, ``(text window, next ids)``, is passed through as before, with a ``DeprecationWarning``: it
    goes in the release after next."""

    @keras_hub.src.utils.tensor_utils.preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        import tensorflow as tf

        if y is not None:
            warnings.warn("zoo: a language model's (text, next token ids) pairs are deprecated: give the text alone "
                          "(its preprocessor makes the next-token targets); the pairs go in the release after next",
                          DeprecationWarning, stacklevel=3)
            ids = tf.cast(self.tokenizer(x), tf.int32)
            if isinstance(ids, tf.RaggedTensor):
                ids = ids.to_tensor(shape=[None, self.sequence_length])
            return keras.utils.pack_x_y_sample_weight(ids, y, sample_weight)
        length = self.sequence_length
        x = tf.convert_to_tensor(x)
        unbatched = x.shape.rank == 0
        if unbatched:
            x = x[tf.newaxis]
        with _untruncated(self.tokenizer) as tokenizer:  # the whole text, then one id more than the window
            ids = tokenizer(x)
        if not isinstance(ids, (tf.Tensor, tf.RaggedTensor)):  # eager: keras-hub hands back Python lists
            ids = tf.ragged.constant(ids, dtype=tf.int32, ragged_rank=1)
        ids = tf.cast(ids, tf.int32)
        ids = ids.to_tensor(shape=[None, length + 1]) if isinstance(ids, tf.RaggedTensor) else ids
        ids = tf.pad(ids[:, : length + 1], [[0, 0], [0, tf.maximum(0, length + 1 - tf.shape(ids)[1])]])
        inputs, targets = ids[:, :-1], ids[:, 1:]
        weights = tf.cast(targets != 0, "float32")
        if unbatched:
            inputs, targets, weights = inputs[0], targets[0], weights[0]
        return keras.utils.pack_x_y_sample_weight(inputs, targets, weights)


# -- backbones: token ids -> features, keras.ops only (XLA- and TPU-clean) --

def _token_ids() -> keras.KerasTensor:
    """A backbone's input: token ids of any length, as keras-hub's backbones take them (the preprocessor pads
    to its ``sequence_length``; a position embedding's ``sequence_length`` is the longest it takes)."""
    return keras.Input(shape=(None,), dtype="int32", name="token_ids")


def _arguments(local_names: dict) -> dict:
    """A backbone constructor's own arguments, from its ``locals()`` taken first thing: its config."""
    return {k: v for k, v in local_names.items() if k not in ("self", "name", "dtype", "kwargs", "__class__")}


class ZooBackbone(keras_hub.models.Backbone):
    """A keras-hub Backbone whose constructor arguments are its config, each an attribute of the same name.

    As keras-hub's own, every layer inside is built with the backbone's ``dtype`` (a policy name such as
    ``"bfloat16"``, a ``DTypePolicy`` or the ``DTypePolicyMap`` of a quantized model), and the default name is
    the class's (``encoder_backbone``, ...).

    ``decoding_cache``: what zoo.generate carries from one step to the next for a language model's backbone
    ("lstm_state", "attention"; None: none). Weight files written before the backbones existed hold the same
    layers side by side; ``zoo.weights`` reads them into the nested layout.
    """

    decoding_cache: str | None = None

    def __init__(self, inputs, outputs, args: dict, name: str | None, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._args = dict(args)
        for key, value in args.items():
            setattr(self, key, value)

    def get_config(self):
        return {**super().get_config(), **self._args}


class _BlockLayout:
    """``get_layout_map`` of a backbone of keras-hub Transformer blocks named ``{block_name}1``, ``2``, ...,
    whose self-attention layer is ``attention_name``, as keras-hub's backbones offer (``zoo --strategy
    model_parallel`` on JAX): each block's attention heads and feed-forward inner dimension over the mesh's
    model axis (Megatron's split), the token embedding along its features; the rest is replicated."""

    block_name: str
    attention_name: str

    @classmethod
    def get_layout_map(cls, device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"):
        from zoo.distribute import block_layout, layout_from

        table = block_layout(rf"{cls.block_name}\d+", cls.attention_name,
                             embedding="embedding/token_embedding/embeddings")
        return layout_from(table, device_mesh, model_parallel_dim_name)


@keras.saving.register_keras_serializable(package="zoo")
class BiLSTMBackbone(ZooBackbone):
    """token ids -> masked embedding (+ hashed bigrams) -> bidirectional LSTM -> max and mean of its states over
    the real tokens."""

    def __init__(self, vocabulary_size: int, sequence_length: int, embedding_dim: int, lstm_units: int,
                 bigram_buckets: int = 0, name: str | None = None, dtype: Any = None, **kwargs):
        args = _arguments(locals())
        inputs = _token_ids()
        embedding = layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True, dtype=dtype, name="embedding")
        x = embedding(inputs)
        if bigram_buckets:  # the sum keeps the token embedding's mask
            bigrams = HashedBigramEmbedding(bigram_buckets, embedding_dim, dtype=dtype, name="bigrams")
            x = layers.Add(dtype=dtype, name="add_bigrams")([x, bigrams(inputs)])
        x = layers.Bidirectional(_lstm(lstm_units, dtype), dtype=dtype,
                                 name="bilstm")(x)
        x = layers.Concatenate(dtype=dtype, name="pool")([MaskedGlobalMaxPooling1D(dtype=dtype, name="max")(x),
                                                          layers.GlobalAveragePooling1D(dtype=dtype, name="mean")(x)])
        super().__init__(inputs, x, args, name, dtype=dtype, **kwargs)
        self.token_embedding = embedding


@keras.saving.register_keras_serializable(package="zoo")
class EncoderBackbone(_BlockLayout, ZooBackbone):
    """token ids -> token and position embedding (+ hashed bigrams) -> word dropout -> (local convolution) ->
    keras-hub TransformerEncoder blocks -> pooling over the tokens (see :func:`transformer_imdb`)."""

    block_name, attention_name = "encoder", "self_attention_layer"

    def __init__(self, vocabulary_size: int, sequence_length: int, embedding_dim: int, num_layers: int,
                 num_heads: int, intermediate_dim: int, dropout: float, pooling: str = "mean",
                 token_dropout: float = 0.0, conv_kernel: int = 0, bigram_buckets: int = 0,
                 mask_padding: bool = True, name: str | None = None, dtype: Any = None, **kwargs):
        args = _arguments(locals())
        inputs = _token_ids()
        embedding = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size, sequence_length, embedding_dim,
                                                               mask_zero=mask_padding, dtype=dtype, name="embedding")
        x = embedding(inputs)
        if bigram_buckets:  # the sum keeps the token embedding's mask, if any
            bigrams = HashedBigramEmbedding(bigram_buckets, embedding_dim, mask_zero=mask_padding, dtype=dtype,
                                            name="bigrams")
            x = layers.Add(dtype=dtype, name="add_bigrams")([x, bigrams(inputs)])
        if token_dropout:  # whole token vectors: one draw per position, whatever the length
            x = layers.Dropout(token_dropout, noise_shape=(None, None, 1), dtype=dtype, name="token_dropout")(x)
        if conv_kernel:
            x = MaskedLocalConv1D(conv_kernel, dtype=dtype, name="local_conv")(x)
        for i in range(num_layers):
            x = keras_hub.layers.TransformerEncoder(intermediate_dim, num_heads, dropout=dropout, dtype=dtype,
                                                    name=f"encoder{i + 1}")(x)
        if pooling == "mean":
            x = layers.GlobalAveragePooling1D(dtype=dtype, name="pool")(x)
        else:
            x = layers.Concatenate(dtype=dtype, name="pool")(
                [layers.GlobalAveragePooling1D(dtype=dtype, name="mean")(x),
                 MaskedGlobalMaxPooling1D(dtype=dtype, name="max")(x)])
        super().__init__(inputs, x, args, name, dtype=dtype, **kwargs)
        self.token_embedding = embedding.token_embedding


@keras.saving.register_keras_serializable(package="zoo")
class CharLSTMBackbone(ZooBackbone):
    """token ids -> embedding -> ``num_layers`` LSTMs (with dropout after each) -> a state per position."""

    decoding_cache = "lstm_state"

    def __init__(self, vocabulary_size: int, sequence_length: int, embedding_dim: int, lstm_units: int,
                 num_layers: int = 1, dropout: float = 0.0, name: str | None = None, dtype: Any = None,
                 **kwargs):
        args = _arguments(locals())
        inputs = _token_ids()
        embedding = layers.Embedding(vocabulary_size, embedding_dim, dtype=dtype, name="embedding")
        x = embedding(inputs)
        for i in range(num_layers):
            x = _lstm(lstm_units, dtype, name=f"lstm{i + 1}")(x)
            if dropout:
                x = layers.Dropout(dropout, dtype=dtype, name=f"dropout{i + 1}")(x)
        super().__init__(inputs, x, args, name, dtype=dtype, **kwargs)
        self.token_embedding = embedding


@keras.saving.register_keras_serializable(package="zoo")
class DecoderBackbone(_BlockLayout, ZooBackbone):
    """token ids -> token and position embedding -> keras-hub TransformerDecoder blocks (causal self-attention,
    no cross-attention) -> final layer norm: a GPT body."""

    decoding_cache = "attention"
    block_name, attention_name = "decoder", "self_attention"

    def __init__(self, vocabulary_size: int, sequence_length: int, embedding_dim: int, num_layers: int,
                 num_heads: int, intermediate_dim: int, dropout: float, name: str | None = None, dtype: Any = None,
                 **kwargs):
        args = _arguments(locals())
        inputs = _token_ids()
        embedding = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size, sequence_length, embedding_dim,
                                                               dtype=dtype, name="embedding")
        x = embedding(inputs)
        for i in range(num_layers):
            x = keras_hub.layers.TransformerDecoder(intermediate_dim, num_heads, dropout=dropout, dtype=dtype,
                                                    name=f"decoder{i + 1}")(x)
        x = layers.LayerNormalization(dtype=dtype, name="final_norm")(x)
        super().__init__(inputs, x, args, name, dtype=dtype, **kwargs)
        self.token_embedding = embedding.token_embedding


# -- tasks: a backbone, a head and a preprocessor --

class _CompiledOnLoad:
    """A keras-hub task's ``compile()`` is its own (defaults for the optimizer, loss and metrics), and Keras then
    skips ``compile_from_config`` when it loads a ``.keras`` archive: the model came back uncompiled, without its
    optimizer's state, and could not train on. Here the saved compile config is compiled again, as Keras does
    for a model whose compile() is Keras' own, so the archive's optimizer state loads into it."""

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)


@keras.saving.register_keras_serializable(package="zoo")
class ZooTextClassifier(_CompiledOnLoad, keras_hub.models.TextClassifier):
    """keras-hub's TextClassifier over a zoo backbone: its pooled features -> dropout -> softmax head.

    Raw strings go in through ``fit``, ``evaluate`` and ``predict`` (the preprocessor runs in ``tf.data``);
    calling the model itself takes token ids, as every keras-hub task does."""

    preprocessor_cls = TokenIdsPreprocessor

    def __init__(self, backbone, num_classes: int, preprocessor=None, dropout: float = 0.0, compile: bool = True,
                 **kwargs):
        self.backbone = backbone
        self.preprocessor = preprocessor
        inputs = backbone.input
        x = layers.Dropout(dropout, dtype=backbone.dtype_policy, name="dropout")(backbone(inputs))
        super().__init__(inputs=inputs, outputs=softmax_head(x, num_classes), compile=False, **kwargs)
        self.num_classes = num_classes
        self.dropout = dropout
        self.activation = keras.activations.softmax  # before compiling: keras-hub's loss reads it (from_logits)
        if compile:  # keras-hub's defaults, as its own tasks compile themselves (zoo.get compiles with the recipe)
            self.compile()

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="zoo")
class ZooCausalLM(_CompiledOnLoad, keras_hub.models.CausalLM):
    """keras-hub's CausalLM over a zoo backbone: a state per position -> next-token logits.

    ``fit`` and ``evaluate`` take raw text and train the next-token objective (:class:`CausalLMTokenIdsPreprocessor`,
    in ``tf.data``); ``generate`` is zoo's cached sampling loop (:func:`zoo.generate`)."""

    preprocessor_cls = CausalLMTokenIdsPreprocessor

    def __init__(self, backbone, preprocessor=None, compile: bool = True, **kwargs):
        self.backbone = backbone
        self.preprocessor = preprocessor
        inputs = backbone.input
        outputs = layers.Dense(backbone.vocabulary_size, dtype="float32", name=LM_HEAD)(backbone(inputs))
        super().__init__(inputs=inputs, outputs=outputs, compile=compile, **kwargs)

    def generate(self, inputs, max_length: int = 200, **kwargs):
        """``zoo.generate(self, prompt, max_length=..., sampler=..., ...)`` for one prompt or a list of them."""
        import zoo  # the public function (zoo.generation imports the models' layers: no circle through it)

        if isinstance(inputs, str):
            return zoo.generate(self, inputs, max_length=max_length, **kwargs)
        return [zoo.generate(self, prompt, max_length=max_length, **kwargs) for prompt in inputs]


# keras-hub pairs each task class with one backbone class (``backbone_cls``): that is how
# ``keras_hub.models.TextClassifier.from_preset(folder)`` finds the task for the backbone a folder holds.

@keras.saving.register_keras_serializable(package="zoo")
class BiLSTMTextClassifier(ZooTextClassifier):
    """lstm_imdb's task: a ZooTextClassifier over a BiLSTMBackbone."""

    backbone_cls = BiLSTMBackbone


@keras.saving.register_keras_serializable(package="zoo")
class EncoderTextClassifier(ZooTextClassifier):
    """transformer_imdb's task: a ZooTextClassifier over an EncoderBackbone."""

    backbone_cls = EncoderBackbone


@keras.saving.register_keras_serializable(package="zoo")
class CharLSTMCausalLM(ZooCausalLM):
    """char_lstm_shakespeare's task: a ZooCausalLM over a CharLSTMBackbone."""

    backbone_cls = CharLSTMBackbone


@keras.saving.register_keras_serializable(package="zoo")
class DecoderCausalLM(ZooCausalLM):
    """gpt_shakespeare's task: a ZooCausalLM over a DecoderBackbone."""

    backbone_cls = DecoderBackbone


_TASKS = {task.backbone_cls: task
          for task in (BiLSTMTextClassifier, EncoderTextClassifier, CharLSTMCausalLM, DecoderCausalLM)}


def word_piece(vocabulary: list[str], sequence_length: int, truncation: str = "head"
               ) -> keras_hub.tokenizers.WordPieceTokenizer:
    """The IMDB classifiers' tokenizer: lowercased WordPiece, ``sequence_length`` tokens, a long text truncated
    as ``truncation`` says (``"head_tail"``: its first quarter, at most 128 tokens, and its end)."""
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {', '.join(TRUNCATIONS)}, got {truncation!r}")
    kwargs = dict(vocabulary=vocabulary, sequence_length=sequence_length, lowercase=True, strip_accents=True,
                  oov_token="[UNK]", name="tokenizer")
    if truncation == "head_tail":
        return HeadTailWordPieceTokenizer(head=min(128, sequence_length // 4), **kwargs)
    return keras_hub.tokenizers.WordPieceTokenizer(**kwargs)


def _classifier(backbone: Any, vocab: list[str], sequence_length: int, truncation: str, num_classes: int,
                dropout: float, name: str, task: type | None = None) -> ZooTextClassifier:
    """The IMDB classifiers' task over ``backbone``: its preprocessor (WordPiece over ``vocab``) and head; the
    task class is the backbone's in _TASKS unless ``task`` names another (nbsvm_imdb's, defined downstream)."""
    preprocessor = TokenIdsPreprocessor(word_piece(vocab, sequence_length, truncation),
                                        empty_token_id=vocab.index("[UNK]"), name="preprocessor")
    return (task or _TASKS[type(backbone)])(backbone, num_classes, preprocessor=preprocessor, dropout=dropout,
                                            name=name, compile=False)


def lstm_imdb(
    *,
    num_classes: int = 2,
    vocabulary: str | Sequence[str] | None = None,
    sequence_length: int = 384,
    embedding_dim: int = 96,
    lstm_units: int = 48,
    dropout: float = 0.4,
    truncation: str = "head",
    bigram_buckets: int = 0,
) -> keras.Model:
    """A bidirectional LSTM sentiment classifier over WordPiece tokens (a keras-hub TextClassifier).

    Raw review text -> (preprocessor, in tf.data) WordPiece, lowercased, ``sequence_length`` tokens ->
    (backbone) masked embedding -> BiLSTM -> max-and-mean pooling of its states over the real tokens ->
    dropout -> softmax. ``truncation`` and ``bigram_buckets`` as for :func:`transformer_imdb`.

    Args:
        num_classes: classes of the softmax head.
        vocabulary: WordPiece tokens (a list, or a file of one token a line); default the shipped IMDB one.
        sequence_length: tokens kept of each text (padded or truncated).
        embedding_dim, lstm_units: widths.
        dropout: in [0, 1).
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    vocab = _vocabulary(vocabulary)
    sequence_length = check_int("sequence_length", sequence_length, minimum=8)
    backbone = BiLSTMBackbone(len(vocab), sequence_length, check_int("embedding_dim", embedding_dim),
                              check_int("lstm_units", lstm_units),
                              bigram_buckets=check_int("bigram_buckets", bigram_buckets, minimum=0))
    return _classifier(backbone, vocab, sequence_length, truncation, num_classes, check_float("dropout", dropout),
                       "lstm_imdb")


def transformer_imdb(
    *,
    num_classes: int = 2,
    vocabulary: str | Sequence[str] | None = None,
    sequence_length: int = 512,
    embedding_dim: int = 64,
    num_layers: int = 1,
    num_heads: int = 4,
    intermediate_dim: int = 128,
    dropout: float = 0.3,
    pooling: str = "mean",
    token_dropout: float = 0.15,
    conv_kernel: int = 0,
    truncation: str = "head",
    bigram_buckets: int = 0,
    mask_padding: bool = True,
) -> keras.Model:
    """A Transformer encoder classifier over WordPiece tokens (a keras-hub TextClassifier).

    Raw review text -> (preprocessor) WordPiece -> (backbone) token and position embedding ->
    ``num_layers`` TransformerEncoder blocks -> pooling over the tokens (``"mean"``, or ``"mean_max"``: the
    mean and the masked maximum side by side) -> dropout -> softmax. ``token_dropout`` drops whole token vectors
    after the embedding in training (word dropout), which keeps the classifier from leaning on a few memorised
    words. ``conv_kernel`` > 0 adds a residual convolution of that width over the tokens before the encoder
    (local n-gram features); 0, none. ``truncation`` of a text longer than ``sequence_length``: ``"head"``
    keeps its first tokens, ``"head_tail"`` its first quarter (at most 128 tokens) and its end
    (:class:`HeadTailWordPieceTokenizer`). ``bigram_buckets`` > 0 adds hashed bigram embeddings of that many
    rows to the token embeddings (:class:`HashedBigramEmbedding`); 0, none. ``mask_padding=False`` lets the
    encoder attend to the padding and the pooling average over it, as in the Keras example this model starts
    from (the shipped weights are trained so: it measured better with the bigrams, docs/EXPERIMENTS.md); an
    empty text still gets its ``[UNK]``.
    """
    if not isinstance(mask_padding, bool):
        raise ValueError(f"mask_padding must be True or False, got {mask_padding!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    num_classes = check_int("num_classes", num_classes, minimum=2)
    vocab = _vocabulary(vocabulary)
    sequence_length = check_int("sequence_length", sequence_length, minimum=8)
    embedding_dim, num_layers, num_heads, intermediate_dim, dropout = check_transformer(
        embedding_dim, num_layers, num_heads, intermediate_dim, dropout)
    backbone = EncoderBackbone(
        len(vocab), sequence_length, embedding_dim, num_layers, num_heads, intermediate_dim, dropout,
        pooling=pooling, token_dropout=check_float("token_dropout", token_dropout),
        conv_kernel=check_int("conv_kernel", conv_kernel, minimum=0),
        bigram_buckets=check_int("bigram_buckets", bigram_buckets, minimum=0), mask_padding=mask_padding)
    return _classifier(backbone, vocab, sequence_length, truncation, num_classes, dropout, "transformer_imdb")


@keras.saving.register_keras_serializable(package="zoo")
class CodepointTokenizer(_Untruncated, keras_hub.tokenizers.UnicodeCodepointTokenizer):
    """keras-hub's UnicodeCodepointTokenizer, which a preset folder can hold: it has no vocabulary, so it saves
    and loads no asset files (keras-hub 0.32's own has no ``save_assets``, and a language model's
    ``save_to_preset`` failed on it). Archives that name keras-hub's class still load."""

    def save_assets(self, dir_path):
        pass

    def load_preset_assets(self, preset):
        pass


def _char_tokenizer(sequence_length: int) -> CodepointTokenizer:
    return CodepointTokenizer(
        sequence_length=sequence_length, vocabulary_size=CHAR_VOCABULARY_SIZE, replacement_char=ord("?"),
        lowercase=False, normalization_form=None, name="tokenizer",
    )


def _causal_lm(backbone: Any, sequence_length: int, name: str) -> ZooCausalLM:
    preprocessor = CausalLMTokenIdsPreprocessor(_char_tokenizer(sequence_length), name="preprocessor")
    return _TASKS[type(backbone)](backbone, preprocessor=preprocessor, name=name, compile=False)


def char_lstm_shakespeare(
    *,
    sequence_length: int = 128,
    embedding_dim: int = 64,
    lstm_units: int = 256,
    num_layers: int = 1,
    dropout: float = 0.1,
) -> keras.Model:
    """A character-level LSTM language model (as char-rnn; a keras-hub CausalLM): raw text in, next-character
    logits out.

    Text -> (preprocessor) ASCII code points (``sequence_length``, zero-padded) -> (backbone) embedding ->
    ``num_layers`` LSTMs -> logits over the 128 code points at every position.
    """
    sequence_length = check_int("sequence_length", sequence_length, minimum=2)
    backbone = CharLSTMBackbone(CHAR_VOCABULARY_SIZE, sequence_length, check_int("embedding_dim", embedding_dim),
                                check_int("lstm_units", lstm_units), check_int("num_layers", num_layers),
                                check_float("dropout", dropout))
    return _causal_lm(backbone, sequence_length, "char_lstm_shakespeare")


def gpt_shakespeare(
    *,
    sequence_length: int = 128,
    embedding_dim: int = 128,
    num_layers: int = 3,
    num_heads: int = 4,
    intermediate_dim: int = 384,
    dropout: float = 0.1,
) -> keras.Model:
    """A small decoder-only (GPT-style) character Transformer (a keras-hub CausalLM): causal self-attention only.

    Text -> (preprocessor) ASCII code points -> (backbone) token and position embedding -> ``num_layers``
    TransformerDecoder blocks (no cross-attention, causal mask) -> final norm -> logits over the 128 code points
    at every position.
    """
    sequence_length = check_int("sequence_length", sequence_length, minimum=2)
    embedding_dim, num_layers, num_heads, intermediate_dim, dropout = check_transformer(
        embedding_dim, num_layers, num_heads, intermediate_dim, dropout)
    backbone = DecoderBackbone(CHAR_VOCABULARY_SIZE, sequence_length, embedding_dim, num_layers, num_heads,
                               intermediate_dim, dropout)
    return _causal_lm(backbone, sequence_length, "gpt_shakespeare")
