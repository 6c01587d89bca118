"""What each dataset is, where its local copy lives and how big its splits are (plain data, no TensorFlow)."""

from __future__ import annotations

import dataclasses


CHAR_VOCABULARY_SIZE = 128  # the character models' vocabulary: ASCII code points; others become "?"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str  # the zoo's name, also the TFDS name
    tfds_name: str
    kind: str  # "image", "text", "corpus"
    splits: dict[str, int]  # published split -> number of examples (characters for a corpus)
    local_layout: str  # how the publisher's copy looks, for error messages
    local_dir: str  # the sub-folder of ZOO_DATA_DIR / data_dir that holds it
    license: str
    citation: str
    class_names: tuple[str, ...] = ()


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo(
            name="mnist", tfds_name="mnist", kind="image", splits={"train": 60_000, "test": 10_000},
            local_layout="mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (the original IDX files)",
            local_dir="mnist", license="CC BY-SA 3.0",
            citation="Y. LeCun, C. Cortes, C. Burges. The MNIST database of handwritten digits.",
            class_names=tuple(str(d) for d in range(10)),
        ),
        DatasetInfo(
            name="fashion_mnist", tfds_name="fashion_mnist", kind="image", splits={"train": 60_000, "test": 10_000},
            local_layout="fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (the original IDX files)",
            local_dir="fashion_mnist", license="MIT",
            citation="H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking "
                     "Machine Learning Algorithms. Zalando Research, 2017.",
            class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"),
        ),
        DatasetInfo(
            name="cifar10", tfds_name="cifar10", kind="image", splits={"train": 50_000, "test": 10_000},
            local_layout="cifar10/cifar-10-binary.tar.gz or cifar10/cifar-10-batches-bin/ (the binary version), or "
                         "cifar10/cifar-10-python.tar.gz or cifar10/cifar-10-batches-py/ (the python version)",
            local_dir="cifar10", license="MIT-style (A. Krizhevsky)",
            citation="A. Krizhevsky. Learning Multiple Layers of Features from Tiny Images. 2009.",
            class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        ),
        DatasetInfo(
            name="imdb_reviews", tfds_name="imdb_reviews", kind="text", splits={"train": 25_000, "test": 25_000},
            local_layout="imdb/aclImdb/{train,test}/{pos,neg}/*.txt or imdb/aclImdb_v1.tar.gz (the original archive)",
            local_dir="imdb", license="research use (A. Maas et al.)",
            citation="A. Maas et al. Learning Word Vectors for Sentiment Analysis. ACL 2011.",
            class_names=("negative", "positive"),
        ),
        DatasetInfo(
            name="tiny_shakespeare", tfds_name="tiny_shakespeare", kind="corpus",
            splits={"train": 1_003_854, "validation": 55_770, "test": 55_770},
            local_layout="tinyshakespeare/input.txt (char-rnn's file)",
            local_dir="tinyshakespeare", license="public domain",
            citation="A. Karpathy, char-rnn (2015): works of Shakespeare.",
        ),
    )
}
