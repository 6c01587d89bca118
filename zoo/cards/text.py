"""Cards of the LSTM and Transformer families (plain data: importing this module imports no TensorFlow)."""

from zoo.data.catalog import CHAR_VOCABULARY_SIZE, DATASETS
from zoo.schema import InputSpec, ModelCard, OutputSpec, Recipe

CARDS: list[ModelCard] = []  # this family's cards, registered by zoo.registry when first asked

IMDB_INPUT = InputSpec(
    name="text", shape=(), dtype="string", kind="text",
    preprocessing="raw review text; the model's preprocessor (keras-hub style, run in tf.data) lowercases and "
                  "WordPiece-tokenises it (15,314-token vocabulary built from the IMDB train split, shipped with the "
                  "package) into token ids for the backbone; a TFLite export takes the token ids, its vocabulary "
                  "and tokenizer settings written beside it",
)
CHAR_INPUT = InputSpec(
    name="text", shape=(), dtype="string", kind="text",
    preprocessing="raw text; the model's preprocessor (run in tf.data) splits it into ASCII code points (others "
                  "become '?'), the token ids the backbone takes",
)
SENTIMENT = OutputSpec(name="probabilities", num_classes=2, class_names=DATASETS["imdb_reviews"].class_names)
NEXT_CHAR = OutputSpec(name="logits", num_classes=CHAR_VOCABULARY_SIZE, activation="linear")

# What each IMDB classifier is against the linear baseline (issue 30): the figures are the default weight sets'.
BASELINE_NOTE = (
    "Against the linear baseline: nbsvm_imdb (NBSVM over the same WordPiece uni- and bigrams, trained in under a "
    "minute) reaches 90.72% on the test split, above lstm_imdb's 87.46% and transformer_imdb's 89.40%; Wang and "
    "Manning's NBSVM-bi over words, 91.22%. Neither network beats the baseline yet (docs/EXPERIMENTS.md)."
)

CARDS.append(ModelCard(
    name="lstm_imdb", family="lstm", task="text-classification",
    description="Bidirectional LSTM sentiment classifier over WordPiece tokens, raw review text in.",
    builder="zoo.models.text:lstm_imdb",
    # imdb_v3's configuration (512 tokens, head+tail, hashed bigrams), chosen on validation by movie over
    # imdb_v2's (384 tokens, head, no bigrams), which still loads by its tag with its own configuration.
    hparams={"num_classes": 2, "vocabulary": None, "sequence_length": 512, "embedding_dim": 96, "lstm_units": 48,
             "dropout": 0.4, "truncation": "head_tail", "bigram_buckets": 16381},
    input=IMDB_INPUT, output=SENTIMENT, num_params=3_098_786, feature_shape=(192,),
    recipe=Recipe(dataset="imdb_reviews", epochs=3, batch_size=64, optimizer="adam", learning_rate=2e-3,
                  schedule="cosine", warmup_epochs=0.1, validation_split=0.1),
    reference="Keras example 'Bidirectional LSTM on IMDB' (keras.io/examples/nlp/bidirectional_lstm_imdb), "
              "with WordPiece tokens and max-and-mean pooling",
    notes=BASELINE_NOTE,
))

CARDS.append(ModelCard(
    name="transformer_imdb", family="transformer", task="text-classification",
    description="Transformer encoder sentiment classifier (keras-hub TokenAndPositionEmbedding + TransformerEncoder), "
                "with hashed bigram embeddings, word dropout and head+tail truncation of long reviews.",
    builder="zoo.models.text:transformer_imdb",
    hparams={"num_classes": 2, "vocabulary": None, "sequence_length": 512, "embedding_dim": 64, "num_layers": 1,
             "num_heads": 4, "intermediate_dim": 128, "dropout": 0.3, "pooling": "mean", "token_dropout": 0.15,
             "conv_kernel": 0, "truncation": "head_tail", "bigram_buckets": 32749,
             "mask_padding": False},
    input=IMDB_INPUT, output=SENTIMENT, num_params=3_142_402, feature_shape=(64,),
    recipe=Recipe(dataset="imdb_reviews", epochs=2, batch_size=64, optimizer="adamw", learning_rate=1e-3,
                  weight_decay=0.01, schedule="cosine", warmup_epochs=0.2, validation_split=0.1),
    reference="Keras example 'Text classification with Transformer' (keras.io/examples/nlp/text_classification_with_transformer); "
              "bigram features as in fastText (Joulin et al. 2017); head+tail truncation (Sun et al. 2019)",
    notes=BASELINE_NOTE,
))

