#!/usr/bin/env bash
# Issue 22's comparison: the Fashion-MNIST student protocol trained by AdvDistill and by plain PyTorch
# (bench/fmnist_protocol.py), every model scored by the same evaluator (advdistill eval on the last weights).
#   bench/parity/run.sh METHOD SIDE SEED...      METHOD: pgd_at | trades; SIDE: advdistill | torch
# Writes runs/parity/<side>/<method>-<seed>/{model or run}, eval.json; a model already evaluated is skipped,
# so the script can be stopped and started again, and several runners can share the seeds. bench/parity/summary.py prints mean ± sd per side.
set -euo pipefail
method=${1:?method}; side=${2:?side}; shift 2
bin=${BIN:-.build/release/advdistill}
threads=${THREADS:-1}
for seed in "$@"; do
    dir=runs/parity/$side/$method-$seed
    [ -f "$dir/eval.json" ] && { echo "skip $dir (evaluated)"; continue; }
    mkdir -p "$dir"
    # One process per model: a second runner (say, one started for another seed) skips a model in progress.
    exec 9>"$dir/.runner-lock"
    flock -n 9 || { echo "skip $dir (another runner has it)"; continue; }
    t0=$(date +%s)
    if [ "$side" = advdistill ]; then
        resume=""; [ -f "$dir/$method/checkpoint.safetensors" ] && resume=--resume
        "$bin" train --config "bench/parity/$method.json" --seed "$seed" --output "$dir" --threads "$threads" $resume
        model=$dir/$method/checkpoint.safetensors
    else
        model=$dir/model.safetensors
        [ -f "$model" ] || python3 bench/fmnist_protocol.py train --method "$method" --seed "$seed" --threads "$threads" --out "$model"
    fi
    echo "$side $method seed $seed: trained in $(( $(date +%s) - t0 )) s"
    "$bin" eval --checkpoint "$model" --model tinycnn --data Data/fashion-mnist --eps 0.1 \
        --attacks fgsm,pgd20,apgd-ce --limit 1000 --threads "$threads" --json "$dir/eval.json.tmp"
    mv "$dir/eval.json.tmp" "$dir/eval.json"
    exec 9>&-
done
