#!/usr/bin/env bash
# The paper-scale SST-2 table on a GPU machine: BERT-base (12 layers) teacher, 6-layer FT, KD,
# PKD-skip and PKD-last students, 5 seeds each. One command, resumable like the CPU experiment
# (finished runs are skipped, a stopped run resumes from its last checkpoint):
#
#   PADDLE_GPU=cu126 bash scripts/reproduce_sst2_gpu.sh     # cu118 | cu126 | cu129, see README
#   DRY_RUN=1 bash scripts/reproduce_sst2_gpu.sh            # print every command, run nothing
#
# 1. fine-tune bert-base-uncased on SST-2 train (reference: 3 epochs, lr 2e-5, batch 32): the teacher;
# 2. choose alpha/T (KD) then beta (PKD-skip) on HOLDOUT examples held out from train, never on dev,
#    around the reference's recommendations (KD alpha 0.8 T 10; PKD alpha 0.9 T 10 beta 500-700);
# 3. 6-layer students (first 6 layers of bert-base-uncased), EPOCHS epochs each (reference: 4, batch
#    32, lr 5e-5, warmup 0.1), mixed precision, KD and PKD from the teacher cache;
# 4. RESULTS/sst2_bert_base_runs/, .{md,json,png} and _report.md (scripts/publish_results.sh).
# With several GPUs in CUDA_VISIBLE_DEVICES each run is data-parallel over them (same global batch).
#
# Expected wall time: an ESTIMATE, not measured (no GPU where this was written), from the FLOPs of
# the whole experiment (model shape and the length-grouped SST-2 batches, python
# benchmarks/gpu_time_estimate.py) at 30% of each GPU's published dense FP16 tensor throughput, with
# a floor per optimizer step for the framework's own overhead (12 layers 30 ms, 6 layers 15 ms, a
# guess). SST-2 train: mean 13.3 tokens, length-grouped batches of 32 pad to 14.0, so a step is small
# and the floor dominates: the estimate is about 0.8 h on one GPU of any generation (T4 0.9 h; V100,
# A10, L4, RTX 4090, A100, H100, B200 0.8 h), 29 student runs + the teacher. Treat it as a lower bound.
#
# Settings (environment): OUT, DATA_DIR (default: PaddleNLP downloads SST-2), MODEL, RESULTS, SEEDS
# ("1 2 3 4 5"), HOLDOUT (2000), EPOCHS (4), TEACHER_EPOCHS (3), SWEEP_EPOCHS (1), AMP (1), and
# ALPHA, T, BETA together to skip step 2.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
OUT="${OUT:-runs/sst2_bert_base}"
MODEL="${MODEL:-bert-base-uncased}"
RESULTS="${RESULTS:-benchmarks/results}"
SEEDS="${SEEDS:-1 2 3 4 5}"
HOLDOUT="${HOLDOUT:-2000}" EPOCHS="${EPOCHS:-4}" TEACHER_EPOCHS="${TEACHER_EPOCHS:-3}" SWEEP_EPOCHS="${SWEEP_EPOCHS:-1}"
[ "${DRY_RUN:-0}" = 1 ] || mkdir -p "$OUT/logs" "$RESULTS"

GPUS="${CUDA_VISIBLE_DEVICES:-0}"
NGPU="$(echo "$GPUS" | tr ',' '\n' | grep -c .)"
BATCH=$((32 / NGPU))  # per process: the global batch stays 32
LAUNCH=(python)
[ "$NGPU" -gt 1 ] && LAUNCH=(python -m paddle.distributed.launch --gpus "$GPUS" --log_dir "$OUT/dist_logs")
COMMON=(--task_name SST-2 --model_name_or_path "$MODEL" --max_seq_length 128 --batch_size "$BATCH"
        --warmup_proportion 0.1 --logging_steps 100 --device gpu --teacher_cache_dir "$OUT/teacher_cache")
[ -n "${DATA_DIR:-}" ] && COMMON+=(--data_dir "$DATA_DIR")
[ "${AMP:-1}" = 1 ] && COMMON+=(--use_amp)

source scripts/experiment_lib.sh

run teacher --num_layers_of_student_model 12 --num_train_epochs "$TEACHER_EPOCHS" --learning_rate 2e-5 \
    --eval_steps 500 --save_steps 1000 --alpha 0 --beta 0
STUDENT=(--num_layers_of_student_model 6 --teacher_finetuned_model_path "$OUT/teacher/best_model"
         --num_train_epochs "$EPOCHS" --learning_rate 5e-5 --eval_steps 500 --save_steps 1000)
SWEEP=("${STUDENT[@]}" --holdout_from_train "$HOLDOUT" --num_train_epochs "$SWEEP_EPOCHS" --seed 0)

choose_weights "0.5 0.8 0.9" "5 10" "100 500 700"

final_students
write_results sst2_bert_base "SST-2 dev, 6-layer BERT-base students (mean ± std over seeds $SEEDS)"
