# The two commands of a fresh machine (see README.md):
#   make train   set up, then train cnn_mnist with its recipe on the real MNIST and evaluate it
#   make test    set up, then run the test suite
PYTHON ?= python3
VENV ?= .venv
ZOO_DATA_DIR ?= $(abspath ../shared/data)
export ZOO_DATA_DIR

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[tf,jax,test]"
	touch $@

.PHONY: setup train test test-fast test-release benchmark
setup: $(VENV)/.installed

train: setup
	$(VENV)/bin/zoo train cnn_mnist --model-dir runs/cnn_mnist --verbose 2
	$(VENV)/bin/zoo evaluate cnn_mnist --weights runs/cnn_mnist/best.weights.h5

# Two pytest workers, a test module to each at a time (its fixtures built once): the suite is mostly one-thread
# work (imports, graph building, subprocesses), so two of them share 2 cores well.
TEST_WORKERS ?= 2

# The suite on TensorFlow, then its backend-sensitive tests (marked `jax`) on JAX over 8 virtual CPU devices.
JAX_ENV = KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=8

test: setup
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadscope
	$(JAX_ENV) $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadscope

test-fast: setup
	$(VENV)/bin/python -m pytest -m "not slow"

# The card figures too slow for every run (CIFAR and IMDB test splits: 1.5 to 9 minutes each on 2 cores) and the
# largest XLA compilations: before a release.
test-release: setup
	$(VENV)/bin/python -m pytest -m release
	$(JAX_ENV) $(VENV)/bin/python -m pytest -m release

benchmark: setup
	$(VENV)/bin/python benchmarks/run_all.py
