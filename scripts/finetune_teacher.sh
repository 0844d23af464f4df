#!/usr/bin/env bash
# Fine-tune the teacher: FT mode (alpha 0, beta 0) at the pre-trained model's full depth.
#   TASK_NAME=SST-2 MODEL=bert-base-uncased LAYERS=12 bash scripts/finetune_teacher.sh [extra flags]
# Then copy teacher_models/$TASK_NAME/best_model to pretrained_models/$TASK_NAME/.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"  # the project's venv, or the environment you activated
TASK_NAME="${TASK_NAME:-SST-2}"
MODEL="${MODEL:-bert-base-uncased}"
LAYERS="${LAYERS:-12}"
python run_patient_kd.py \
    --task_name "$TASK_NAME" \
    --model_name_or_path "$MODEL" \
    --num_layers_of_student_model "$LAYERS" \
    --alpha 0 --beta 0 \
    --num_train_epochs "${EPOCHS:-3}" \
    --batch_size "${BATCH_SIZE:-32}" \
    --learning_rate "${LR:-2e-5}" \
    --warmup_proportion 0.1 \
    --logging_steps 50 \
    --save_steps 500 \
    --output_dir "teacher_models/$TASK_NAME" "$@"
