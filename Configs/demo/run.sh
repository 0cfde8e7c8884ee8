#!/usr/bin/env bash
# The demo pipeline (make demo / make demo-full): teachers → students → evaluation → report.
#   Configs/demo/run.sh CONFIG_DIR OUTPUT_DIR
# A teacher is reused when OUTPUT_DIR/<teacher>/best.safetensors exists; otherwise it is copied from
# Configs/demo/teachers/ (trained by `make demo-teachers`, with their config.json and metrics.jsonl) when
# CONFIG_DIR has no config for it, or trained from CONFIG_DIR/<teacher>.json (a teacher run cut short is not
# trained over: train refuses and says how to resume it). Students are always retrained, on purpose: with
# --overwrite given twice, the previous demo's student moves to OUTPUT_DIR/<student>/previous/, replacing the
# one kept there before, so repeated demos keep one earlier run each and no more. An evaluation is redone
# (--overwrite) only when eval.json is missing or older than the checkpoint it describes.
# Every number printed comes from a file under OUTPUT_DIR that the report also reads.
set -euo pipefail
# An inherited OPENBLAS_CORETYPE (some machines export one) would pin OpenBLAS to those kernels; without it
# advdistill picks the fastest kernels for this CPU (see `advdistill bench`). DEMO_KEEP_BLAS_ENV=1 keeps it.
if [ -n "${OPENBLAS_CORETYPE:-}" ] && [ "${DEMO_KEEP_BLAS_ENV:-0}" != 1 ]; then
    echo "note: ignoring the inherited OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE so that advdistill chooses the BLAS kernels (DEMO_KEEP_BLAS_ENV=1 keeps it)"
    unset OPENBLAS_CORETYPE
fi
conf=${1:?config directory}
out=${2:?output directory}
bin=${BIN:-.build/release/advdistill}
data=Data/fashion-mnist
attacks=${DEMO_ATTACKS:-fgsm,pgd20,cw30,aa}
limit=${DEMO_EVAL_LIMIT:-1000}
sweep=0,0.025,0.05,0.075,0.1,0.125,0.15
mkdir -p "$out"
stages=()
t_all=$(date +%s)

run_stage() {  # name command…
    local name=$1; shift
    local t0; t0=$(date +%s)
    echo
    echo "=== $name"
    "$@"
    stages+=("$(printf '%-28s %6ss' "$name" "$(( $(date +%s) - t0 ))")")
}

for teacher in teacher-natural teacher-pgdat; do
    if [ -f "$out/$teacher/best.safetensors" ]; then
        echo "reusing $out/$teacher (delete it to retrain)"
    elif [ -f "$conf/$teacher.json" ]; then
        run_stage "train $teacher" "$bin" train --config "$conf/$teacher.json"
    elif [ -d "Configs/demo/teachers/$teacher" ]; then
        mkdir -p "$out/$teacher"
        cp Configs/demo/teachers/"$teacher"/* "$out/$teacher/"
        echo "using the shipped $teacher (trained by 'make demo-teachers', see Configs/demo/teachers/README.md)"
    else
        echo "no $teacher: run 'make demo-teachers' first" >&2; exit 1
    fi
done

for student in natural pgdat bmtard; do
    run_stage "train $student" "$bin" train --config "$conf/$student.json" --overwrite --overwrite
done

for model in teacher-natural teacher-pgdat natural pgdat bmtard; do
    if [ -f "$out/$model/eval.json" ] && [ "$out/$model/eval.json" -nt "$out/$model/best.safetensors" ]; then
        echo "reusing $out/$model/eval.json"
        continue
    fi
    run_stage "eval $model" "$bin" eval --checkpoint "$out/$model/best.safetensors" --data "$data" --eps 0.1 \
        --attacks "$attacks" --limit "$limit" --eps-sweep "$sweep" --json "$out/$model/eval.json" --overwrite
done

run_stage "report" "$bin" report "$out/teacher-natural" "$out/teacher-pgdat" "$out/natural" "$out/pgdat" "$out/bmtard" --out "$out"

echo
echo "=== stage times"
for s in "${stages[@]}"; do echo "  $s"; done
echo "  $(printf '%-28s %6ss' total "$(( $(date +%s) - t_all ))")"
echo "report: $out/report.html"
