"""Pretrained weights: the manifest, sha256 on every load, downloads through the cache, offline mode, the head
replacement, zoo.verify, and the bundled cnn_mnist weights' accuracy on the real test split."""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import api
from tests.conftest import ROOT, own_models, run_cli
from zoo import manifest, weights
from zoo._io import sha256_file


@pytest.fixture(scope="module")
def default_info() -> manifest.WeightsInfo:
    info = manifest.weights_for("cnn_mnist")[0]
    assert info.default and info.bundled_path.exists()
    return info


def test_manifest_entry_is_complete_and_true(default_info):
    info = default_info
    assert info.full_name == "cnn_mnist.mnist_v2"
    assert sha256_file(info.bundled_path) == info.sha256 and len(info.sha256) == 64
    assert info.bundled_path.stat().st_size == info.size < 3_000_000
    assert info.num_params == zoo.info("cnn_mnist").num_params
    assert info.metrics["accuracy"] >= 0.994
    assert set(info.data_sha256) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert {"epochs", "batch_size", "optimizer", "seed"} <= set(info.recipe)
    assert {"tensorflow", "keras"} <= set(info.versions)
    assert info.license and info.data_license == "CC BY-SA 3.0" and info.date
    assert info.file.startswith(f"cnn_mnist-mnist_v2-{info.sha256[:8]}")


def test_info_and_list_show_the_weights():
    assert "cnn_mnist" in zoo.list_models(pretrained=True)
    text = str(zoo.info("cnn_mnist"))
    assert "cnn_mnist.mnist_v2  [default]" in text and "accuracy 0.99" in text
    out = run_cli("list", "--pretrained")
    assert out.returncode == 0 and "cnn_mnist" in out.stdout and "mnist_v2 (accuracy 0.99" in out.stdout


