#!/usr/bin/env bash
# FT vs KD vs PKD on the real SST-2 with a real pre-trained BERT-architecture model, sized for a
# 2-core CPU (about 2 hours with Paddle's CPU defaults, less with runtime/cpu_env.py's settings). One
# command, resumable: finished runs are skipped, a stopped run resumes from its last checkpoint.
#
#   bash scripts/reproduce_sst2_cpu.sh
#
# 1. fetch and convert all-MiniLM-L6-v2 (6 layers, hidden 384) unless MODEL exists;
# 2. fine-tune it on SST-2 train: the 6-layer teacher;
# 3. choose alpha/T (KD) then beta (PKD-skip) on HOLDOUT examples held out from train, never on dev;
# 4. 3-layer students (first 3 layers of the pre-trained MiniLM): FT, KD, PKD-skip {2,4}, PKD-last
#    {4,5}, one run per seed in SEEDS, each STUDENT_STEPS steps on the same TRAIN_EXAMPLES subset;
# 5. re-run one configuration with the same seed (reproducibility);
# 6. scripts/publish_results.sh: RESULTS/sst2_minilm_runs/ (the results.json copies), sst2_minilm.{md,json,png}
#    (table, one record per run, dev accuracy against step) and sst2_minilm_report.md.
#
# Settings (environment): OUT, DATA_DIR, MODEL, RESULTS, SEEDS ("1 2 3"), TRAIN_EXAMPLES (32000),
# HOLDOUT (2000), TEACHER_STEPS (1500), STUDENT_STEPS (800), SWEEP_STEPS (400); ALPHA, T and BETA
# together skip step 3 (e.g. the values an earlier run of this script chose: 0.5, 10, 100).
# The Python environment is set up as by scripts/setup_env.sh (REQUIREMENTS, PYTHON, VENV).
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
ROOT="$(pwd)"
OUT="${OUT:-runs/sst2_minilm}"
DATA_DIR="${DATA_DIR:-$ROOT/../shared/data/glue/SST-2}"
MODEL="${MODEL:-models/minilm-l6}"
RESULTS="${RESULTS:-benchmarks/results}"
SEEDS="${SEEDS:-1 2 3}"
TRAIN_EXAMPLES="${TRAIN_EXAMPLES:-32000}" HOLDOUT="${HOLDOUT:-2000}"
TEACHER_STEPS="${TEACHER_STEPS:-1500}" STUDENT_STEPS="${STUDENT_STEPS:-800}" SWEEP_STEPS="${SWEEP_STEPS:-400}"
source scripts/experiment_lib.sh
dry mkdir -p "$OUT/logs" "$RESULTS"

[ -f "$MODEL/model_state.pdparams" ] || [ -f "$MODEL/model.safetensors" ] || dry bash scripts/get_minilm.sh "$MODEL"

COMMON=(--task_name SST-2 --data_dir "$DATA_DIR" --model_name_or_path "$MODEL" --max_seq_length 64
        --batch_size 32 --learning_rate 5e-5 --logging_steps 50 --teacher_cache_dir "$OUT/teacher_cache")

run teacher --num_layers_of_student_model 6 --max_steps "$TEACHER_STEPS" --eval_steps 250 --save_steps 250 \
    --alpha 0 --beta 0
STUDENT=(--num_layers_of_student_model 3 --teacher_finetuned_model_path "$OUT/teacher/best_model"
         --max_train_examples "$TRAIN_EXAMPLES" --max_steps "$STUDENT_STEPS" --eval_steps 100 --save_steps 400)
SWEEP=("${STUDENT[@]}" --holdout_from_train "$HOLDOUT" --max_steps "$SWEEP_STEPS" --seed 0)

choose_weights "0.5 0.9" "5 10" "100 1000 10000"

final_students
first_seed="${SEEDS%% *}"
run "repro/pkd_skip_seed$first_seed" "${STUDENT[@]}" --seed "$first_seed" --alpha "$ALPHA" --T "$T" \
    --beta "$BETA" --strategy skip

write_results sst2_minilm "SST-2 dev, 3-layer MiniLM students (mean ± std over seeds $SEEDS)"
[ "${DRY_RUN:-0}" = 1 ] && exit 0  # the check below reads the runs' results
python - "$OUT/final/pkd_skip_seed$first_seed" "$OUT/repro/pkd_skip_seed$first_seed" <<'PY' \
    | tee -a "$RESULTS/sst2_minilm.md"
import json, sys
a, b = (json.load(open(f"{run}/results.json")) for run in sys.argv[1:])
worst = max(abs(x["acc"] - y["acc"]) for x, y in zip(a["history"], b["history"]))
print(f"Same configuration and seed run twice ({sys.argv[1]}, {sys.argv[2]}): best dev acc "
      f"{a['best_metric']:.4f} and {b['best_metric']:.4f}; largest difference at any of the "
      f"{len(a['history'])} evaluations: {100 * worst:.2f} points.")
PY
