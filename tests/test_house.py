"""The house (issue 15): one definition of each public function, a CLI that follows the library, no import
circles, short functions, settings read in one place, old spellings kept with a warning, and the behaviours a
careful user was surprised by."""

from __future__ import annotations

import argparse
import ast
import inspect

import numpy as np
import pytest

import zoo
from tests.conftest import ROOT, run_cli
from zoo import cli
from zoo._compat import ZooDeprecationWarning

ZOO = ROOT / "zoo"


# ------------------------------------------------------------------------------ one definition, one road


def test_public_functions_are_the_implementations_themselves():
    from zoo import api, exporting, generation, prediction, registry, training

    assert zoo.get is api.get and zoo.verify is api.verify
    assert zoo.train is training.train and zoo.evaluate is training.evaluate
    assert zoo.export is exporting.export and zoo.predict is prediction.predict and zoo.generate is generation.generate
    assert zoo.list_models is registry.list_models and zoo.info is registry.info and zoo.register is registry.register
    for name in ("get", "train", "evaluate", "verify", "export", "predict", "generate", "info", "register"):
        doc = getattr(zoo, name).__doc__
        assert doc and len(doc.strip()) > 80 and "See :func:" not in doc, name
    tree = ast.parse((ZOO / "__init__.py").read_text())
    assert not [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("__")]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


LIBRARY = {"list": "list_models", "info": "info", "train": "train", "evaluate": "evaluate", "verify": "verify",
           "export": "export", "predict": "predict", "generate": "generate"}


def test_every_cli_option_is_a_library_parameter_of_the_same_name():
    for command, sub in _subcommands().items():
        fn = getattr(zoo, LIBRARY[command])
        params = inspect.signature(fn).parameters
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.dest in cli.CLI_ONLY:
                continue
            assert action.dest in params, f"zoo {command} {'/'.join(action.option_strings) or action.dest} -> " \
                                          f"{action.dest!r} is not a parameter of zoo.{fn.__name__}"


def test_the_cli_passes_what_it_parsed_and_leaves_library_defaults_alone():
    parser = cli.build_parser()
    args = parser.parse_args(["train", "cnn_mnist", "--epochs", "2", "--no-resume", "--data", "mnist"])
    kwargs = cli.library_kwargs(args, zoo.train)
    assert kwargs == {"name": "cnn_mnist", "epochs": 2, "resume": False, "data": "mnist", "verbose": 1,
                      "strategy": "auto"}
    args = parser.parse_args(["evaluate", "cnn_mnist", "--weights", "mnist_v2"])  # the old spelling, same option
    assert cli.library_kwargs(args, zoo.evaluate) == {"name_or_model": "cnn_mnist", "pretrained": "mnist_v2",
                                                      "split": "test"}


# ------------------------------------------------------------------------------------- structure checks


