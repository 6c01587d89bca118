"""Choosing lstm_imdb's configuration on validation (IMDB's train split carved by movie; the test split is never
read here): each configuration a `zoo.train` run of its own, resumable, its best epoch kept by validation.

    ZOO_DATA_DIR=../shared/data python scripts/experiments/lstm_imdb.py [--configs a,b,...] [--runs runs]

Each configuration is a set of lstm_imdb's hyper-parameters and recipe fields over the card's (imdb_v3's:
512 tokens, head+tail, 16,381 bigram buckets, 3 epochs of Adam at 2e-3). A run goes to RUNS/lstm_imdb_NAME and
resumes from its last finished epoch when started again; the validation accuracy by epoch is printed at its end
and kept in the run's log.csv. The winner is released with scripts/release_weights.py --run.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

CONFIGS = {
    "len1024": {"sequence_length": 1024},
    "len1024_wide": {"sequence_length": 1024, "embedding_dim": 128, "lstm_units": 64},
    "len1024_lr1e3_e4": {"sequence_length": 1024, "learning_rate": 1e-3, "epochs": 4},
    "len768": {"sequence_length": 768},
}


def main() -> None:
    import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--runs", default="runs")
    args = parser.parse_args()
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {', '.join(unknown)}: one of {', '.join(CONFIGS)}")
    for name in names:
        model_dir = Path(args.runs) / f"lstm_imdb_{name}"
        print(f"== {name}: {CONFIGS[name]} -> {model_dir}", flush=True)
        zoo.train("lstm_imdb", model_dir=model_dir, strategy="off", test=False, verbose=2, **CONFIGS[name])
        with open(model_dir / "log.csv") as f:
            accuracies = [float(row["val_accuracy"]) for row in csv.DictReader(f)]
        print(f"== {name}: validation by epoch {', '.join(f'{a:.4f}' for a in accuracies)}; best {max(accuracies):.4f}",
              flush=True)


if __name__ == "__main__":
    main()
