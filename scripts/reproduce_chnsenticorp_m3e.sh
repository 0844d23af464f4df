#!/usr/bin/env bash
# FT vs KD vs PKD on the real ChnSentiCorp (9,600 train / 1,200 dev) with a real pre-trained Chinese
# BERT-architecture model, m3e-small (4 layers, hidden 512; research use only, see get_m3e_small.sh).
# Resumable like reproduce_sst2_cpu.sh: finished runs are skipped, a stopped run resumes. Budget: a 4-layer
# step at batch 32, max_seq_length 128 took 3 s on 2 cores shared with another run (about half that alone):
# roughly 3 to 4 hours on a quiet 2-core machine.
#
#   bash scripts/reproduce_chnsenticorp_m3e.sh
#
# 1. fetch and convert m3e-small unless MODEL exists;
# 2. teacher: all 4 layers fine-tuned on ChnSentiCorp train, EPOCHS epochs, its best checkpoint chosen
#    on HOLDOUT examples held out from train (never on dev);
# 3. alpha/T (KD), then beta (PKD-skip) chosen on the held-out examples with 1-epoch students, seed 0;
# 4. 2-layer students (the first 2 layers of the pre-trained m3e-small): FT, KD, PKD-skip {2},
#    PKD-last {3}, seeds SEEDS, EPOCHS epochs each, dev evaluated every 100 steps and at the end;
# 5. RESULTS/chnsenticorp_m3e_runs/, .{md,json,png} and _report.md (scripts/publish_results.sh).
#
# Settings (environment): OUT, DATA_DIR, MODEL, RESULTS, SEEDS ("1 2 3"), EPOCHS (2), HOLDOUT (1000);
# ALPHA, T and BETA together skip step 3.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
ROOT="$(pwd)"
OUT="${OUT:-runs/chnsenticorp_m3e}"
DATA_DIR="${DATA_DIR:-$ROOT/../shared/data/chnsenticorp}"
MODEL="${MODEL:-models/m3e-small}"
RESULTS="${RESULTS:-benchmarks/results}"
SEEDS="${SEEDS:-1 2 3}" EPOCHS="${EPOCHS:-2}" HOLDOUT="${HOLDOUT:-1000}"
source scripts/experiment_lib.sh
dry mkdir -p "$OUT/logs" "$RESULTS"

[ -f "$MODEL/model.safetensors" ] || dry bash scripts/get_m3e_small.sh "$MODEL"

COMMON=(--task_name chnsenticorp --data_dir "$DATA_DIR" --model_name_or_path "$MODEL" --max_seq_length 128
        --batch_size 32 --learning_rate 5e-5 --logging_steps 50 --teacher_cache_dir "$OUT/teacher_cache")

run teacher --num_layers_of_student_model 4 --alpha 0 --beta 0 --holdout_from_train "$HOLDOUT" --seed 0 \
    --num_train_epochs "$EPOCHS" --eval_steps 100 --save_steps 100
STUDENT=(--num_layers_of_student_model 2 --teacher_finetuned_model_path "$OUT/teacher/best_model"
         --num_train_epochs "$EPOCHS" --eval_steps 100 --save_steps 300)
SWEEP=(--num_layers_of_student_model 2 --teacher_finetuned_model_path "$OUT/teacher/best_model"
       --holdout_from_train "$HOLDOUT" --num_train_epochs 1 --eval_steps 100 --save_steps 300 --seed 0)

choose_weights "0.5 0.9" "5 10" "100 1000 10000"

final_students

write_results chnsenticorp_m3e "ChnSentiCorp dev, 2-layer m3e-small students, $EPOCHS epochs, seeds $SEEDS"
