#!/usr/bin/env bash
# Distillation where labels are few: SST-2 with K labelled train sentences (a fixed stratified sample) and the
# other ~66,000 train sentences, labels dropped, as the transfer set the teacher labels. Resumable like the other
# reproduce_*.sh scripts: finished runs are skipped, a stopped run resumes from its last checkpoint.
#
#   bash scripts/reproduce_sst2_low_resource.sh
#
# 1. OUT/split/: labelled.tsv (K), transfer.tsv (the rest, text only), transfer_5000.tsv, transfer_20000.tsv
#    (scripts/low_resource_split.py, seed 0);
# 2. teacher: all-MiniLM-L6-v2 (6 layers) fine-tuned on the K labelled sentences only: 200 of them held out
#    to choose its best checkpoint (never dev), TEACHER_EPOCHS epochs of the other 800;
# 3. 3-layer students, STEPS optimizer steps each (the same budget for every mode), dev every 250 steps, per
#    seed: FT(K), KD(K), PKD-skip(K), PKD-last(K), then KD, PKD-skip and PKD-last with the transfer set
#    (K+T), then KD(K+T) with 20 augmented copies of every labelled sentence (K x 20 + T); the weights
#    are the ones chosen on held-out train for the full-label SST-2 runs (alpha 0.5, T 10, beta 100:
#    reproduce_sst2_cpu.sh), not chosen on dev;
# 4. the transfer-size curve: KD(K+T) with |T| = 5,000 and 20,000 (first seed; 66,349 is the run above);
#    steps 3 and 4 go seed by seed, so a stopped experiment has whole seeds;
# 5. RESULTS/sst2_low_resource_runs/, .{md,json,png} and _report.md (scripts/publish_results.sh).
#
# Settings (environment): OUT, DATA_DIR, MODEL, RESULTS, SEEDS ("1 2 3"), K (1000), STEPS (2000),
# TEACHER_EPOCHS (10), ALPHA, T, BETA; PHASE=labelled runs only the teacher and the K-only students,
# PHASE=teacher only the teacher; PHASE=transfer only KD and PKD with the transfer set (PKD for each strategy in
# STRATEGIES, "skip last"), e.g. STEPS=4000 PHASE=transfer STRATEGIES=last: does PT pay with a longer budget?
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
ROOT="$(pwd)"
OUT="${OUT:-runs/sst2_low_resource}"
DATA_DIR="${DATA_DIR:-$ROOT/../shared/data/glue/SST-2}"
MODEL="${MODEL:-models/minilm-l6}"
RESULTS="${RESULTS:-benchmarks/results}"
SEEDS="${SEEDS:-1 2 3}" K="${K:-1000}" STEPS="${STEPS:-2000}" TEACHER_EPOCHS="${TEACHER_EPOCHS:-10}"
ALPHA="${ALPHA:-0.5}" T="${T:-10}" BETA="${BETA:-100}" PHASE="${PHASE:-all}"
source scripts/experiment_lib.sh
dry mkdir -p "$OUT/logs" "$RESULTS"

[ -f "$MODEL/model_state.pdparams" ] || [ -f "$MODEL/model.safetensors" ] || dry bash scripts/get_minilm.sh "$MODEL"
SPLIT="$OUT/split"
[ -f "$SPLIT/transfer_20000.tsv" ] || dry python scripts/low_resource_split.py "$DATA_DIR/train.tsv" "$SPLIT" --k "$K" \
    --transfer_sizes 5000,20000

COMMON=(--task_name sst-2-k$K --train_file "$SPLIT/labelled.tsv" --dev_file "$DATA_DIR/dev.tsv"
        --text_columns sentence --model_name_or_path "$MODEL" --max_seq_length 64 --batch_size 32
        --learning_rate 5e-5 --logging_steps 50 --teacher_cache_dir "$OUT/teacher_cache")

run teacher --num_layers_of_student_model 6 --alpha 0 --beta 0 --holdout_from_train 200 --seed 0 \
    --num_train_epochs "$TEACHER_EPOCHS" --eval_steps 25 --save_steps 250
[ "$PHASE" = teacher ] && exit 0
STUDENT=(--num_layers_of_student_model 3 --teacher_finetuned_model_path "$OUT/teacher/best_model"
         --max_steps "$STEPS" --eval_steps 250 --save_steps 500)
TRANSFER=(--transfer_file "$SPLIT/transfer.tsv" --eval_overlap drop)

low_resource_students "5000 20000"  # per seed: K-only, transfer and augmented students; the size curve on the first
write_results sst2_low_resource "SST-2 dev, K=$K labelled sentences, 3-layer MiniLM students, $STEPS steps, seeds $SEEDS"
