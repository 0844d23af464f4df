#!/usr/bin/env bash
# Students narrower than their teacher on ChnSentiCorp: the m3e-small teacher (4 layers, hidden 512; research use
# only, see get_m3e_small.sh) and 4-layer students of width 256 with m3e-small's vocabulary, initialised at random
# (no narrow pre-trained Chinese model can be had offline: scripts/random_student.py). Resumable like the others.
#
#   bash scripts/reproduce_chnsenticorp_narrow.sh
#
# 1. teacher: as reproduce_chnsenticorp_m3e.sh (all 4 layers, EPOCHS epochs, best checkpoint on HOLDOUT held-out
#    train reviews); TEACHER=DIR uses a teacher already trained that way;
# 2. OUT/student_model: a random 4 x 256 BERT with m3e-small's vocabulary (seed 0);
# 3. students from it (--student_model_name_or_path), EPOCHS epochs, dev every 100 steps, seeds SEEDS: FT, KD,
#    PKD-skip (student layers 1-3 against teacher layers 1-3, through a learned 256 -> 512 map per pair), then KD
#    and PKD-skip with ChnSentiCorp's unlabelled test reviews as a transfer set; weights: those chosen on held-out
#    train for the m3e-small students (alpha 0.9, T 5, beta 100), not re-chosen for this shape;
# 4. RESULTS/chnsenticorp_narrow_runs/, .{md,json,png} and _report.md.
#
# Settings (environment): OUT, DATA_DIR, MODEL, TEACHER, RESULTS, SEEDS ("1 2 3"), EPOCHS (2), HOLDOUT (1000),
# WIDTH (256), LAYERS (4), ALPHA, T, BETA.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
ROOT="$(pwd)"
OUT="${OUT:-runs/chnsenticorp_narrow}"
DATA_DIR="${DATA_DIR:-$ROOT/../shared/data/chnsenticorp}"
MODEL="${MODEL:-models/m3e-small}"
RESULTS="${RESULTS:-benchmarks/results}"
SEEDS="${SEEDS:-1 2 3}" EPOCHS="${EPOCHS:-2}" HOLDOUT="${HOLDOUT:-1000}" WIDTH="${WIDTH:-256}" LAYERS="${LAYERS:-4}"
ALPHA="${ALPHA:-0.9}" T="${T:-5}" BETA="${BETA:-100}"
mkdir -p "$OUT/logs" "$RESULTS"

[ -f "$MODEL/model.safetensors" ] || bash scripts/get_m3e_small.sh "$MODEL"

COMMON=(--task_name chnsenticorp --data_dir "$DATA_DIR" --model_name_or_path "$MODEL" --max_seq_length 128
        --batch_size 32 --learning_rate 5e-5 --logging_steps 50 --teacher_cache_dir "$OUT/teacher_cache")

source scripts/experiment_lib.sh

if [ -z "${TEACHER:-}" ]; then
    run teacher --num_layers_of_student_model 4 --alpha 0 --beta 0 --holdout_from_train "$HOLDOUT" --seed 0 \
        --num_train_epochs "$EPOCHS" --eval_steps 100 --save_steps 100
    TEACHER="$OUT/teacher/best_model"
fi
[ -f "$OUT/student_model/model.safetensors" ] || dry python scripts/random_student.py "$MODEL" "$OUT/student_model" \
    --layers "$LAYERS" --hidden "$WIDTH" --heads 4
STUDENT=(--student_model_name_or_path "$OUT/student_model" --teacher_finetuned_model_path "$TEACHER"
         --num_train_epochs "$EPOCHS" --eval_steps 100 --save_steps 300)
for seed in $SEEDS; do
    run "final/ft_seed$seed" "${STUDENT[@]}" --seed "$seed" --alpha 0 --beta 0
    run "final/kd_seed$seed" "${STUDENT[@]}" --seed "$seed" --alpha "$ALPHA" --T "$T" --beta 0
    run "final/pkd_skip_seed$seed" "${STUDENT[@]}" --seed "$seed" --alpha "$ALPHA" --T "$T" --beta "$BETA" --strategy skip
    for mode in kd pkd_skip; do
        beta=0
        [ "$mode" = pkd_skip ] && beta="$BETA"
        run "final/${mode}_transfer_seed$seed" "${STUDENT[@]}" --seed "$seed" --alpha "$ALPHA" --T "$T" --beta "$beta" \
            --strategy skip --transfer_file "$DATA_DIR/test.tsv" --transfer_text_columns text_a
    done
done

write_results chnsenticorp_narrow "ChnSentiCorp dev, 4 x $WIDTH random students of the m3e-small teacher, $EPOCHS epochs, seeds $SEEDS"
