"""Release the weights of a `zoo train` run as a bundled, described, verifiable weight set.

    zoo train cnn_mnist --model-dir runs/cnn_mnist
    python scripts/release_weights.py cnn_mnist --tag mnist_v2 --run runs/cnn_mnist
    python scripts/release_weights.py lstm_imdb --tag imdb_v1 --from-release imdb_v1 --storage float16

Takes the run's best weights, writes them weights-only (no optimizer state) into zoo/weights/files/, measures
the metrics *on the file as shipped* with zoo.evaluate on the test split, records a fixed-input check for
zoo.verify, and adds the entry (sha256, size, recipe, data hashes, versions, licences) to the manifest.
With --from-release, the weights and the training record are those of a weight set already in the manifest (to
store it anew, e.g. as float16); its metrics are measured again on the new file.

    python scripts/release_weights.py resnet20_cifar10 --tag cifar10_v3 --serving-of cifar10_v2 --set tta_level=2

With --serving-of, a weight set already in the manifest is served anew: the same file (shared, not copied) in a
network built with --set's hyper-parameters, which must hold no weights of their own (the test-time views of
zoo.models.tta). The setting is chosen on validation beforehand (--architecture-chosen says how); the new
entry's test figures and fixed-input check are measured on the shared file as shipped. --set applies to --run
too: a run validated on the image alone (tta_level=0, six times cheaper an epoch) is released served with its
views, the level chosen on the run's validation split (scripts/experiments/tta_cifar.py --run).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo import api, manifest  # noqa: E402
from zoo._io import atomic_path, sha256_file  # noqa: E402
from zoo.data.catalog import DATASETS  # noqa: E402
from zoo.training import training_seconds  # noqa: E402
from zoo.schema import Recipe  # noqa: E402

CHECK_BATCH, CHECK_SEED, CHECK_ATOL, CHECK_RTOL = 4, 0, 1e-4, 1e-5


def _machine() -> str:
    """Architecture, core count and CPU model (2 cores of one model can train three times as fast as of another)."""
    model = platform.processor()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} CPUs" + (f" ({model})" if model else "")


def _store_float16(path: Path) -> None:
    """Rewrite a Keras weights file with its float32 arrays stored as float16, in a fresh file (h5py does not
    give back the space of a deleted dataset). Keras loads them into float32 variables as they are."""
    import h5py

    fresh = path.with_name(path.name + ".f16")

    def copy(source: h5py.Group, target: h5py.Group) -> None:
        target.attrs.update(dict(source.attrs))
        for key, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(key))
            else:
                data = item[()]
                if item.dtype == np.float32:
                    data = data.astype(np.float16)
                target.create_dataset(key, data=data).attrs.update(dict(item.attrs))

    with h5py.File(path, "r") as source, h5py.File(fresh, "w") as target:
        copy(source, target)
    os.replace(fresh, path)


def _report_of_release(name: str, tag: str) -> tuple[dict, Path]:
    """The training record of a released weight set, in the shape of a run's metrics.json, and its file (its
    sha256 checked; the model is loaded from it before the new file replaces it)."""
    info = zoo.weights.find(zoo.info(name), tag)
    log = info.train_log
    report = {"model": name, "hparams": info.hparams, "recipe": info.recipe, "versions": info.versions,
              "date": info.date, "epochs": log["epochs_run"], "best_epoch": log["best_epoch"],
              "wall_time_s_this_run": log["wall_time_s"], "training_s": log.get("training_s"),
              "command": log["command"],
              "data": {"train": {"sha256": info.data_sha256}}}
    return report, zoo.weights.fetch(info)


def check_record(check_input: dict, outputs) -> dict:
    """The manifest's fixed-input check: the logits on the input, with a tolerance that float arithmetic on
    another machine stays within and a changed weight does not (tests/test_weights.py perturbs one)."""
    return {"input": check_input, "kind": api.CHECK_KIND, "outputs": np.round(outputs, 7).tolist(),
            "atol": CHECK_ATOL, "rtol": CHECK_RTOL}


def _selection(report: dict, configurations_tried: int, architecture: str | None = None) -> dict:
    """How the run chose its weights: the best epoch on the validation split carved from train."""
    recipe = report["recipe"]
    carved = recipe.get("validation_split")
    whole = ", whole movies: none of them in training" if report.get("dataset") == "imdb_reviews" else ""
    if not carved and recipe.get("monitor") == "epoch":  # zoo.train's validation_split=0: no validation
        split = ("none: retrained on the whole training split with a recipe and epochs chosen on validation "
                 "before (see architecture)")
    else:
        split = (f"validation ({carved:.0%} of the training split, carved with a fixed seed{whole})" if carved
                 else "validation")
    return {"split": split, "monitor": recipe.get("monitor", "val_accuracy"), "epoch": report.get("best_epoch"),
            "configurations_tried": configurations_tried, **({"architecture": architecture} if architecture else {})}


def _refresh_check(card, tag: str) -> int:
    """Record a weight set's fixed-input check in the current form (logits), from its file as shipped."""
    import dataclasses

    info = zoo.weights.find(card, tag)
    model = zoo.get(card.name, pretrained=info.tag, compile=False)
    outputs = api.expected_outputs(model, api.check_input(info.check["input"]))
    manifest.write_entry(dataclasses.replace(info, check=check_record(info.check["input"], outputs)))
    print(f"{info.full_name}: check recorded anew ({api.CHECK_KIND}, {np.asarray(outputs).shape})")
    return 0


