#!/usr/bin/env bash
# The whole pipeline for one task: fine-tune the teacher, then FT, KD, PKD-skip and PKD-last students.
# Runs whose results.json says "finished": true are skipped, so a stopped pipeline can be re-run.
#
#   TASK_NAME=SST-2 DATA_DIR=../shared/data/glue/SST-2 MODEL=models/minilm-l6 \
#   TEACHER_LAYERS=6 STUDENT_LAYERS=3 TEACHER_STEPS=1500 STUDENT_STEPS=800 OUT=runs/sst2 \
#   bash scripts/run_pipeline.sh [flags for every run, e.g. --max_seq_length 64]
#
# Your own data: leave TASK_NAME out and give the files as flags for every run:
#   MODEL=bert-base-uncased OUT=runs/reviews bash scripts/run_pipeline.sh \
#       --train_file reviews_train.csv --dev_file reviews_dev.csv --text_columns review --label_column stars
#
# KD/PKD weights: ALPHA (0.7), T (10), BETA (500). Flags after the script name go to every run.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"  # the project's venv, or the environment you activated
: "${MODEL:?set MODEL}" "${OUT:?set OUT}"
TEACHER_LAYERS="${TEACHER_LAYERS:-12}"
STUDENT_LAYERS="${STUDENT_LAYERS:-6}"
ALPHA="${ALPHA:-0.7}" T="${T:-10}" BETA="${BETA:-500}"
DATA=()
[ -n "${TASK_NAME:-}" ] && DATA+=(--task_name "$TASK_NAME")
[ -n "${DATA_DIR:-}" ] && DATA+=(--data_dir "$DATA_DIR")

finished() { [ -f "$1/results.json" ] && grep -q '"finished": true' "$1/results.json"; }

run() {  # run NAME STEPS FLAGS...
    local name="$1" steps="$2"
    shift 2
    if finished "$OUT/$name"; then
        echo "skip $name (finished)"
        return
    fi
    echo "run $name -> $OUT/$name"
    python run_patient_kd.py "${DATA[@]}" --model_name_or_path "$MODEL" \
        --max_steps "$steps" --output_dir "$OUT/$name" "$@" "${EXTRA[@]}" > /dev/null
    grep -h '"best_metric"' "$OUT/$name/results.json"
}

EXTRA=("$@")
run teacher "${TEACHER_STEPS:-2000}" --num_layers_of_student_model "$TEACHER_LAYERS" --alpha 0 --beta 0
STUDENT=(--teacher_finetuned_model_path "$OUT/teacher/best_model" --num_layers_of_student_model "$STUDENT_LAYERS")
run ft "${STUDENT_STEPS:-1000}" "${STUDENT[@]}" --alpha 0 --beta 0
run kd "${STUDENT_STEPS:-1000}" "${STUDENT[@]}" --alpha "$ALPHA" --T "$T" --beta 0
run pkd_skip "${STUDENT_STEPS:-1000}" "${STUDENT[@]}" --alpha "$ALPHA" --T "$T" --beta "$BETA" --strategy skip
run pkd_last "${STUDENT_STEPS:-1000}" "${STUDENT[@]}" --alpha "$ALPHA" --T "$T" --beta "$BETA" --strategy last
