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
# The students' trainings and the evaluations run as jobs in lanes (DEMO_LANES, default 2 on a machine with 2 or
# more cores), each with its share of the cores (--threads), an evaluation starting once its student is trained;
# each job's output goes to OUTPUT_DIR/logs/<job>.log, and the evaluations' tables are printed at the end. The
# numbers are those of one job at a time on every core: results do not depend on --threads (Compute.parts in
# Sources/Engine/Core/Parallel.swift). DEMO_LANES=1 runs one job at a time, its progress on the terminal.
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

cores=$(nproc 2>/dev/null || echo 1)
lanes=${DEMO_LANES:-$(( cores >= 2 ? 2 : 1 ))}
[[ "$lanes" =~ ^[1-9][0-9]*$ ]] || { echo "DEMO_LANES must be a whole number ≥ 1, got '$lanes'" >&2; exit 2; }
threads=$(( cores / lanes > 0 ? cores / lanes : 1 ))

# The jobs, in the order they start when a lane is free: each trains a student or evaluates a model, once the
# job named in its `after` finished (- : at once). Students are always retrained; a teacher's evaluation is
# redone only when its eval.json is missing or older than its checkpoint.
names=(); afters=(); commands=()
job() {  # name after command…
    names+=("$1"); afters+=("$2"); shift 2
    commands+=("$(printf '%q ' "$@")")
}
for student in natural pgdat bmtard; do
    job "train $student" - "$bin" train --config "$conf/$student.json" --overwrite --overwrite --threads "$threads"
done
for model in teacher-natural teacher-pgdat pgdat bmtard natural; do  # the long evaluations first
    case $model in teacher-*) after=- ;; *) after="train $model" ;; esac
    if [ "$after" = - ] && [ -f "$out/$model/eval.json" ] && [ "$out/$model/eval.json" -nt "$out/$model/best.safetensors" ]; then
        echo "reusing $out/$model/eval.json"
        continue
    fi
    job "eval $model" "$after" "$bin" eval --checkpoint "$out/$model/best.safetensors" --data "$data" --eps 0.1 \
        --attacks "$attacks" --limit "$limit" --eps-sweep "$sweep" --json "$out/$model/eval.json" --overwrite --threads "$threads"
done

log_of() { echo "$out/logs/${names[$1]// /-}.log"; }
if [ "$lanes" = 1 ]; then
    for i in "${!names[@]}"; do
        eval "run_stage \"\${names[\$i]}\" ${commands[$i]}"
    done
else
    mkdir -p "$out/logs"
    echo
    echo "=== ${#names[@]} jobs in $lanes lanes of $threads thread$([ "$threads" = 1 ] || echo s) each (DEMO_LANES=1: one at a time); their output goes to $out/logs/ (tail -f to follow one)"
    declare -A pid_of=() state=() started=()
    trap 'kill $(jobs -p) 2>/dev/null; exit 130' INT TERM
    running=0
    while :; do
        for i in "${!names[@]}"; do
            (( running < lanes )) || break
            [ -z "${state[$i]:-}" ] || continue
            if [ "${afters[$i]}" != - ]; then
                ready=0
                for j in "${!names[@]}"; do
                    if [ "${names[$j]}" = "${afters[$i]}" ] && [ "${state[$j]:-}" = done ]; then ready=1; fi
                done
                [ "$ready" = 1 ] || continue
            fi
            # exec: the job's process is the command itself, so its status is the command's (an eval'd command
            # failing under errexit would end the job with 1) and a kill reaches it.
            ( eval "exec ${commands[$i]}" ) > "$(log_of "$i")" 2>&1 &
            pid_of[$!]=$i; state[$i]=running; started[$i]=$(date +%s); running=$(( running + 1 ))
            echo "  started  ${names[$i]}"
        done
        (( running > 0 )) || break
        # Wait for a job to end; every minute, say where the running ones are (their logs' last lines).
        finished=""; waited=0
        while [ -z "$finished" ]; do
            for pid in "${!pid_of[@]}"; do
                if [ "${state[${pid_of[$pid]}]}" = running ] && ! kill -0 "$pid" 2>/dev/null; then finished=$pid; break; fi
            done
            [ -z "$finished" ] || break
            sleep 1; waited=$(( waited + 1 ))
            if (( waited % 60 == 0 )); then
                for pid in "${!pid_of[@]}"; do
                    i=${pid_of[$pid]}
                    [ "${state[$i]}" = running ] || continue
                    echo "  … ${names[$i]}, $(( $(date +%s) - started[$i] ))s: $(tail -n 1 "$(log_of "$i")" | sed 's/^ *//' | cut -c1-90)"
                done
            fi
        done
        set +e; wait "$finished"; rc=$?; set -e
        i=${pid_of[$finished]}; running=$(( running - 1 )); state[$i]=done
        if [ "$rc" != 0 ]; then
            echo "${names[$i]} failed (exit $rc); the end of $(log_of "$i"):" >&2
            tail -n 30 "$(log_of "$i")" >&2
            kill $(jobs -p) 2>/dev/null || true
            exit "$rc"
        fi
        took=$(( $(date +%s) - started[$i] ))
        stages+=("$(printf '%-28s %6ss' "${names[$i]}" "$took")")
        echo "  finished ${names[$i]} (${took}s)"
    done
    trap - INT TERM
    for i in "${!names[@]}"; do
        case ${names[$i]} in eval*)
            echo
            echo "=== ${names[$i]}"
            sed -n '/^model:/,$p' "$(log_of "$i")" ;;
        esac
    done
fi

run_stage "report" "$bin" report "$out/teacher-natural" "$out/teacher-pgdat" "$out/natural" "$out/pgdat" "$out/bmtard" --out "$out"

echo
echo "=== stage times"
for s in "${stages[@]}"; do echo "  $s"; done
echo "  $(printf '%-28s %6ss' total "$(( $(date +%s) - t_all ))")"
echo "report: $out/report.html"
