"""Cards of the entries backed by keras-hub presets (plain data: importing this module imports no TensorFlow).

Their weights were trained elsewhere and are downloaded by keras-hub (from Kaggle Models) on first use; zoo
fine-tunes them with its recipes. A figure on these cards is reported elsewhere, with its source, unless a
manifest entry says zoo measured it. Parameter counts are keras-hub's, plus the head zoo puts on.
"""

from zoo.cards.cnn import CIFAR10_CLASSES
from zoo.cards.text import SENTIMENT
from zoo.schema import HubPreset, InputSpec, ModelCard, OutputSpec, Recipe

CARDS: list[ModelCard] = []  # this family's cards, registered by zoo.registry when first asked

BERT_PAPER = "J. Devlin et al. BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding. NAACL 2019"
BERT_SMALL_MODELS = "I. Turc et al. Well-Read Students Learn Better (2019); google-research/bert README, GLUE test table"
BERT_TRAINED_ON = "English Wikipedia + BooksCorpus (masked language modelling)"

CARDS.append(ModelCard(
    name="bert_classifier", family="transformer", task="text-classification",
    description="keras-hub's BertTextClassifier fine-tuned from a pretrained BERT preset: raw text in, class "
                "probabilities out.",
    builder="zoo.models.hub:bert_text_classifier",
    hparams={"preset": "bert_tiny_en_uncased", "num_classes": 2, "sequence_length": 256, "dropout": 0.1},
    input=InputSpec(name="text", shape=(), dtype="string", kind="text",
                    preprocessing="raw text; lowercased WordPiece with the preset's vocabulary, [CLS] text [SEP], "
                                  "sequence_length tokens, in the task's preprocessor"),
    output=SENTIMENT,
    num_params=4_386_178,
    recipe=Recipe(dataset="imdb_reviews", epochs=3, batch_size=32, optimizer="adamw", learning_rate=5e-5,
                  weight_decay=0.01, schedule="cosine", warmup_epochs=0.1, validation_split=0.1,
                  fine_tune_lr_factor=1.0),
    reference=BERT_PAPER,
    license="Apache-2.0",
    presets=(
        HubPreset(name="bert_tiny_en_uncased", num_params=4_385_920, license="Apache-2.0",
                  source="Kaggle Models keras/bert/keras/bert_tiny_en_uncased/3 (through keras-hub)",
                  trained_on=BERT_TRAINED_ON, reported_metrics={"sst2_accuracy": 83.2, "glue_score": 64.2},
                  reported_source=BERT_SMALL_MODELS),
        HubPreset(name="bert_small_en_uncased", num_params=28_763_648, license="Apache-2.0",
                  source="Kaggle Models keras/bert/keras/bert_small_en_uncased/3 (through keras-hub)",
                  trained_on=BERT_TRAINED_ON, reported_metrics={"sst2_accuracy": 89.7, "glue_score": 71.2},
                  reported_source=BERT_SMALL_MODELS),
        HubPreset(name="bert_base_en_uncased", num_params=109_482_240, license="Apache-2.0",
                  source="Kaggle Models keras/bert/keras/bert_base_en_uncased/3 (through keras-hub)",
                  trained_on=BERT_TRAINED_ON, reported_metrics={"sst2_accuracy": 93.5, "glue_score": 79.6},
                  reported_source=BERT_PAPER + ", Table 1 (GLUE test)"),
    ),
))

