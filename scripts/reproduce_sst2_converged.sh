#!/usr/bin/env bash
# SST-2 students trained to convergence: 2 full epochs of the whole train set (67,349 sentences,
# about 4,200 steps at batch 32), the sibling of reproduce_sst2_cpu.sh (800 steps on 32,000
# examples). Same model family: all-MiniLM-L6-v2 6-layer teacher -> 3-layer students. Resumable:
# finished runs are skipped, a stopped run resumes from its last checkpoint. About 3 hours on 2 cores.
#
#   bash scripts/reproduce_sst2_converged.sh
#
# 1. two teachers, both evaluated (and their best checkpoint chosen) on HOLDOUT examples held out
#    from train, never on dev: the earlier recipe (1500 steps on TRAIN_EXAMPLES) and 2 epochs; the
#    one better on the held-out examples teaches the students (the log and teacher.txt say which);
# 2. 3-layer students, FT, KD, PKD-skip {2,4}, PKD-last {4,5}, one run per seed in SEEDS, each
#    EPOCHS epochs of the whole train set, dev evaluated every 500 steps and at the end, with the
#    weights reproduce_sst2_cpu.sh chose on held-out train (ALPHA 0.5, T 10, BETA 100);
# 3. RESULTS/sst2_converged_runs/, .{md,json,png} and _report.md (scripts/publish_results.sh).
#
# Settings (environment): OUT, DATA_DIR, MODEL, RESULTS, SEEDS ("1 2 3"), EPOCHS (2), HOLDOUT (2000),
# TRAIN_EXAMPLES (32000, the earlier teacher's), ALPHA, T, BETA.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
ROOT="$(pwd)"
OUT="${OUT:-runs/sst2_converged}"
DATA_DIR="${DATA_DIR:-$ROOT/../shared/data/glue/SST-2}"
MODEL="${MODEL:-models/minilm-l6}"
RESULTS="${RESULTS:-benchmarks/results}"
SEEDS="${SEEDS:-1 2 3}" EPOCHS="${EPOCHS:-2}" HOLDOUT="${HOLDOUT:-2000}" TRAIN_EXAMPLES="${TRAIN_EXAMPLES:-32000}"
ALPHA="${ALPHA:-0.5}" T="${T:-10}" BETA="${BETA:-100}"
source scripts/experiment_lib.sh
dry mkdir -p "$OUT/logs" "$RESULTS"

[ -f "$MODEL/model_state.pdparams" ] || [ -f "$MODEL/model.safetensors" ] || dry bash scripts/get_minilm.sh "$MODEL"

COMMON=(--task_name SST-2 --data_dir "$DATA_DIR" --model_name_or_path "$MODEL" --max_seq_length 64
        --batch_size 32 --learning_rate 5e-5 --logging_steps 50 --teacher_cache_dir "$OUT/teacher_cache")

TEACHER=(--num_layers_of_student_model 6 --alpha 0 --beta 0 --holdout_from_train "$HOLDOUT" --seed 0)
run teacher_1500 "${TEACHER[@]}" --max_train_examples "$TRAIN_EXAMPLES" --max_steps 1500 --eval_steps 250 --save_steps 250
run teacher_2ep "${TEACHER[@]}" --num_train_epochs "$EPOCHS" --eval_steps 500 --save_steps 500
if [ "${DRY_RUN:-0}" = 1 ]; then
    chosen=teacher_2ep
else
    chosen="$(python - "$OUT" <<'PY'
import json, sys
runs = ("teacher_1500", "teacher_2ep")
best = {run: json.load(open(f"{sys.argv[1]}/{run}/results.json"))["best_metric"] for run in runs}
print(max(runs, key=lambda run: best[run]))  # ties: the earlier recipe
PY
)"
    echo "teacher: $chosen (held-out acc: $(grep -ho '"best_metric": [0-9.]*' "$OUT"/teacher_*/results.json | tr '\n' ' '))" \
        | tee "$OUT/teacher.txt"
fi

STUDENT=(--num_layers_of_student_model 3 --teacher_finetuned_model_path "$OUT/$chosen/best_model"
         --num_train_epochs "$EPOCHS" --eval_steps 500 --save_steps 500)
final_students

write_results sst2_converged "SST-2 dev, 3-layer MiniLM students, $EPOCHS epochs, seeds $SEEDS"
