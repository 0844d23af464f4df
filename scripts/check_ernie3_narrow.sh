#!/usr/bin/env bash
# Narrow ERNIE 3.0 students from the model hub, a few steps each: for anyone with network access (the hub and the
# dataset host are unreachable on the machine this project is built on, so it has not been run there).
#
#   bash scripts/check_ernie3_narrow.sh [OUT=runs/ernie3_narrow_check]   (CPU or GPU; a few minutes)
#
# 1. teacher: ernie-3.0-base-zh (12 x 768) fine-tuned 40 steps on 640 ChnSentiCorp reviews (downloaded by PaddleNLP);
# 2. PKD-skip students from ernie-3.0-mini-zh (6 x 384) and ernie-3.0-nano-zh (4 x 312): vocabulary checked against the
#    teacher's token by token, [CLS] states projected to 768, 20 steps each; ernie-3.0-medium-zh (6 x 768): no projection;
# 3. one PASS or FAIL line per student (finished, PT logged, best_model as wide as the student model).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
OUT="${1:-runs/ernie3_narrow_check}"
mkdir -p "$OUT"
COMMON=(--task_name chnsenticorp --max_train_examples 640 --max_seq_length 128 --batch_size 16 --logging_steps 5
        --eval_steps 20 --save_steps 20 --output_dir)
python run_patient_kd.py "${COMMON[@]}" "$OUT/teacher" --model_name_or_path ernie-3.0-base-zh \
    --num_layers_of_student_model 12 --max_steps 40 > "$OUT.teacher.log" 2>&1 \
    || { echo "FAIL teacher: see $OUT.teacher.log"; exit 1; }
failed=0
for student in ernie-3.0-mini-zh ernie-3.0-nano-zh ernie-3.0-medium-zh; do
    python run_patient_kd.py "${COMMON[@]}" "$OUT/$student" --model_name_or_path ernie-3.0-base-zh \
        --teacher_finetuned_model_path "$OUT/teacher/best_model" --student_model_name_or_path "$student" \
        --alpha 0.8 --T 0.6 --beta 100 --strategy skip --max_steps 20 > "$OUT.$student.log" 2>&1
    if python - "$OUT/$student" <<'PY'
import json, sys
r = json.load(open(f"{sys.argv[1]}/results.json"))
assert r["finished"] and all(w["pt"] is not None for w in r["train_log"]), "unfinished, or no PT"
print(f"  {sys.argv[1]}: {r['num_student_layers']} layers, hidden "
      f"{json.load(open(sys.argv[1] + '/best_model/config.json'))['hidden_size']}, best acc {r['best_metric']:.4f}")
PY
    then echo "PASS $student"; else echo "FAIL $student: see $OUT.$student.log"; failed=1; fi
done
exit $failed