CARDS.append(ModelCard(
    name="nbsvm_imdb", family="linear", task="text-classification",
    description="NBSVM, the linear baseline over uni- and bigrams (naive-Bayes log-count ratios, then a trained "
                "weight per feature), written as a keras-hub TextClassifier over zoo's WordPiece tokens; trains in "
                "minutes.",
    builder="zoo.models.nbsvm:nbsvm_imdb",
    hparams={"num_classes": 2, "vocabulary": None, "sequence_length": 1024, "buckets": 524_287,
             "interpolation": 0.05, "scale": 0.1, "l2": 0.0, "truncation": "head_tail"},
    input=IMDB_INPUT, output=SENTIMENT, num_params=1_079_207, feature_shape=(1,),
    # chosen on validation by movie among 20 configurations (scripts/experiments/nbsvm_imdb.py, docs/EXPERIMENTS.md)
    recipe=Recipe(dataset="imdb_reviews", epochs=2, batch_size=64, optimizer="adam", learning_rate=3e-3,
                  schedule="cosine", warmup_epochs=0.0, validation_split=0.1),
    reference="S. Wang and C. Manning, Baselines and Bigrams: Simple, Good Sentiment and Topic Classification, "
              "ACL 2012 (NBSVM-bi: 91.22% on IMDB); J. Howard's NB-SVM strong linear baseline (w + 0.4 on NB ratios)",
    notes="The baseline zoo's IMDB networks are measured against. imdb_v2, the default, is imdb_v1's recipe (chosen "
          "on validation by movie among 20 configurations: interpolation 0.05, 2 epochs) retrained unchanged on all "
          "25,000 training reviews (zoo.train(validation_split=0)): 90.72% on the test split, 0.5 points under the "
          "paper's NBSVM-bi over words (91.22%) and 0.28 under the issue's 91.0; imdb_v1, trained on the 22,497 "
          "reviews left after the validation movies, 90.51%. Naive Bayes alone (w = 0) gave 85.8% on validation "
          "(the paper's MNB-bi: 86.59%). Over zoo's WordPiece tokens (subwords of a 15,314-token vocabulary, "
          "lowercased), bigrams folded into 524,287 rows.",
))

LM_RECIPE = dict(dataset="tiny_shakespeare", batch_size=64, loss="sparse_categorical_crossentropy_from_logits",
                 metrics=("accuracy",), monitor="val_loss", validation_split=0.0, schedule="cosine")

CARDS.append(ModelCard(
    name="char_lstm_shakespeare", family="lstm", task="language-modeling",
    description="Character-level LSTM language model in the manner of char-rnn: raw text in, next-character logits out.",
    builder="zoo.models.text:char_lstm_shakespeare",
    hparams={"sequence_length": 128, "embedding_dim": 64, "lstm_units": 256, "num_layers": 1, "dropout": 0.1},
    input=CHAR_INPUT, output=NEXT_CHAR, num_params=369_792,
    recipe=Recipe(epochs=25, optimizer="adam", learning_rate=4e-3, warmup_epochs=0.1, **LM_RECIPE),
    reference="A. Karpathy, char-rnn (2015); The Unreasonable Effectiveness of Recurrent Neural Networks",
))

CARDS.append(ModelCard(
    name="gpt_shakespeare", family="transformer", task="language-modeling",
    description="A small decoder-only character Transformer (keras-hub TransformerDecoder, causal attention).",
    builder="zoo.models.text:gpt_shakespeare",
    hparams={"sequence_length": 128, "embedding_dim": 128, "num_layers": 3, "num_heads": 4, "intermediate_dim": 384,
             "dropout": 0.1},
    input=CHAR_INPUT, output=NEXT_CHAR, num_params=545_664,
    recipe=Recipe(epochs=16, optimizer="adamw", learning_rate=2e-3, weight_decay=0.01, warmup_epochs=0.2, **LM_RECIPE),
    reference="A. Radford et al. 2018 (GPT); A. Karpathy, nanoGPT's shakespeare_char",
))

CARDS.append(ModelCard(
    name="vit_mnist", family="transformer", task="image-classification",
    description="A Vision Transformer on MNIST: 4x4 patches, 4 pre-norm keras-hub TransformerEncoder blocks, mean pooling.",
    builder="zoo.models.vit:vit_mnist",
    hparams={"num_classes": 10, "input_shape": (28, 28, 1), "patch_size": 4, "embedding_dim": 64, "num_layers": 4,
             "num_heads": 4, "intermediate_dim": 128, "dropout": 0.1},
    input=InputSpec(name="image", shape=(28, 28, 1), dtype="uint8", value_range=(0, 255), kind="image",
                    preprocessing="grayscale, white digit on black; rescaled to [0, 1] inside the model"),
    output=OutputSpec(name="probabilities", num_classes=10, class_names=tuple(str(d) for d in range(10))),
    num_params=138_890, feature_shape=(49, 64),
    recipe=Recipe(dataset="mnist", epochs=20, batch_size=128, optimizer="adamw", learning_rate=2e-3,
                  weight_decay=0.05, schedule="cosine", warmup_epochs=1.0, augmentation=("random_shift_2",)),
    reference="A. Dosovitskiy et al. An Image is Worth 16x16 Words. ICLR 2021; Keras example 'Image classification with Vision Transformer'",
))
