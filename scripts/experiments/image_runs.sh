#!/bin/bash
# The image weight runs of issue 17 (CIFAR-10 and Fashion-MNIST), one after another, each on validation only
# (no test figure; the release measures the test split once, on the file as shipped). Each resumes from its last
# finished epoch when the same command is run again on the same machine. runs/ is not kept between machines: a run
# longer than a session is carried to the next in git, its resume state alone, committed at an epoch's end with
# the run stopped (and removed once the weights are released):
#
#   git add -f runs/TAG.log runs/TAG/backup runs/TAG/best.json runs/TAG/best.weights.h5 runs/TAG/log.csv
#
#   ZOO_DATA_DIR=../shared/data bash scripts/experiments/image_runs.sh [RUNS_DIR] [MODEL...]
#
# MODEL: resnet20, mobilenet, resnet56, fashion, airbench, airbench_whole (airbench's fixed recipe retrained on all
# 50,000 training images: validation_split=0, the last epoch kept), resnet56_e40 and mobilenet_e40 (the card's
# recipe at resnet20's 40 epochs, validated on the image alone, tta_level=0, the cheaper epoch; issue 30);
# default: the first four in that order. Each runs its card's recipe (the number of epochs included); resnet56
# under mixed bfloat16 (1.23x the examples/s of float32 on AVX512-BF16 cores; XLA halves them:
# benchmarks/strategy_overhead.py --only precision,xla). Logs: RUNS_DIR/NAME_eEPOCHS.log; epoch times in
# docs/EXPERIMENTS.md.
set -u
RUNS=$(realpath -m "${1:-runs}")
shift || true
MODELS=${*:-resnet20 mobilenet resnet56 fashion}
PYTHON=${PYTHON:-python}
for model in $MODELS; do
    case $model in
        resnet20|mobilenet|resnet56|fashion|airbench|airbench_whole|resnet56_e40|mobilenet_e40) ;;
        *) echo "unknown model $model: resnet20, mobilenet, resnet56, fashion, airbench, airbench_whole," \
                "resnet56_e40 or mobilenet_e40" >&2; exit 2 ;;
    esac
done
mkdir -p "$RUNS"

run() {  # NAME EXTRA_KWARGS [TAG_SUFFIX] [EPOCHS]
    local epochs tag
    epochs=${4:-$("$PYTHON" -c "import zoo; print(zoo.info('$1').recipe.epochs)")} || exit 1
    tag=$1_e$epochs${3:-}
    echo "== $(date -u +%FT%TZ) $1, $epochs epochs -> $RUNS/$tag" >> "$RUNS/$tag.log"
    "$PYTHON" -c "import zoo; zoo.train('$1', epochs=$epochs, test=False, model_dir='$RUNS/$tag', verbose=2$2)" \
        >> "$RUNS/$tag.log" 2>&1
    echo "== exit $? at $(date -u +%FT%TZ)" >> "$RUNS/$tag.log"
}

for model in $MODELS; do
    case $model in
        resnet20) run resnet20_cifar10 "" ;;
        mobilenet) run mobilenet_v2_cifar10 "" ;;
        resnet56) run resnet56_cifar10 ", mixed_precision='bfloat16'" ;;
        fashion) run cnn_fashion_mnist "" ;;
        airbench) run airbench_cifar10 "" ;;
        airbench_whole) run airbench_cifar10 ", validation_split=0.0" _whole ;;
        resnet56_e40) run resnet56_cifar10 ", tta_level=0, mixed_precision='bfloat16'" "" 40 ;;
        mobilenet_e40) run mobilenet_v2_cifar10 ", tta_level=0" "" 40 ;;
    esac
done
