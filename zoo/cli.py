"""The ``zoo`` command line. It only parses arguments and calls the library.

Bad input: one line on stderr, exit status 2, no traceback. ``list`` and ``info`` import no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

import zoo
from zoo import backends, settings
from zoo._compat import ZooDeprecationWarning
from zoo._names import shown  # anything that came from outside is printed through it, or as JSON
from zoo.errors import UntrainedHeadWarning, ZooError

EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _integer(minimum: int, what: str) -> Any:
    """An argparse type: an integer of at least ``minimum`` (``what`` it is, for the error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


_positive_int = _integer(1, "a positive integer")
_count = _integer(0, "a count (0, 1, 2, ...)")


def _existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return text


# ------------------------------------------------------------------------------------------------ commands


def _weights_column(name: str) -> str:
    card = zoo.info(name)
    weights = card.weights
    if not weights and card.presets:
        more = f" (+{len(card.presets) - 1})" if len(card.presets) > 1 else ""
        scope = ", backbone only" if card.pretrained_scope == "backbone only" else ""
        return f"keras-hub {card.presets[0].name}{more}{scope}"
    if not weights:
        return "-"
    w = weights[0]
    metric = next(iter(w.metrics.items()), None)
    return f"{w.tag} ({metric[0]} {metric[1]:.4f})" if metric else w.tag


def cmd_list(args: argparse.Namespace) -> int:
    names = zoo.list_models(**library_kwargs(args, zoo.list_models))
    if args.json:
        print(_json([zoo.info(n).to_dict() for n in names]))
        return 0
    if not names:
        print("no models match", file=sys.stderr)
        return 1
    rows = [("name", "family", "task", "dataset", "params", "pretrained weights")]
    for n in names:
        card = zoo.info(n)
        rows.append((n, card.family, card.task, card.dataset, f"{card.num_params / 1e6:.2f}M", _weights_column(n)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    card = zoo.info(**library_kwargs(args, zoo.info))
    print(card.to_json() if args.json else card)
    return 0


def library_kwargs(args: argparse.Namespace, fn: Any) -> dict[str, Any]:
    """The parsed options that are parameters of ``fn``, by the same name: the CLI follows the library. An
    option a user left out is not passed, so the library's default holds."""
    import inspect

    params = inspect.signature(fn).parameters
    return {k: v for k, v in vars(args).items() if k in params and v is not None}


def cmd_train(args: argparse.Namespace) -> int:
    result = zoo.train(**library_kwargs(args, zoo.train))
    print(_json({"test_metrics": result.test_metrics, "wall_time_s": round(result.wall_time_s, 1),
                 "epochs_run": result.epochs_run, "paths": {k: str(v) for k, v in result.paths.items()}}))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    metrics = zoo.evaluate(**library_kwargs(args, zoo.evaluate))
    if args.json:
        print(_json(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:>14}  {value:.4f}" if isinstance(value, float) else f"{key:>14}  {value}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    report = zoo.verify(**library_kwargs(args, zoo.verify))
    print(f"{report['weights']}: sha256 ok, loads, fixed-input outputs within {report['tolerance']:g} "
          f"(max diff {report['max_abs_diff']:.2g})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    target = zoo.export(**library_kwargs(args, zoo.export))
    print(f"wrote {target}")
    if args.format == "preset":
        from zoo import presets
        from zoo._io import sha256_file

        print(f"sha256 of {presets.RECORD} (pins the whole preset): {sha256_file(target / presets.RECORD)}\n"
              f"upload: python -c \"import keras_hub; keras_hub.upload_preset('hf://ORG/NAME', '{target}')\"")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    results = zoo.predict(**library_kwargs(args, zoo.predict))
    if args.json:
        print(_json(results))
        return 0
    for result in results:
        best = result["top_k"]
        print(f"{shown(result['input'])}: " + ", ".join(f"{shown(c['class_name'])} {c['probability']:.1%}"
                                                        for c in best))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    print(shown(zoo.generate(**library_kwargs(args, zoo.generate)), keep="\n\t"))  # its lines, no escapes
    return 0


def _json(value: Any) -> str:
    """JSON as the CLI prints it: every control and non-ASCII character escaped (DEL too, which json leaves)."""
    return json.dumps(value, indent=2).replace("\x7f", "\\u007f")


# ------------------------------------------------------------------------------------------------- parser


# Options the CLI has of its own (output and debugging), not parameters of the library function it calls.
CLI_ONLY = ("command", "func", "json", "debug")
DATA_HELP = "folder holding local dataset copies (default $ZOO_DATA_DIR)"
PRESET_HELP = ("a preset to start from: a folder, hf://org/name or kaggle://owner/model/keras/variant (every file "
               "sha256-checked); for an entry backed by keras-hub also a keras-hub preset name")
WEIGHTS_HELP = "a weight tag or a .weights.h5 path (default: the default weights); --weights is the same option"


def _add_model_options(p: argparse.ArgumentParser, *, weights: bool = True) -> None:
    """The options of every command that takes a model: NAME (or NAME.TAG), its weights and its preset."""
    p.add_argument("name_or_model", metavar="NAME",
                   help="a model name, name.tag, or a preset: a folder, hf://org/name, kaggle://owner/model/keras/variant")
    if weights:
        p.add_argument("--pretrained", "--weights", dest="pretrained", metavar="TAG|PATH", help=WEIGHTS_HELP)
    p.add_argument("--preset", help=PRESET_HELP)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=_existing_dir, help=DATA_HELP)
    p.add_argument("--source", choices=("auto", "local", "tfds"))


def _add_list_and_info(sub: Any) -> None:
    p = sub.add_parser("list", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch wildcard, e.g. 'cnn_*'")
    p.add_argument("--family", help="cnn, lstm, transformer, mlp or linear")
    p.add_argument("--task", help="e.g. image-classification")
    p.add_argument("--dataset", help="e.g. mnist")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--pretrained", action="store_const", const=True,
                       help="only models with pretrained weights for the whole model")
    which.add_argument("--backbone-only", dest="pretrained", action="store_const", const="backbone",
                       help="only models whose pretrained weights are a backbone (their classifier head untrained)")
    p.add_argument("--json", action="store_true", help="the cards as JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="show a model card")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_info)


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model with its recipe")
    p.add_argument("name", help="a model name")
    p.add_argument("--preset", help=PRESET_HELP)
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int, help="the global batch size")
    p.add_argument("--learning-rate", type=float)
    _add_data_options(p)
    p.add_argument("--model-dir", help="where checkpoints, logs and metrics go (default runs/NAME)")
    p.add_argument("--seed", type=int)
    p.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE")
    # default None: left out, the library's default holds (library_kwargs passes only what was given)
    p.add_argument("--no-resume", dest="resume", action="store_false", default=None,
                   help="start over instead of resuming")
    p.add_argument("--no-test", dest="test", action="store_false", default=None,
                   help="leave the test split unmeasured (a candidate run, compared on validation)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    p.add_argument("--strategy", default="auto",
                   help="auto, cpu, gpu, mirrored (data_parallel), tpu, multi_worker (cluster from TF_CONFIG; on JAX "
                        "the --coordinator-address flags), off, or on JAX model_parallel (default auto)")
    p.add_argument("--tpu", help="a Cloud TPU name, a grpc://host:port address, or 'local' on a TPU VM")
    p.add_argument("--num-gpus", type=_count, help="GPUs to mirror over (default: all visible)")
    p.add_argument("--model-parallel", type=_positive_int, metavar="N",
                   help="JAX: devices on the model axis of model_parallel's mesh (default 2)")
    p.add_argument("--coordinator-address", metavar="HOST:PORT",
                   help="JAX multi_worker: process 0's address (default $JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--num-processes", type=_positive_int,
                   help="JAX multi_worker: how many processes (default $JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=_count, help="JAX multi_worker: this one's, from 0 (default $JAX_PROCESS_ID)")
    p.add_argument("--mixed-precision", choices=("off", "float16", "bfloat16"),
                   help="default: bfloat16 on TPU, off elsewhere")
    p.add_argument("--jit-compile", action="store_const", const=True, help="compile the step with XLA")
    p.add_argument("--steps-per-execution", type=_positive_int)
    p.add_argument("--data", metavar="DATASET|DIR",
                   help="train on another zoo dataset of the kind the model takes (e.g. imdb_reviews), or on a "
                        "folder of your own with one subfolder per class (fine-tunes the pretrained weights)")
    p.add_argument("--pretrained", "--weights", dest="pretrained", metavar="TAG|PATH",
                   help="the weights to start from (default: the default weights when --data is given)")
    p.add_argument("--lora-rank", type=_positive_int, metavar="R",
                   help="fine-tune with keras-hub's LoRA adapters of rank R (the Transformer entries)")
    p.set_defaults(func=cmd_train)


def _add_evaluate_and_verify(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="evaluate a model on its test split")
    _add_model_options(p)
    p.add_argument("--split", choices=("test", "validation", "train"), default="test")
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--quantize", choices=("int8",), help="measure the model quantized by Keras (its Dense, "
                   "EinsumDense and Embedding layers)")
    _add_data_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("verify", help="check a weight set: hash, load, fixed-input outputs")
    p.add_argument("name", help="a model name, or name.tag")
    p.set_defaults(func=cmd_verify)


def _add_export(sub: Any) -> None:
    p = sub.add_parser("export", help="export a model for serving (SavedModel, .keras, TFLite, ONNX) or as a "
                                      "keras-hub preset")
    _add_model_options(p)
    p.add_argument("path", help="a folder for saved_model (the export goes to PATH/VERSION), else a file")
    p.add_argument("--format", choices=("saved_model", "keras", "tflite", "onnx", "preset"), default="saved_model",
                   help="preset: a keras-hub preset folder with a README.md model card, for keras_hub.upload_preset")
    p.add_argument("--quantization", choices=("float16", "int8"),
                   help="int8: Keras' quantize (saved_model, keras) or calibrated TFLite; float16: TFLite only")
    p.add_argument("--version", type=_positive_int, help="the SavedModel version folder (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    p.add_argument("--data-dir", type=_existing_dir, help="calibration data for int8 (default $ZOO_DATA_DIR)")
    p.set_defaults(func=cmd_export)


def _add_predict_and_generate(sub: Any) -> None:
    p = sub.add_parser("predict", help="classify image files (PNG, JPEG, NPY) or texts")
    _add_model_options(p)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or texts for a text model")
    p.add_argument("--top-k", type=_positive_int, default=3)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("generate", help="continue a text with a language model")
    _add_model_options(p)
    p.add_argument("prompt")
    p.add_argument("--max-length", type=_positive_int, default=200, help="characters, the prompt included")
    p.add_argument("--sampler", choices=("greedy", "top_k", "top_p"), default="greedy")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=_positive_int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_generate)


def build_parser() -> argparse.ArgumentParser:
    """The ``zoo`` parser: every option's destination is the name of the library parameter it sets."""
    parser = _Parser(prog="zoo", description="A model zoo for Keras 3 on TensorFlow.")
    parser.add_argument("--version", action="version", version=f"zoo {zoo.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also ZOO_DEBUG=1)")
    parser.add_argument("--backend", choices=backends.BACKENDS,
                        help="Keras backend to run on (default: $KERAS_BACKEND, else tensorflow)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_list_and_info, _add_train, _add_evaluate_and_verify, _add_export, _add_predict_and_generate):
        add(sub)
    return parser


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """zoo's own warnings as one plain line on stderr; any other as Python shows it."""
    if issubclass(category, (UntrainedHeadWarning, ZooDeprecationWarning)):
        print(f"zoo: warning: {_one_line(message)}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    debug = settings.debug() or "--debug" in (sys.argv[1:] if argv is None else list(argv))
    warnings.showwarning = _show_warning
    try:
        return _run(parser, argv, debug)
    finally:
        warnings.showwarning = _python_show_warning


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None, debug: bool) -> int:
    try:
        args = parser.parse_args(argv)
        if args.backend:  # before anything imports Keras
            backends.select(args.backend)
        if args.command in ("train", "evaluate", "verify", "export", "predict", "generate"):
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return args.func(args)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `zoo list | head`: the reader has gone; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ZooError, ValueError, TypeError, OSError) as e:  # bad input, a file or folder the system refused
        if debug:
            traceback.print_exc()
        print(f"zoo: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130


def _one_line(e: Any) -> str:
    return shown(" ".join(str(e).split()))


if __name__ == "__main__":
    sys.exit(main())