CARDS.append(ModelCard(
    name="gpt2_lm", family="transformer", task="language-modeling",
    description="keras-hub's GPT2CausalLM from a pretrained GPT-2 preset: raw text in, next-token logits out; "
                "generates with keras-hub's samplers.",
    builder="zoo.models.hub:gpt2_causal_lm",
    hparams={"preset": "gpt2_base_en", "sequence_length": 128},
    input=InputSpec(name="text", shape=(), dtype="string", kind="text",
                    preprocessing="raw text; GPT-2 byte-pair tokens (50,257-token vocabulary), sequence_length "
                                  "tokens, in the task's preprocessor"),
    output=OutputSpec(name="logits", num_classes=50_257, activation="linear"),
    num_params=124_439_808,
    recipe=Recipe(dataset="tiny_shakespeare", epochs=1, batch_size=16, optimizer="adamw", learning_rate=5e-5,
                  weight_decay=0.01, schedule="cosine", warmup_epochs=0.1, validation_split=0.0,
                  fine_tune_lr_factor=1.0,
                  loss="sparse_categorical_crossentropy_from_logits", metrics=("accuracy",), weighted_metrics=True,
                  monitor="val_loss"),
    reference="A. Radford et al. Language Models are Unsupervised Multitask Learners. OpenAI 2019",
    license="MIT",
    presets=(
        HubPreset(name="gpt2_base_en", num_params=124_439_808, license="MIT",
                  source="Kaggle Models keras/gpt2/keras/gpt2_base_en/3 (through keras-hub)",
                  trained_on="WebText (OpenAI)",
                  reported_metrics={"wikitext103_perplexity": 37.50, "lambada_perplexity": 35.13},
                  reported_source="Radford et al. 2019, Table 3 (zero-shot, the 117M model)"),
        HubPreset(name="gpt2_medium_en", num_params=354_823_168, license="MIT",
                  source="Kaggle Models keras/gpt2/keras/gpt2_medium_en/3 (through keras-hub)",
                  trained_on="WebText (OpenAI)",
                  reported_metrics={"wikitext103_perplexity": 26.37, "lambada_perplexity": 15.60},
                  reported_source="Radford et al. 2019, Table 3 (zero-shot, the 345M model)"),
    ),
))

CARDS.append(ModelCard(
    name="vit_classifier", family="transformer", task="image-classification",
    description="keras-hub's ViTImageClassifier fine-tuned from a pretrained ViT preset; uint8 images in, resized "
                "to the preset's resolution inside its preprocessor.",
    builder="zoo.models.hub:vit_image_classifier",
    hparams={"preset": "vit_base_patch16_224_imagenet", "num_classes": 10, "dropout": 0.0},
    input=InputSpec(name="image", shape=(32, 32, 3), dtype="uint8", value_range=(0, 255), kind="image",
                    preprocessing="RGB; resized to the preset's resolution (224x224) and rescaled in the task's "
                                  "image converter"),
    output=OutputSpec(name="probabilities", num_classes=10, class_names=CIFAR10_CLASSES),
    num_params=85_806_346,
    # The ViT paper's fine-tuning: SGD with momentum 0.9, no weight decay, cosine decay after a warm-up.
    recipe=Recipe(dataset="cifar10", epochs=3, batch_size=64, optimizer="sgd", learning_rate=3e-3, momentum=0.9,
                  schedule="cosine", warmup_epochs=0.2, augmentation=("flip_left_right",), validation_split=0.1,
                  fine_tune_lr_factor=1.0),
    reference="A. Dosovitskiy et al. An Image is Worth 16x16 Words. ICLR 2021",
    license="Apache-2.0",
    presets=(
        HubPreset(name="vit_base_patch16_224_imagenet", num_params=85_798_656, license="Apache-2.0",
                  source="Kaggle Models keras/vit/keras/vit_base_patch16_224_imagenet/4 (through keras-hub)",
                  trained_on="ImageNet-21k, fine-tuned on ImageNet-1k at 224x224 (google-research/vision_transformer)"),
        HubPreset(name="vit_base_patch16_224_imagenet21k", num_params=85_798_656, license="Apache-2.0",
                  source="Kaggle Models keras/vit/keras/vit_base_patch16_224_imagenet21k/3 (through keras-hub)",
                  trained_on="ImageNet-21k at 224x224 (google-research/vision_transformer)"),
    ),
    notes="zoo has not fine-tuned this entry on CIFAR-10 (ViT-Base at 224x224 is far beyond the 2 CPU cores zoo's "
          "weights are trained on): its head is new; fine-tune it with `zoo train vit_classifier`",
))