def test_pretrained_true_tag_and_name_tag_give_the_same_weights(default_info):
    a = zoo.get("cnn_mnist", pretrained=True, compile=False)
    b = zoo.get("cnn_mnist", pretrained="mnist_v2", compile=False)
    c = zoo.get("cnn_mnist.mnist_v2", compile=False)
    for wa, wb, wc in zip(a.get_weights(), b.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(wa, wc)
    fresh = zoo.get("cnn_mnist", compile=False)
    assert not np.array_equal(fresh.get_weights()[0], a.get_weights()[0])


def test_unknown_tag_and_models_without_weights():
    with pytest.raises(zoo.WeightsError, match="no weights tagged 'nope'; available: 'mnist_v2'"):
        zoo.get("cnn_mnist", pretrained="nope")
    bare = dataclasses.replace(zoo.info("cnn_mnist"), name="my_bare_cnn")  # an entry with no weight set
    zoo.register(bare)
    try:
        with pytest.raises(zoo.WeightsError, match="my_bare_cnn has no pretrained weights yet"):
            zoo.get("my_bare_cnn", pretrained=True)
    finally:
        zoo.unregister("my_bare_cnn")


def test_one_byte_changed_raises_and_loads_nothing(default_info, tmp_path, monkeypatch):
    corrupt = tmp_path / "corrupt.weights.h5"
    data = bytearray(default_info.bundled_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    corrupt.write_bytes(bytes(data))
    loads = []
    monkeypatch.setattr(weights, "load_into", lambda model, path: loads.append(path))
    with pytest.raises(zoo.WeightsError) as excinfo:
        zoo.get("cnn_mnist", pretrained=str(corrupt), weights_sha256=default_info.sha256)
    message = str(excinfo.value)
    assert str(corrupt) in message and default_info.sha256 in message and sha256_file(corrupt) in message
    assert loads == []


def test_a_corrupt_bundled_file_is_refused(default_info, tmp_path, monkeypatch):
    bundle = tmp_path / "files"
    bundle.mkdir()
    (bundle / default_info.file).write_bytes(default_info.bundled_path.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setattr(manifest, "BUNDLE_DIR", bundle)
    with pytest.raises(zoo.WeightsError, match="sha256 mismatch"):
        zoo.get("cnn_mnist", pretrained=True)


def test_local_weights_files(default_info, tmp_path):
    model = zoo.get("cnn_mnist", pretrained=str(default_info.bundled_path), weights_sha256=default_info.sha256)
    assert model.compiled
    with pytest.raises(zoo.WeightsError, match="loads weights only"):
        zoo.get("cnn_mnist", pretrained=str(tmp_path / "model.keras"))
    with pytest.raises(zoo.WeightsError, match="no such weights file"):
        zoo.get("cnn_mnist", pretrained=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(zoo.WeightsError, match="do not fit"):
        zoo.get("resnet20_cifar10", pretrained=str(default_info.bundled_path))


def test_a_file_of_another_configuration_is_refused_both_ways(tmp_path):
    """Keras' load_weights ignores the arrays of a layer the model lacks, silently (a file with hashed bigrams
    into a network without them), and skips a layer the file lacks with a warning: both are WeightsError."""
    small = {"sequence_length": 16, "embedding_dim": 8, "lstm_units": 4, "compile": False}
    with_bigrams = zoo.get("lstm_imdb", bigram_buckets=7, **small)
    path = tmp_path / "bigrams.weights.h5"
    with_bigrams.save_weights(str(path))
    with pytest.raises(zoo.WeightsError, match=r"the file holds 10 arrays and the model 9"):
        zoo.get("lstm_imdb", pretrained=str(path), bigram_buckets=0, **small)
    zoo.get("lstm_imdb", bigram_buckets=0, **small).save_weights(str(tmp_path / "plain.weights.h5"))
    with pytest.raises(zoo.WeightsError, match="do not fit"):
        zoo.get("lstm_imdb", pretrained=str(tmp_path / "plain.weights.h5"), bigram_buckets=7, **small)
    assert zoo.get("lstm_imdb", pretrained=str(path), bigram_buckets=7, **small).count_params() == \
        with_bigrams.count_params()


def test_num_classes_replaces_the_head_and_keeps_the_body(caplog):
    base = zoo.get("cnn_mnist", pretrained=True, compile=False)
    with caplog.at_level("WARNING", logger="zoo"):
        model = zoo.get("cnn_mnist", pretrained=True, num_classes=3, compile=False)
    assert model.output_shape == (None, 3)
    for layer in model.layers:
        if layer.name == "probabilities":
            assert layer.get_weights()[0].shape == (1152, 3)
        else:
            for w, w0 in zip(layer.get_weights(), base.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(w, w0)
    lines = [r.getMessage() for r in caplog.records if r.name == "zoo"]
    assert len(lines) == 1 and "the head 'probabilities' is new, with 3 classes" in lines[0]


def test_input_shape_the_weights_cannot_take():
    with pytest.raises(ValueError, match=r"trained on inputs of shape \(28, 28, 1\) and cannot take input_shape=\(32, 32, 1\)"):
        zoo.get("cnn_mnist", pretrained=True, input_shape=(32, 32, 1))
    with pytest.raises(ValueError, match="cannot change with pretrained weights"):
        zoo.get("cnn_mnist", pretrained=True, filters=(8, 8, 8))


def test_an_older_weight_set_of_another_configuration_loads_as_it_was_trained():
    """lstm_imdb's default (imdb_v3) has 512 tokens and hashed bigrams; imdb_v2 was trained with 384 and none.
    Its tag alone builds its own network; asking it for another value of what it was trained with is an error."""
    default = zoo.get("lstm_imdb", pretrained=True, compile=False)
    older = zoo.get("lstm_imdb.imdb_v2", compile=False)
    assert default.preprocessor.sequence_length == 512 and older.preprocessor.sequence_length == 384
    assert older.count_params() == 1_526_210 < default.count_params() == zoo.info("lstm_imdb").num_params
    with pytest.raises(ValueError, match="imdb_v2 was trained with sequence_length=384; these cannot change"):
        zoo.get("lstm_imdb.imdb_v2", sequence_length=512, compile=False)
    assert zoo.get("lstm_imdb.imdb_v2", sequence_length=384, compile=False).count_params() == 1_526_210


@pytest.mark.slow
def test_verify_passes_and_catches_drift(default_info, monkeypatch):
    report = zoo.verify("cnn_mnist")
    assert report["sha256_ok"] and report["outputs_ok"] and report["max_abs_diff"] < 1e-4
    out = run_cli("verify", "cnn_mnist.mnist_v2")
    assert out.returncode == 0 and "sha256 ok" in out.stdout
    outputs = np.asarray(default_info.check["outputs"])
    drifted = dataclasses.replace(default_info, check={**default_info.check, "outputs": (outputs[:, ::-1]).tolist()})
    monkeypatch.setattr(manifest, "weights_for", lambda name: [drifted])
    with pytest.raises(zoo.WeightsError, match="drift"):
        zoo.verify("cnn_mnist")


@pytest.mark.slow
@pytest.mark.parametrize("change", ["one kernel x 1.001", "another cnn_mnist"])
def test_verify_catches_a_changed_file_whose_hash_was_edited_to_match(default_info, tmp_path, monkeypatch, change):
    """What verify must catch beyond the hash: a 0.1% change to one kernel, or another cnn_mnist altogether
    (here its body re-initialised), with the manifest's sha256 edited to the new file's. The softmax outputs of
    the fixed input, which verify used to compare, hardly move for either (all near 0 or 1)."""
    import keras

    from zoo._io import sha256_file

    model = zoo.get("cnn_mnist", pretrained=True, compile=False)
    if change == "one kernel x 1.001":
        layer = model.get_layer("stage2_conv")
        layer.set_weights([w * 1.001 for w in layer.get_weights()])
    else:
        keras.utils.set_random_seed(7)
        other = zoo.get("cnn_mnist", compile=False)
        model.get_layer("stage1_conv").set_weights(other.get_layer("stage1_conv").get_weights())
    changed = tmp_path / "changed.weights.h5"
    model.save_weights(str(changed))
    softmax_before = api.expected_outputs(zoo.get("cnn_mnist", pretrained=True, compile=False),
                                          api.check_input(default_info.check["input"]), kind="outputs")
    softmax_after = api.expected_outputs(model, api.check_input(default_info.check["input"]), kind="outputs")
    if change == "one kernel x 1.001":
        assert np.allclose(softmax_before, softmax_after, atol=1e-4)  # the old check passed it
    forged = dataclasses.replace(default_info, sha256=sha256_file(changed), size=changed.stat().st_size,
                                 file=changed.name)
    monkeypatch.setattr(manifest, "weights_for", lambda name: [forged] if name == "cnn_mnist" else [])
    monkeypatch.setattr(manifest, "BUNDLE_DIR", tmp_path)
    monkeypatch.setattr(type(forged), "bundled_path", property(lambda self: tmp_path / self.file))
    with pytest.raises(zoo.WeightsError, match="differ from the manifest"):
        zoo.verify("cnn_mnist")


# ------------------------------------------------------------------------------ downloads through the cache


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    cut_at: int | None = None
    requests: list[str] = []

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.path)
        time.sleep(getattr(self, "delay_s", 0.0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        body = self.payload if self.cut_at is None else self.payload[: self.cut_at]
        self.wfile.write(body)
        self.wfile.flush()
        if self.cut_at is not None:
            self.connection.shutdown(2)  # the connection dies midway

    def log_message(self, *args):
        pass


@pytest.fixture
def server(default_info):
    _Handler.payload = default_info.bundled_path.read_bytes()
    _Handler.cut_at = None
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def served_info(default_info, server):
    """A manifest entry for the same file, not bundled, served from 127.0.0.1."""
    url = f"http://127.0.0.1:{server.server_address[1]}/weights/{default_info.file}"
    info = dataclasses.replace(default_info, tag="served", file="served-" + default_info.file, url=url, default=False)
    manifest.add(info)
    yield info
    manifest.remove(info)


def test_download_goes_through_the_cache_and_rechecks_on_every_hit(served_info, zoo_home, monkeypatch):
    model = zoo.get("cnn_mnist", pretrained="served", compile=False)
    cached = zoo_home / "weights" / served_info.file
    assert cached.exists() and sha256_file(cached) == served_info.sha256
    assert len(_Handler.requests) == 1 and not list(cached.parent.glob(".*tmp*"))
    reference = zoo.get("cnn_mnist", pretrained=True, compile=False)
    np.testing.assert_array_equal(model.get_weights()[0], reference.get_weights()[0])

    hashed = []
    real = weights.sha256_file
    monkeypatch.setattr(weights, "sha256_file", lambda p: hashed.append(Path(p)) or real(p))
    zoo.get("cnn_mnist", pretrained="served", compile=False)
    assert hashed == [cached] and len(_Handler.requests) == 1  # a cache hit, and its hash checked again

    data = bytearray(cached.read_bytes())
    data[len(data) // 3] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(zoo.WeightsError, match=f"{cached}: sha256 mismatch"):
        zoo.get("cnn_mnist", pretrained="served", compile=False)


@pytest.mark.slow
def test_two_processes_wanting_the_same_file_download_it_once(served_info, zoo_home, monkeypatch):
    """Two real processes fetch the same weights at once from a slow server: the second waits for the first
    (and says so), then finds the file in the cache; the server sees one request. A killed download's leftover
    is removed by the next downloader."""
    leftover = zoo_home / "weights" / f".{served_info.file}.abc123.tmp.weights.h5"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a file")
    monkeypatch.setattr(_Handler, "delay_s", 2.0, raising=False)
    script = ("import json, sys; from zoo import manifest, weights; "
              "print(weights.fetch(manifest.WeightsInfo(**json.loads(sys.argv[1]))))")
    arg = json.dumps(dataclasses.asdict(served_info))
    env = {**os.environ, "ZOO_HOME": str(zoo_home), "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-c", script, arg], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the first is downloading (the server answers after 2 s)
    second = subprocess.run([sys.executable, "-c", script, arg], env=env, capture_output=True, text=True,
                            timeout=120)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, (err, second.stderr)
    cached = zoo_home / "weights" / served_info.file
    assert out.strip() == second.stdout.strip() == str(cached)
    assert "zoo: waiting for pid" in second.stderr and "zoo downloading" in second.stderr
    assert len(_Handler.requests) == 1 and sha256_file(cached) == served_info.sha256
    assert sorted(p.name for p in cached.parent.iterdir()) == [served_info.file]  # no leftover, no lock file


def test_a_download_cut_off_midway_leaves_no_file(served_info, zoo_home):
    _Handler.cut_at = served_info.size // 2
    with pytest.raises(zoo.WeightsError, match="nothing was kept"):
        zoo.get("cnn_mnist", pretrained="served", compile=False)
    folder = zoo_home / "weights"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_download_with_the_wrong_content_is_refused(served_info, zoo_home):
    _Handler.payload = bytes(len(_Handler.payload))
    with pytest.raises(zoo.WeightsError, match="sha256 mismatch"):
        zoo.get("cnn_mnist", pretrained="served", compile=False)
    assert list((zoo_home / "weights").iterdir()) == []


def test_offline_never_touches_the_network(served_info, zoo_home, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("the network was touched"))
    with pytest.raises(zoo.WeightsError) as excinfo:
        zoo.get("cnn_mnist", pretrained="served")
    message = str(excinfo.value)
    assert "ZOO_OFFLINE=1" in message and served_info.url in message
    assert str(zoo_home / "weights" / served_info.file) in message
    assert _Handler.requests == []
    # bundled weights need no network, offline or not
    assert zoo.get("cnn_mnist", pretrained=True, compile=False) is not None


def test_zoo_home_default_is_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert weights.home() == tmp_path / "zoo"


# ------------------------------------------------------------------------------------------------ real data


@pytest.mark.slow
@pytest.mark.real_data
def test_bundled_weights_score_the_card_accuracy_on_the_real_test_split(real_data_dir, default_info):
    got = zoo.evaluate("cnn_mnist", data_dir=real_data_dir)
    assert got["num_examples"] == 10_000
    assert got["accuracy"] >= default_info.metrics["accuracy"] - 0.0005
    out = run_cli("evaluate", "cnn_mnist", "--json", env={"ZOO_DATA_DIR": str(real_data_dir)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["accuracy"] == pytest.approx(got["accuracy"], abs=1e-6)


# A full test split takes minutes for these on 2 cores (CI, 2026-12-06: airbench_cifar10's 6 test-time views of
# 10,000 images 373 s, lstm_imdb's 25,000 reviews 118 s, mobilenet_v2_cifar10 93 s, resnet56_cifar10 89 s;
# transformer_imdb about 9 minutes, the attention over 512 positions; resnet20_cifar10 with its 6 views about as
# long as resnet56 without): `make test-release` measures them. On every run, `test_every_weight_set_verifies`
# checks each file's outputs on the inputs its release recorded, and the others' full figures are measured here.
_SLOW_TO_MEASURE = {"transformer_imdb", "lstm_imdb", "airbench_cifar10", "mobilenet_v2_cifar10", "resnet56_cifar10",
                    "resnet20_cifar10"}


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.release] if n in _SLOW_TO_MEASURE else [])
    for n in own_models(weights=True) if n != "cnn_mnist"])
def test_every_card_figure_is_what_evaluate_reproduces(real_data_dir, name):
    info = manifest.weights_for(name)[0]
    got = zoo.evaluate(name, data_dir=real_data_dir)
    assert f"({got['num_examples']} " in info.split
    for metric, value in info.metrics.items():
        assert got[metric] == pytest.approx(value, abs=5e-4), metric


@pytest.mark.slow
@pytest.mark.parametrize("name", own_models(weights=True))
def test_every_weight_set_verifies(name):
    assert zoo.verify(name)["outputs_ok"]


def test_a_new_head_on_zoos_weights_is_said_to_be_untrained():
    model = zoo.get("cnn_mnist", pretrained=True, num_classes=3, compile=False)
    x = np.zeros((1, 28, 28, 1), np.uint8)
    with pytest.warns(zoo.UntrainedHeadWarning, match="body of cnn_mnist.mnist_v2 under a new, untrained head of 3"):
        zoo.predict(model, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", zoo.UntrainedHeadWarning)
        zoo.predict(zoo.get("cnn_mnist", pretrained=True, compile=False), x)


def test_a_weight_set_chosen_on_test_figures_says_so():
    info = next(w for w in manifest.weights_for("transformer_imdb") if w.tag == "imdb_v3")
    line = next(line for line in info.describe().splitlines() if "chosen on" in line)
    assert line.strip().startswith("chosen on    test:") and "not a held-out one" in line
    honest = next(w for w in manifest.weights_for("lstm_imdb") if w.tag == "imdb_v2")
    assert "the test split measured once, on this file" in honest.describe()


def test_the_card_gives_the_training_time_of_every_epoch_where_the_run_recorded_it(default_info):
    log = {**default_info.train_log, "epochs_run": 15, "best_epoch": 15, "wall_time_s": 600.0}
    last_process = dataclasses.replace(default_info, train_log=log)
    assert "15 epochs, best epoch 15, 10 minutes on" in last_process.describe()
    every_epoch = dataclasses.replace(default_info, train_log={**log, "training_s": 5400.0})
    assert "15 epochs, best epoch 15, 90 minutes of training steps (validation excluded) on" in every_epoch.describe()
    mixed = dataclasses.replace(default_info, train_log={**log, "dtype_policy": "mixed_bfloat16"})
    assert "10 minutes on" in mixed.describe() and ", under mixed_bfloat16" in mixed.describe()
    assert "under" not in last_process.describe().split("training     ")[1].splitlines()[0]


def _release_script():
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "release_weights.py"
    spec = importlib.util.spec_from_file_location("release_weights", script)
    release = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(release)
    return release


def test_release_refuses_a_run_whose_loss_is_not_the_cards(tmp_path, capsys):
    # The release measures the test loss with the card's compile: a run with another label smoothing would put a
    # loss on the card that `zoo evaluate` does not reproduce (resnet56's first release did, 2026-11-25).
    release = _release_script()
    card = zoo.info("resnet20_cifar10")
    (tmp_path / "metrics.json").write_text(json.dumps({"model": card.name, "recipe": {"label_smoothing": 0.0}}))
    with pytest.raises(SystemExit) as exit_info:
        release.main([card.name, "--tag", "x_v1", "--run", str(tmp_path), "--configurations-tried", "1"])
    assert exit_info.value.code == 2
    assert "the run trained with label_smoothing=0.0 but resnet20_cifar10's card has 0.1" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["serving-of", "run"])
@pytest.mark.parametrize("setting, message", [
    ("width=8", r"--set only takes settings that hold no weights \(tta_level\), not width"),
    ("colour=1", "resnet20_cifar10 has no hyper-parameter colour"),
])
def test_serving_a_weight_set_anew_takes_only_settings_without_weights(setting, message, source, tmp_path):
    release = _release_script()
    card = zoo.info("resnet20_cifar10")
    (tmp_path / "metrics.json").write_text(json.dumps({  # a run as zoo.train records it, validated at level 0
        "model": card.name, "hparams": {"tta_level": 0},
        "recipe": {"loss": card.recipe.loss, "label_smoothing": card.recipe.label_smoothing}}))
    before = manifest.MANIFEST_PATH.read_bytes()
    with pytest.raises(SystemExit, match=message):
        release.main([card.name, "--tag", "x_v9", f"--{source}", "cifar10_v1" if source == "serving-of" else
                      str(tmp_path), "--set", setting])
    assert manifest.MANIFEST_PATH.read_bytes() == before
    assert not list(manifest.BUNDLE_DIR.glob("*x_v9*"))


def test_a_weight_set_stored_anew_takes_no_setting(capsys):
    release = _release_script()
    before = manifest.MANIFEST_PATH.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        release.main(["resnet20_cifar10", "--tag", "cifar10_v1", "--from-release", "cifar10_v1", "--set", "tta_level=2"])
    assert exit_info.value.code == 2
    assert "--set applies to --run or --serving-of" in capsys.readouterr().err
    assert manifest.MANIFEST_PATH.read_bytes() == before


def test_a_download_onto_a_full_disk_is_refused_before_it_starts_and_leaves_nothing(served_info, small_disk,
                                                                                     monkeypatch):
    from tests.conftest import fill

    home = small_disk("256k")
    fill(home, leave=32 << 10)
    monkeypatch.setenv("ZOO_HOME", str(home))
    with pytest.raises(zoo.DiskFullError, match=rf"{home}/weights/{served_info.file}: no space left on the device "
                                                rf"\(.* free; the write needs about"):
        zoo.get("cnn_mnist", pretrained="served", compile=False)
    assert list((home / "weights").iterdir()) == [] and not _Handler.requests
