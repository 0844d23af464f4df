#!/usr/bin/env bash
# Students narrower than their teacher on ChnSentiCorp, where labels are few: the m3e-small teacher (4 layers,
# hidden 512; research use only, see get_m3e_small.sh) of reproduce_chnsenticorp_low_resource.sh (fine-tuned on
# K=1,000 labelled reviews) and 4-layer students of width 256 with m3e-small's vocabulary, initialised at random
# (no narrow pre-trained Chinese model can be had offline: scripts/random_student.py). Resumable like the others.
#
#   bash scripts/reproduce_chnsenticorp_narrow.sh
#
# 1. LOW/teacher and LOW/split: from reproduce_chnsenticorp_low_resource.sh (run with PHASE=teacher when missing;
#    one teacher and one split serve both experiments); OUT/teacher links to it, so the tables show the teacher;
# 2. OUT/random_LAYERSxWIDTH: a random LAYERS x WIDTH BERT with m3e-small's vocabulary (seed 0);
# 3. students from it (--student_model_name_or_path), STEPS steps each, dev every 100, seeds SEEDS: FT, KD and
#    PKD-skip (student layers 1-3 against teacher layers 1-3, through a learned 256 -> 512 map per pair) on the
#    K labelled reviews, then KD and PKD-skip with the other 8,600 train reviews, labels dropped, as the transfer
#    set; weights: those chosen on held-out train for the m3e-small students (alpha 0.9, T 5, beta 100);
#    learning rate LR (2e-4: students trained from scratch take a larger one than fine-tuning; not tuned);
# 4. RESULTS/chnsenticorp_narrow_runs/, .{md,json,png} and _report.md.
#
# Settings (environment): OUT, LOW, DATA_DIR, MODEL, RESULTS, SEEDS ("1 2 3"), K (1000), STEPS (600, as the low-resource students), LR,
# WIDTH (256), LAYERS (4), ALPHA, T, BETA.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
ROOT="$(pwd)"
OUT="${OUT:-runs/chnsenticorp_narrow}"
LOW="${LOW:-runs/chnsenticorp_low_resource}"
DATA_DIR="${DATA_DIR:-$ROOT/../shared/data/chnsenticorp}"
MODEL="${MODEL:-models/m3e-small}"
RESULTS="${RESULTS:-benchmarks/results}"
SEEDS="${SEEDS:-1 2 3}" K="${K:-1000}" STEPS="${STEPS:-600}" LR="${LR:-2e-4}" WIDTH="${WIDTH:-256}"
LAYERS="${LAYERS:-4}" ALPHA="${ALPHA:-0.9}" T="${T:-5}" BETA="${BETA:-100}"
RANDOM_STUDENT="random_${LAYERS}x${WIDTH}"  # the folder name labels the tables
source scripts/experiment_lib.sh
dry mkdir -p "$OUT/logs" "$RESULTS"

[ -f "$MODEL/model.safetensors" ] || dry bash scripts/get_m3e_small.sh "$MODEL"
[ -f "$LOW/teacher/best_model/config.json" ] || OUT="$LOW" K="$K" PHASE=teacher DATA_DIR="$DATA_DIR" MODEL="$MODEL" \
    dry bash scripts/reproduce_chnsenticorp_low_resource.sh
[ -e "$OUT/teacher" ] || dry ln -s "$(realpath -m "$LOW/teacher")" "$OUT/teacher"
SPLIT="$LOW/split"

COMMON=(--task_name chnsenticorp-k$K --train_file "$SPLIT/labelled.tsv" --dev_file "$DATA_DIR/dev.tsv"
        --text_columns text_a --model_name_or_path "$MODEL" --max_seq_length 128 --batch_size 32
        --learning_rate "$LR" --logging_steps 50 --teacher_cache_dir "$LOW/teacher_cache")

[ -f "$OUT/$RANDOM_STUDENT/model.safetensors" ] || dry python scripts/random_student.py "$MODEL" "$OUT/$RANDOM_STUDENT" \
    --layers "$LAYERS" --hidden "$WIDTH" --heads 4
STUDENT=(--student_model_name_or_path "$OUT/$RANDOM_STUDENT" --teacher_finetuned_model_path "$LOW/teacher/best_model"
         --max_steps "$STEPS" --eval_steps 100 --save_steps 300)
TRANSFER=(--transfer_file "$SPLIT/transfer.tsv" --eval_overlap drop)
for seed in $SEEDS; do
    run "final/ft_seed$seed" "${STUDENT[@]}" --seed "$seed" --alpha 0 --beta 0
    for transfer in "" _transfer; do
        extra=()
        [ -n "$transfer" ] && extra=("${TRANSFER[@]}")
        run "final/kd${transfer}_seed$seed" "${STUDENT[@]}" "${extra[@]}" --seed "$seed" --alpha "$ALPHA" --T "$T" \
            --beta 0
        run "final/pkd_skip${transfer}_seed$seed" "${STUDENT[@]}" "${extra[@]}" --seed "$seed" --alpha "$ALPHA" \
            --T "$T" --beta "$BETA" --strategy skip
    done
done

write_results chnsenticorp_narrow "ChnSentiCorp dev, K=$K labelled reviews, $LAYERS x $WIDTH random students of the m3e-small teacher, $STEPS steps, seeds $SEEDS"
