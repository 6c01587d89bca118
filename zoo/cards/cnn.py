"""Cards of the CNN family (plain data: importing this module imports no TensorFlow)."""

from zoo.registry import InputSpec, ModelCard, OutputSpec, Recipe, register_card

MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

MNIST_INPUT = InputSpec(
    name="image", shape=(28, 28, 1), dtype="uint8", value_range=(0, 255), kind="image",
    preprocessing="grayscale, white digit on black as in MNIST; rescaled to [0, 1] inside the model",
)
CIFAR_INPUT = InputSpec(
    name="image", shape=(32, 32, 3), dtype="uint8", value_range=(0, 255), kind="image",
    preprocessing="RGB; rescaled and normalised inside the model",
)
CIFAR_NO_DATA = (
    "no pretrained weights: CIFAR-10 cannot be downloaded where zoo's weights are trained; "
    "train your own with `zoo train NAME --data-dir DIR` (DIR holding cifar-10-batches-py/ or its tar.gz)"
)

# He et al. 2016, section 4.2: SGD with momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 divided by 10 at
# 32k and 48k iterations, stopped at 64k (about 164 epochs on 45k/5k train/val), crop + flip augmentation.
RESNET_CIFAR_RECIPE = Recipe(
    dataset="cifar10", epochs=164, batch_size=128, optimizer="sgd", learning_rate=0.1, momentum=0.9,
    weight_decay=1e-4, schedule="piecewise", boundaries=(82.0, 123.0), decay_factor=0.1,
    augmentation=("pad_crop_4", "flip_left_right"), validation_split=0.1,
)

register_card(ModelCard(
    name="cnn_mnist", family="cnn", task="image-classification", dataset="mnist",
    description="Compact VGG-style convnet (three conv-BN-ReLU-pool stages, softmax) for handwritten digits; above 99% after one epoch on a CPU.",
    builder="zoo.models.cnn:cnn_mnist",
    hparams={"num_classes": 10, "input_shape": (28, 28, 1), "filters": (32, 64, 128), "dropout": 0.0},
    input=MNIST_INPUT,
    output=OutputSpec(name="probabilities", num_classes=10, class_names=MNIST_CLASSES),
    num_params=104_874,
    # Warm restarts (SGDR): cycles of 1, 2, 4 and 8 epochs, each ending at a learning rate of zero, so that the
    # model is already good at the end of the first epoch (above 99% on the test split) and best at the end.
    recipe=Recipe(
        dataset="mnist", epochs=15, batch_size=64, optimizer="adam", learning_rate=2e-3, schedule="cosine_restarts",
        cycle_epochs=1.0, cycle_mult=2.0, augmentation=("random_shift_2",), validation_split=0.1,
    ),
    reference="Improves on the Keras example 'Simple MNIST convnet' (keras.io/examples/vision/mnist_convnet) "
              "with batch norm, a third stage, shift augmentation and warm restarts (Loshchilov and Hutter, "
              "SGDR, ICLR 2017)",
    license="Apache-2.0",
))

register_card(ModelCard(
    name="resnet20_cifar10", family="cnn", task="image-classification", dataset="cifar10",
    description="ResNet-20 for CIFAR-10 (3 stages of 3 basic blocks, parameter-free shortcuts); the paper reports 8.75% error.",
    builder="zoo.models.cnn:resnet_cifar",
    hparams={"depth": 20, "num_classes": 10, "input_shape": (32, 32, 3), "width": 16},
    input=CIFAR_INPUT,
    output=OutputSpec(name="probabilities", num_classes=10, class_names=CIFAR10_CLASSES),
    num_params=271_098,
    recipe=RESNET_CIFAR_RECIPE,
    reference="K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016, section 4.2",
    notes=CIFAR_NO_DATA,
))

register_card(ModelCard(
    name="resnet56_cifar10", family="cnn", task="image-classification", dataset="cifar10",
    description="ResNet-56 for CIFAR-10 (3 stages of 9 basic blocks, parameter-free shortcuts); the paper reports 6.97% error.",
    builder="zoo.models.cnn:resnet_cifar",
    hparams={"depth": 56, "num_classes": 10, "input_shape": (32, 32, 3), "width": 16},
    input=CIFAR_INPUT,
    output=OutputSpec(name="probabilities", num_classes=10, class_names=CIFAR10_CLASSES),
    num_params=857_082,
    recipe=RESNET_CIFAR_RECIPE,
    reference="K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016, section 4.2",
    notes=CIFAR_NO_DATA,
))

register_card(ModelCard(
    name="mobilenet_v2_cifar10", family="cnn", task="image-classification", dataset="cifar10",
    description="MobileNetV2 (width 0.5) adapted to 32x32 inputs: inverted residuals and depthwise convolutions for small devices.",
    builder="zoo.models.cnn:mobilenet_v2_cifar",
    hparams={"num_classes": 10, "input_shape": (32, 32, 3), "width_multiplier": 0.5, "last_channels": 1280, "dropout": 0.2},
    input=CIFAR_INPUT,
    output=OutputSpec(name="probabilities", num_classes=10, class_names=CIFAR10_CLASSES),
    num_params=719_034,
    recipe=Recipe(
        dataset="cifar10", epochs=200, batch_size=128, optimizer="sgd", learning_rate=0.1, momentum=0.9,
        weight_decay=4e-5, schedule="cosine", warmup_epochs=2.0,
        augmentation=("pad_crop_4", "flip_left_right"), validation_split=0.1,
    ),
    reference="M. Sandler et al. MobileNetV2: Inverted Residuals and Linear Bottlenecks. CVPR 2018",
    notes=CIFAR_NO_DATA,
))
