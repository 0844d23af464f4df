#!/usr/bin/env bash
# One of the reference README's runs, in the background with nohup and its own log file.
#
#   bash scripts/reference/launch.sh TASK MODE [extra run_patient_kd.py flags]
#   TASK: SST-2 | QQP | chnsenticorp     MODE: teacher | ft | kd | pkd_skip | pkd_last
#
# CUDA_VISIBLE_DEVICES picks the GPU(s); with several, the run is data-parallel through
# paddle.distributed.launch (the per-GPU batch is the reference's batch divided by the GPU count,
# so the global batch stays the reference's). Without a GPU it runs on the CPU.
# Overrides: MODEL (pre-trained model), TEACHER (default pretrained_models/TASK), DATA_DIR,
# OUT_ROOT (default runs), LOG_DIR (default logs).
set -euo pipefail
source "$(dirname "$0")/../setup_env.sh"  # the project's venv, or the environment you activated
TASK="${1:?TASK}" MODE="${2:?MODE}"
shift 2
case "$TASK" in
    SST-2|QQP) MODEL="${MODEL:-bert-base-uncased}" ;;
    chnsenticorp) MODEL="${MODEL:-bert-wwm-ext-chinese}" ;;
    *) echo "error: TASK must be SST-2, QQP or chnsenticorp, got $TASK" >&2; exit 2 ;;
esac
# Hyper-parameters of the reference README (SST-2 and ChnSentiCorp commands; QQP and the PKD
# settings from its recommendations). eval_steps is the reference's save_steps; checkpoints less often.
case "$TASK:$MODE" in
    SST-2:teacher)        BATCH=32;  FLAGS="--num_train_epochs 3 --learning_rate 2e-5 --warmup_proportion 0.1 --eval_steps 500" ;;
    SST-2:ft)             BATCH=32;  FLAGS="--num_train_epochs 4 --alpha 0.0 --T 5 --beta 0 --warmup_proportion 0.1 --eval_steps 10" ;;
    SST-2:kd)             BATCH=32;  FLAGS="--num_train_epochs 4 --alpha 0.8 --T 10 --beta 0 --warmup_proportion 0.1 --eval_steps 10" ;;
    SST-2:pkd_*)          BATCH=32;  FLAGS="--num_train_epochs 8 --alpha 0.9 --T 10 --beta 700 --warmup_proportion 0.1 --eval_steps 10" ;;
    chnsenticorp:teacher) BATCH=32;  FLAGS="--num_train_epochs 3 --learning_rate 2e-5 --warmup_proportion 0.1 --eval_steps 100" ;;
    chnsenticorp:ft)      BATCH=32;  FLAGS="--num_train_epochs 40 --alpha 0.0 --beta 0 --warmup_proportion 0.0 --eval_steps 100" ;;
    chnsenticorp:kd)      BATCH=32;  FLAGS="--num_train_epochs 30 --alpha 0.8 --T 0.8 --beta 0 --warmup_proportion 0.1 --eval_steps 100" ;;
    chnsenticorp:pkd_*)   BATCH=32;  FLAGS="--num_train_epochs 40 --alpha 0.8 --T 0.6 --beta 800 --warmup_proportion 0.1 --eval_steps 100" ;;
    QQP:teacher)          BATCH=32;  FLAGS="--num_train_epochs 3 --learning_rate 2e-5 --warmup_proportion 0.1 --eval_steps 2000" ;;
    QQP:ft)               BATCH=256; FLAGS="--num_train_epochs 40 --alpha 0.0 --beta 0 --warmup_proportion 0.1 --eval_steps 1000" ;;
    QQP:kd)               BATCH=256; FLAGS="--num_train_epochs 40 --alpha 0.8 --T 0.8 --beta 0 --warmup_proportion 0.1 --eval_steps 1000" ;;
    QQP:pkd_*)            BATCH=256; FLAGS="--num_train_epochs 40 --alpha 0.8 --T 0.8 --beta 500 --warmup_proportion 0.1 --eval_steps 1000" ;;
    *) echo "error: MODE must be teacher, ft, kd, pkd_skip or pkd_last, got $MODE" >&2; exit 2 ;;
esac
case "$MODE" in
    teacher) FLAGS="$FLAGS --num_layers_of_student_model 12 --alpha 0 --beta 0" ;;
    pkd_skip) FLAGS="$FLAGS --strategy skip" ;;
    pkd_last) FLAGS="$FLAGS --strategy last" ;;
esac
[ "$MODE" != teacher ] && FLAGS="$FLAGS --teacher_finetuned_model_path ${TEACHER:-pretrained_models/$TASK}"
[ -n "${DATA_DIR:-}" ] && FLAGS="$FLAGS --data_dir $DATA_DIR"

GPUS=0
if python -c "import paddle, sys; sys.exit(0 if paddle.is_compiled_with_cuda() else 1)" 2>/dev/null \
        && command -v nvidia-smi > /dev/null; then
    GPUS=$(python -c "import paddle; print(paddle.device.cuda.device_count())")
fi
OUT="${OUT_ROOT:-runs}/$TASK/$MODE"
LOG="${LOG_DIR:-logs}/${TASK}_${MODE}.log"
mkdir -p "$(dirname "$LOG")"
if [ "$GPUS" -gt 1 ]; then
    LAUNCH=(python -m paddle.distributed.launch --gpus "$(seq -s, 0 $((GPUS - 1)))" --log_dir "$OUT/dist_logs")
    BATCH=$((BATCH / GPUS))
else
    LAUNCH=(python)
fi
# shellcheck disable=SC2086
nohup "${LAUNCH[@]}" run_patient_kd.py --task_name "$TASK" --model_name_or_path "$MODEL" --batch_size "$BATCH" \
    --logging_steps 10 --save_steps 1000 --output_dir "$OUT" $FLAGS "$@" > "$LOG" 2>&1 &
echo "started $TASK $MODE (pid $!, $GPUS GPU(s)): log $LOG, output $OUT"
