"""Cards of the MLP family (plain data: importing this module imports no TensorFlow)."""

from zoo.cards.cnn import MNIST_CLASSES, MNIST_INPUT
from zoo.schema import ModelCard, OutputSpec, Recipe

CARDS: list[ModelCard] = []  # this family's cards, registered by zoo.registry when first asked

CARDS.append(ModelCard(
    name="mlp_mnist", family="mlp", task="image-classification",
    description="A deep fully connected network: three Dense(1024) ReLU layers with dropout on the flattened pixels.",
    builder="zoo.models.mlp:mlp_mnist",
    hparams={"num_classes": 10, "input_shape": (28, 28, 1), "depth": 3, "width": 1024, "dropout": 0.3},
    input=MNIST_INPUT,
    output=OutputSpec(name="probabilities", num_classes=10, class_names=MNIST_CLASSES),
    num_params=2_913_290, feature_shape=(1024,),
    recipe=Recipe(
        dataset="mnist", epochs=20, batch_size=128, optimizer="adam", learning_rate=1e-3, schedule="cosine",
        warmup_epochs=0.5, augmentation=("random_shift_2",), validation_split=0.1,
    ),
    reference="N. Srivastava, G. Hinton et al. Dropout: A Simple Way to Prevent Neural Networks from Overfitting. "
              "JMLR 2014 (the MNIST MLPs of section 6.1.1); Keras example mnist_mlp",
    license="Apache-2.0",
))
