"""The `zoo` command line, run as a real subprocess."""

from __future__ import annotations

import json

import pytest

import zoo
from tests.conftest import run_cli


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"zoo {zoo.__version__}"


def test_list_prints_a_table():
    out = run_cli("list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["name", "family", "task", "dataset", "params", "pretrained", "weights"]
    assert set(lines[1]) <= {"-", " "}
    names = [line.split()[0] for line in lines[2:]]
    assert names == zoo.list_models()
    assert any(line.startswith("resnet20_cifar10") and "0.27M" in line for line in lines)


def test_list_filters():
    out = run_cli("list", "resnet*", "--family", "cnn")
    assert [line.split()[0] for line in out.stdout.splitlines()[2:]] == ["resnet20_cifar10", "resnet56_cifar10"]
    pretrained = run_cli("list", "--pretrained")
    expected = zoo.list_models(pretrained=True)
    if expected:
        assert [line.split()[0] for line in pretrained.stdout.splitlines()[2:]] == expected
    else:
        assert pretrained.returncode == 1 and "no models match" in pretrained.stderr


def test_list_json():
    out = run_cli("list", "cnn_*", "--json")
    data = json.loads(out.stdout)
    assert [d["name"] for d in data] == ["cnn_fashion_mnist", "cnn_mnist"]


def test_info_text_and_json():
    text = run_cli("info", "cnn_mnist")
    assert text.returncode == 0 and text.stdout.strip() == str(zoo.info("cnn_mnist"))
    as_json = run_cli("info", "cnn_mnist", "--json")
    assert json.loads(as_json.stdout) == zoo.info("cnn_mnist").to_dict()


@pytest.mark.parametrize(
    "args, message",
    [
        (("info", "cnn_mnst"), "zoo: error: unknown model 'cnn_mnst'; did you mean 'cnn_mnist'"),
        (("list", "--family", "rnn"), "zoo: error: family 'rnn' is not one of"),
        (("frobnicate",), "zoo: argument COMMAND: invalid choice: 'frobnicate'"),
        (("info",), "zoo info: the following arguments are required: name"),
        (("train", "cnn_mnist", "--epochs", "0"), "expected a positive integer, got 0"),
        (("train", "cnn_mnist", "--data-dir", "/no/such/dir"), "no such directory: /no/such/dir"),
        (("evaluate", "cnn_mnist", "--pretrained", "nope"),
         "zoo: error: cnn_mnist has no weights tagged 'nope'; available: 'mnist_v2'"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_status_2(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert message in lines[0]


def test_help_everywhere(cli):
    for args in (("--help",), ("list", "--help"), ("info", "--help"), ("train", "--help"), ("evaluate", "--help"),
                 ("verify", "--help")):
        out = cli(*args)
        assert out.returncode == 0 and out.stdout.startswith("usage: zoo"), args


def test_names_from_outside_are_escaped_where_they_are_shown(tmp_path, cli):
    """A file name (or a class name) holding terminal escapes or line breaks cannot rewrite or fake a line of
    the CLI's output: they are shown as escapes, in the text and in --json (issue 31)."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "\x1b[2K\rfake: 7 100.0%\n.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(path)
    out = cli("predict", "cnn_mnist", str(path), "--top-k", "1")
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\r" not in out.stdout and out.stdout.count("\n") == 1
    assert "\\x1b[2K\\rfake: 7 100.0%\\n.png: " in out.stdout
    as_json = cli("predict", "cnn_mnist", str(path), "--json")
    assert "\x1b" not in as_json.stdout and json.loads(as_json.stdout)[0]["input"] == str(path)
    missing = cli("predict", "cnn_mnist", str(tmp_path / "gone\x1b]0;title\x07.png"))
    assert missing.returncode == 2 and "\x1b" not in missing.stderr and "\x07" not in missing.stderr
    assert "gone\\x1b]0;title\\x07.png: no such file" in missing.stderr