def _zoo_modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(ZOO.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text())
    return out


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The zoo modules ``name`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("zoo"))
    return {m for m in found if m in known and m != name}


def test_no_import_circles():
    modules = _zoo_modules()
    known = set(modules)
    graph = {name: _imports(name, tree, known) - {"zoo"} for name, tree in modules.items()}
    # a package's __init__ imports its submodules by design; a submodule importing its package is the circle
    cycles = []

    def visit(node, path):
        for nxt in graph.get(node, ()):
            if nxt in path:
                cycle = path[path.index(nxt):] + [nxt]
                if not all(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(cycle, cycle[1:])):
                    cycles.append(" -> ".join(cycle))
            elif len(path) < 12:
                visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])
    assert not cycles, sorted(set(cycles))[:5]


def _code_lines(fn: ast.FunctionDef) -> int:
    body = fn.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring does not count
    return fn.end_lineno - body[0].lineno + 1


def test_no_function_in_zoo_is_longer_than_sixty_lines():
    long = [f"{name}:{fn.lineno} {fn.name} ({_code_lines(fn)} lines)"
            for name, tree in _zoo_modules().items() for fn in ast.walk(tree)
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(fn) > 60]
    assert not long, long


def test_the_environment_is_read_in_one_module():
    readers = sorted(name for name, tree in _zoo_modules().items()
                     if any(isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.startswith("ZOO_")
                            and n.value.isupper() for n in ast.walk(tree)))
    assert readers == ["zoo.settings"], readers


def test_readme_architecture_names_the_modules_that_exist():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Architecture"):]
    section = section[: section.index("\n## ", 4)]
    named = {m for m in _zoo_modules() if f"`{m.replace('.', '/')}.py`" in section or f"`{m.replace('.', '/')}/`" in section}
    for module in ("zoo.registry", "zoo.schema", "zoo.cards", "zoo.api", "zoo.training", "zoo.data", "zoo.exporting",
                   "zoo.settings", "zoo.cli", "zoo.weights", "zoo.distribute"):
        assert module in named, f"the README's architecture section does not name {module}"


# ----------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_zoo_offline_means_no_network_anywhere(value, monkeypatch, tmp_path):
    from zoo import settings

    monkeypatch.setenv("ZOO_OFFLINE", value)
    assert settings.offline()
    calls = []
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds, "builder", lambda *a, **k: calls.append(a))
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    with pytest.raises(zoo.DataNotFoundError, match="ZOO_OFFLINE"):
        zoo.data.load("mnist", "test")
    assert calls == [], f"TFDS was asked although ZOO_OFFLINE={value}"


def test_cli_debug_shows_the_traceback_and_plain_runs_do_not():
    plain = run_cli("info", "no_such_model")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
    for args, env in ((("--debug", "info", "no_such_model"), None), (("info", "no_such_model"), {"ZOO_DEBUG": "1"})):
        out = run_cli(*args, env=env)
        assert out.returncode == 2 and "Traceback" in out.stderr and "registry.py" in out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("zoo: error: unknown model")


@pytest.mark.slow
def test_cli_turns_an_os_error_into_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = run_cli("train", "cnn_mnist", "--epochs", "1", "--model-dir", str(blocker / "run"),
                  env={"ZOO_DATA_DIR": str(tmp_path)})
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    ours = [line for line in out.stderr.splitlines() if line.strip() and not _tensorflow_noise(line)]
    assert len(ours) == 1 and ours[0].startswith("zoo: error:") and "Not a directory" in ours[0], ours


def _tensorflow_noise(line: str) -> bool:
    """What TensorFlow's CPU wheel writes to stderr on import, before any logging setting applies (its CUDA
    stubs logging through absl): not zoo's."""
    return line.startswith(("WARNING: All log messages before absl", "I0000 ", "E0000 ", "W0000 "))


# -------------------------------------------------------------------------------- names and old spellings


def test_one_vocabulary_and_the_old_spellings_warn():
    for fn in (zoo.get, zoo.evaluate, zoo.export, zoo.predict, zoo.generate):
        params = inspect.signature(fn).parameters
        assert "pretrained" in params and "weights" not in params, fn.__name__
    for fn in (zoo.evaluate, zoo.export, zoo.predict, zoo.generate):
        assert next(iter(inspect.signature(fn).parameters)) == "name_or_model", fn.__name__
    assert issubclass(zoo.InputError, zoo.ZooError) and "InputError" in zoo.__all__
    with pytest.warns(ZooDeprecationWarning, match=r"evaluate\(weights=.*use pretrained="):
        with pytest.raises(zoo.WeightsError):  # the old spelling reached the new parameter
            zoo.evaluate("cnn_mnist", weights="no_such_tag")
    with pytest.warns(ZooDeprecationWarning, match=r"export\(model_or_name=.*use name_or_model="):
        with pytest.raises(zoo.ExportError, match="unknown export format"):
            zoo.export(model_or_name="cnn_mnist", path="x", format="nope")
    with pytest.raises(TypeError, match="old name of pretrained"):
        zoo.evaluate("cnn_mnist", weights="a", pretrained="b")


def test_a_card_takes_its_dataset_from_its_recipe():
    card = zoo.info("cnn_mnist")
    assert card.dataset == card.recipe.dataset == "mnist"
    import dataclasses

    with pytest.raises(ValueError, match="disagrees with its recipe"):
        dataclasses.replace(card, name="x", dataset="cifar10")
    assert dataclasses.replace(card, name="y", dataset="mnist").dataset == "mnist"  # the old spelling, agreeing


def test_class_names_are_the_dataset_catalogs():
    from zoo.data import DATASETS

    for name in zoo.list_models(task="*classification"):
        card = zoo.info(name)
        if card.output.class_names and card.dataset in DATASETS:
            assert card.output.class_names == DATASETS[card.dataset].class_names, name


# ------------------------------------------------------------------------------ surprising behaviours


def test_get_compiles_a_constant_rate_a_users_fit_can_use_as_it_is():
    import keras

    for name in ("char_lstm_shakespeare", "cnn_mnist", "resnet20_cifar10"):
        model = zoo.get(name)
        lr = model.optimizer.learning_rate
        assert not isinstance(model.optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule), name
        assert float(lr) == pytest.approx(zoo.info(name).recipe.learning_rate), name


@pytest.mark.slow
def test_evaluate_leaves_the_callers_model_as_it_was(tmp_path):
    import keras

    from tests.test_training import write_learnable_mnist

    data = write_learnable_mnist(tmp_path / "data", n_train=40, n_test=30)
    model = zoo.get("cnn_mnist", pretrained=True, compile=False)
    sgd = keras.optimizers.SGD(0.05, momentum=0.5)
    model.compile(optimizer=sgd, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.zeros((8, 28, 28, 1), np.uint8)
    model.fit(x, np.zeros(8, int), verbose=0)
    state = [v.numpy().copy() for v in sgd.variables]
    weights = [w.copy() for w in model.get_weights()]
    result = zoo.evaluate(model, data_dir=data)
    assert result["num_examples"] == 30 and 0 <= result["accuracy"] <= 1
    assert model.optimizer is sgd and int(sgd.iterations.numpy()) == 1
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(state, sgd.variables))
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert model.loss == "sparse_categorical_crossentropy"
