#!/usr/bin/env bash
# Distillation where labels are few, in Chinese: ChnSentiCorp with K labelled train reviews (a fixed stratified
# sample) and the other ~8,600 train reviews, labels dropped, as the transfer set; m3e-small (research use only,
# see get_m3e_small.sh) as in reproduce_chnsenticorp_m3e.sh. Resumable like the other reproduce_*.sh scripts.
#
#   bash scripts/reproduce_chnsenticorp_low_resource.sh
#
# 1. OUT/split/: labelled.tsv (K), transfer.tsv (the rest, text only) (scripts/low_resource_split.py, seed 0);
# 2. teacher: all 4 layers of m3e-small fine-tuned on the K labelled reviews only: 200 of them held out to choose
#    its best checkpoint (never dev), TEACHER_EPOCHS epochs of the other 800;
# 3. 2-layer students, STEPS steps each (600: two epochs of labelled + transfer reviews), dev every 100 steps,
#    seed by seed: FT(K), KD(K), PKD-skip(K), PKD-last(K), KD, PKD-skip and PKD-last with the transfer set, KD
#    with it and 20 augmented copies of every labelled review (jieba parts of speech); weights: those chosen on
#    held-out train for the full-label ChnSentiCorp runs (alpha 0.9, T 5, beta 100), not chosen on dev;
# 4. RESULTS/chnsenticorp_low_resource_runs/, .{md,json,png} and _report.md (scripts/publish_results.sh).
#
# Settings (environment): OUT, DATA_DIR, MODEL, RESULTS, SEEDS ("1 2 3"), K (1000), STEPS (600),
# TEACHER_EPOCHS (10), ALPHA, T, BETA; PHASE=labelled runs only the teacher and the K-only students,
# PHASE=teacher only the teacher; PHASE=transfer only KD and PKD with the transfer set (PKD for each strategy in
# STRATEGIES, "skip last"), e.g. STEPS=4000 PHASE=transfer STRATEGIES=last: does PT pay with a longer budget?
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
ROOT="$(pwd)"
OUT="${OUT:-runs/chnsenticorp_low_resource}"
DATA_DIR="${DATA_DIR:-$ROOT/../shared/data/chnsenticorp}"
MODEL="${MODEL:-models/m3e-small}"
RESULTS="${RESULTS:-benchmarks/results}"
SEEDS="${SEEDS:-1 2 3}" K="${K:-1000}" STEPS="${STEPS:-600}" TEACHER_EPOCHS="${TEACHER_EPOCHS:-10}"
ALPHA="${ALPHA:-0.9}" T="${T:-5}" BETA="${BETA:-100}" PHASE="${PHASE:-all}"
source scripts/experiment_lib.sh
dry mkdir -p "$OUT/logs" "$RESULTS"

[ -f "$MODEL/model.safetensors" ] || dry bash scripts/get_m3e_small.sh "$MODEL"
SPLIT="$OUT/split"
[ -f "$SPLIT/transfer.tsv" ] || dry python scripts/low_resource_split.py "$DATA_DIR/train.tsv" "$SPLIT" --k "$K"

COMMON=(--task_name chnsenticorp-k$K --train_file "$SPLIT/labelled.tsv" --dev_file "$DATA_DIR/dev.tsv"
        --text_columns text_a --model_name_or_path "$MODEL" --max_seq_length 128 --batch_size 32
        --learning_rate 5e-5 --logging_steps 50 --teacher_cache_dir "$OUT/teacher_cache")

run teacher --num_layers_of_student_model 4 --alpha 0 --beta 0 --holdout_from_train 200 --seed 0 \
    --num_train_epochs "$TEACHER_EPOCHS" --eval_steps 25 --save_steps 250
[ "$PHASE" = teacher ] && exit 0
STUDENT=(--num_layers_of_student_model 2 --teacher_finetuned_model_path "$OUT/teacher/best_model"
         --max_steps "$STEPS" --eval_steps 100 --save_steps 300)
TRANSFER=(--transfer_file "$SPLIT/transfer.tsv" --eval_overlap drop)

low_resource_students ""  # no transfer-size curve here (SST-2 has it)

write_results chnsenticorp_low_resource "ChnSentiCorp dev, K=$K labelled reviews, 2-layer m3e-small students, $STEPS steps, seeds $SEEDS"