def _setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"release_weights: --set takes KEY=VALUE (tta_level=2), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _serving_settings(card, texts: list[str]) -> dict:
    """--set's settings, each a hyper-parameter of the card that holds no weights (api.SERVING_HPARAMS)."""
    changes = dict(_setting(text) for text in texts)
    unknown = sorted(set(changes) - set(card.hparams))
    if unknown:
        raise SystemExit(f"release_weights: {card.name} has no hyper-parameter {', '.join(unknown)}")
    weighty = sorted(set(changes) - api.SERVING_HPARAMS)
    if weighty:
        raise SystemExit(f"release_weights: --set only takes settings that hold no weights "
                         f"({', '.join(sorted(api.SERVING_HPARAMS))}), not {', '.join(weighty)}: train and release "
                         "a run instead")
    return changes


def _serve_anew(card, args) -> int:
    """--serving-of: a released weight set's file under a new tag, in a network built with --set's settings."""
    import dataclasses

    source = zoo.weights.find(card, args.serving_of)
    changes = _serving_settings(card, args.set)
    if not changes or args.tag == source.tag:
        raise SystemExit("release_weights: --serving-of needs a new --tag and at least one --set KEY=VALUE")
    model = zoo.get(card.name, pretrained=source.tag, compile=False, **changes)  # the source's file, checked
    metrics = zoo.evaluate(model, split="test", data_dir=args.data_dir)
    num_examples = metrics.pop("num_examples")
    outputs = api.expected_outputs(model, api.check_input(source.check["input"]))
    selection = {**source.selection, "configurations_tried": args.configurations_tried,
                 **({"architecture": args.architecture_chosen} if args.architecture_chosen else {})}
    info = dataclasses.replace(
        source, tag=args.tag, hparams={**source.hparams, **changes}, default=not args.not_default,
        split=f"test ({num_examples} examples)", metrics={k: round(float(v), 6) for k, v in metrics.items()},
        check=check_record(source.check["input"], outputs), selection=selection,
        train_log={**source.train_log, "released": datetime.date.today().isoformat(),
                   "served_from": source.full_name})
    manifest.write_entry(info)
    print(info.describe())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--tag", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="the model_dir of a finished `zoo train` run")
    source.add_argument("--from-release", metavar="TAG", help="a weight set of this model already in the manifest")
    source.add_argument("--serving-of", metavar="TAG",
                        help="a weight set of this model already in the manifest, served anew under --tag: its file "
                             "shared, its network built with --set's settings, its figures measured again")
    source.add_argument("--refresh-check", action="store_true",
                        help="only record anew the fixed-input check of the weight set --tag (its file unchanged)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a hyper-parameter that holds no weights (tta_level=2), chosen on validation: the "
                             "network --serving-of or --run is served in; repeatable")
    parser.add_argument("--data-dir", help="local data (default $ZOO_DATA_DIR)")
    parser.add_argument("--not-default", action="store_true", help="do not make this the default weight set")
    parser.add_argument("--configurations-tried", type=int, default=1,
                        help="how many configurations (architectures, recipes) were compared on validation before "
                             "this one (recorded in the manifest; see docs/EXPERIMENTS.md)")
    parser.add_argument("--architecture-chosen", metavar="HOW",
                        help="where the configuration came from, when it was not chosen on this run's validation "
                             "split (recorded in the manifest and shown on the card)")
    parser.add_argument("--examples-per-epoch", type=int, metavar="N",
                        help="for a run whose metrics.json predates its `training_s` record: the examples of one "
                             "epoch, to add up its epochs' training time from their logged examples/s")
    parser.add_argument("--storage", choices=("float32", "float16"), default="float32",
                        help="store the values as float16 to halve the file (the metrics are measured on it as stored)")
    args = parser.parse_args(argv)

    card = zoo.info(args.name)
    if args.set and not (args.run or args.serving_of):
        parser.error("--set applies to --run or --serving-of, not to a weight set stored anew as it is")
    if args.refresh_check:
        return _refresh_check(card, args.tag)
    if args.serving_of:
        return _serve_anew(card, args)
    if args.from_release:
        report, weights_file = _report_of_release(card.name, args.from_release)
    else:
        report = json.loads((args.run / "metrics.json").read_text())
        weights_file = args.run / "best.weights.h5"
        if report.get("training_s") is None and args.examples_per_epoch:
            with open(args.run / "log.csv", newline="") as f:
                logs = [{"examples_per_s": float(row["examples_per_s"] or 0)} for row in csv.DictReader(f)]
            report["training_s"] = training_seconds(logs, args.examples_per_epoch)
    if report["model"] != card.name:
        parser.error(f"{args.run} is a run of {report['model']}, not {card.name}")
    for field in ("loss", "label_smoothing"):  # the test loss is computed with the card's compile, not the run's
        ran, carded = report["recipe"].get(field, getattr(Recipe, field)), getattr(card.recipe, field)
        if not args.from_release and ran != carded:
            parser.error(f"the run trained with {field}={ran!r} but {card.name}'s card has {carded!r}, and the test "
                         "loss is measured with the card's: put the run's recipe on the card first")
    if args.from_release and args.from_release != args.tag:
        parser.error("--from-release stores a weight set anew under its own tag: give the same --tag")
    hparams = {**report["hparams"], **_serving_settings(card, args.set)}  # a run validated at tta_level=0, served at 2
    network = {k: tuple(v) if isinstance(v, list) else v for k, v in hparams.items()}  # the run's, as zoo.get takes
    model = zoo.get(card.name, pretrained=str(weights_file), compile=False, **network)
    assets = {}
    if "vocabulary" in card.hparams and hparams.get("vocabulary") is None:  # the shipped default vocabulary
        from zoo.models.text import IMDB_VOCABULARY

        assets["vocabulary"] = {"file": IMDB_VOCABULARY.name, "sha256": sha256_file(IMDB_VOCABULARY)}

    # Weights only: an uncompiled model has no optimizer state to save.
    staging = manifest.BUNDLE_DIR / f".{card.name}-{args.tag}.staging.weights.h5"
    with atomic_path(staging, suffix=".weights.h5") as tmp:
        model.save_weights(str(tmp))
        if args.storage == "float16":
            _store_float16(tmp)
    sha = sha256_file(staging)
    file_name = f"{card.name}-{args.tag}-{sha[:8]}.weights.h5"
    shipped = manifest.BUNDLE_DIR / file_name
    os.replace(staging, shipped)

    # The shipped file in the run's network (its hyper-parameters, which need not be the card's defaults)
    shipped_model = zoo.get(card.name, pretrained=str(shipped), weights_sha256=sha, compile=False, **network)
    metrics = zoo.evaluate(shipped_model, split="test", data_dir=args.data_dir)
    num_examples = metrics.pop("num_examples")
    # a model with test-time views: zoo.evaluate gives the same file's figures without them too (*_without_tta)
    check_input = {"seed": CHECK_SEED, "batch": CHECK_BATCH, "shape": list(card.input.shape), "dtype": card.input.dtype}
    outputs = api.expected_outputs(shipped_model, api.check_input(check_input))

    sample, sample_how = "", ""
    if card.task == "language-modeling":
        sample_how = "zoo generate NAME 'ROMEO:' --max-length 240 --sampler top_k --top-k 5 --seed 0"
        sample = zoo.generate(shipped_model, "ROMEO:", max_length=240, sampler="top_k", top_k=5, seed=0)
    dataset = DATASETS[card.dataset]
    info = manifest.WeightsInfo(
        name=card.name, tag=args.tag, file=file_name, sha256=sha, size=shipped.stat().st_size,
        num_params=int(model.count_params()), hparams=hparams, dataset=card.dataset,
        split=f"test ({num_examples} {'characters' if card.task == 'language-modeling' else 'examples'})",
        data_sha256={k: v for part in report["data"].values() for k, v in part.get("sha256", {}).items()},
        metrics={k: round(float(v), 6) for k, v in metrics.items()},
        recipe={k: report["recipe"][k] for k in ("epochs", "batch_size", "optimizer", "learning_rate", "schedule",
                                                 "warmup_epochs", "augmentation", "validation_split", "seed")
                + tuple(k for k in ("momentum", "nesterov", "weight_decay", "label_smoothing")
                        if report["recipe"].get(k) and report["recipe"].get("optimizer") in ("sgd", "adamw", "adam")
                        and (k not in ("momentum", "nesterov") or report["recipe"]["optimizer"] == "sgd"))
                + (("cycle_epochs", "cycle_mult") if report["recipe"]["schedule"] == "cosine_restarts" else ())
                + (("start_lr_factor", "end_lr_factor") if report["recipe"]["schedule"] == "triangular" else ())
                + (("lookahead_every", "lookahead_start_epoch", "lookahead_decay", "lookahead_decay_power")
                   if report["recipe"].get("lookahead_every") else ())},
        versions={**report["versions"], "python": platform.python_version()},
        date=report["date"][:10], license="Apache-2.0", data_license=dataset.license,
        default=not args.not_default,
        check=check_record(check_input, outputs),
        assets=assets,
        train_log={"epochs_run": report["epochs"], "best_epoch": report["best_epoch"],
                   "wall_time_s": report["wall_time_s_this_run"], "training_s": report.get("training_s"),
                   "command": report["command"],
                   "released": datetime.date.today().isoformat(), "machine": _machine(),
                   **({"dtype_policy": policy} if (policy := report.get("strategy", {}).get("dtype_policy", "float32"))
                      != "float32" else {}),
                   **({"sample": sample_how} if sample else {})},
        sample=sample, storage=args.storage, selection=_selection(report, args.configurations_tried, args.architecture_chosen),
    )
    manifest.write_entry(info)
    for old in manifest.BUNDLE_DIR.glob(f"{card.name}-{args.tag}-*.weights.h5"):
        if old.name != file_name:
            old.unlink()
    print(info.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
