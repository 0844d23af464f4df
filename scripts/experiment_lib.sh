# Shared by the reproduce_*.sh experiments (sourced): resumable runs, DRY_RUN, choice on held-out data.
# Needs OUT (runs go to $OUT/NAME, logs to $OUT/logs/NAME.log) and COMMON (flags of every run).

finished() { [ -f "$1/results.json" ] && grep -q '"finished": true' "$1/results.json"; }

run() {  # run NAME FLAGS...: one run_patient_kd.py run in $OUT/NAME; skipped when finished; DRY_RUN=1 prints it
    local name="$1"
    shift
    if [ "${DRY_RUN:-0}" = 1 ]; then
        echo "${LAUNCH[*]:-python} run_patient_kd.py ${COMMON[*]} --output_dir $OUT/$name $*"
        return
    fi
    if finished "$OUT/$name"; then
        echo "skip $name (finished)"
        return
    fi
    echo "$(date +%T) run $name"
    mkdir -p "$(dirname "$OUT/logs/$name")"
    "${LAUNCH[@]:-python}" run_patient_kd.py "${COMMON[@]}" --output_dir "$OUT/$name" "$@" > "$OUT/logs/$name.log" 2>&1 \
        || { echo "error: run $name failed, see $OUT/logs/$name.log" >&2; exit 1; }
    python -c "import json,sys; r=json.load(open(sys.argv[1])); print(f'  best {r[\"best_metric\"]:.4f} at step {r[\"best_step\"]}, {r[\"train_seconds\"]:.0f} s')" \
        "$OUT/$name/results.json"
}

best_of() {  # best_of KEYS RUN...: the KEYS (e.g. "alpha T") of the run with the best held-out metric
    if [ "${DRY_RUN:-0}" = 1 ]; then
        printf '<%s> ' $1  # placeholders, one per key
        echo
        return
    fi
    python - "$@" <<'PY'
import json, sys
keys, runs = sys.argv[1].split(), sys.argv[2:]
results = [json.load(open(f"{run}/results.json")) for run in runs]
best = max(results, key=lambda r: r["best_metric"])  # ties: the first listed
print(" ".join(f"{best[k]:g}" for k in keys))
PY
}

dry() {  # dry CMD...: run CMD, or print it under DRY_RUN=1
    if [ "${DRY_RUN:-0}" = 1 ]; then
        echo "$*"
    else
        "$@"
    fi
}

final_students() {  # FT, KD, PKD-skip and PKD-last for each seed in SEEDS: STUDENT flags, ALPHA, T, BETA
    for seed in $SEEDS; do
        run "final/ft_seed$seed" "${STUDENT[@]}" --seed "$seed" --alpha 0 --beta 0
        run "final/kd_seed$seed" "${STUDENT[@]}" --seed "$seed" --alpha "$ALPHA" --T "$T" --beta 0
        for strategy in skip last; do
            run "final/pkd_${strategy}_seed$seed" "${STUDENT[@]}" --seed "$seed" --alpha "$ALPHA" --T "$T" \
                --beta "$BETA" --strategy "$strategy"
        done
    done
}

write_results() {  # write_results NAME TITLE: RESULTS/NAME_runs/, NAME.{md,json,png}, NAME_report.md
    dry env RESULTS="$RESULTS" bash scripts/publish_results.sh "$OUT" "$1" "$2"
}

choose_weights() {  # choose_weights "ALPHAS" "TS" "BETAS": sets ALPHA, T (KD sweep), then BETA (PKD-skip sweep)
    # on the SWEEP flags (held-out examples); ALPHA, T and BETA given together skip it.
    if [ -n "${ALPHA:-}" ] && [ -n "${T:-}" ] && [ -n "${BETA:-}" ]; then
        echo "given: alpha $ALPHA, T $T, beta $BETA (no sweep)"
        return
    fi
    local sweep_kd=() sweep_pkd=() alpha temperature beta
    for alpha in $1; do
        for temperature in $2; do
            run "sweep/kd_a${alpha}_T${temperature}" "${SWEEP[@]}" --alpha "$alpha" --T "$temperature" --beta 0
            sweep_kd+=("$OUT/sweep/kd_a${alpha}_T${temperature}")
        done
    done
    read -r ALPHA T <<< "$(best_of "alpha T" "${sweep_kd[@]}")"
    for beta in $3; do
        run "sweep/pkd_skip_b${beta}" "${SWEEP[@]}" --alpha "$ALPHA" --T "$T" --beta "$beta" --strategy skip
        sweep_pkd+=("$OUT/sweep/pkd_skip_b${beta}")
    done
    BETA="$(best_of beta "${sweep_pkd[@]}")"
    echo "chosen on $HOLDOUT held-out train examples: alpha $ALPHA, T $T, beta $BETA"
}

low_resource_students() {  # low_resource_students "SIZES": per seed in SEEDS, FT, KD, PKD-skip, PKD-last on the labelled
    # examples, then KD, PKD-skip, PKD-last with the transfer set (TRANSFER flags), KD with it and --augment 20; for the
    # first seed also KD with each transfer_SIZE.tsv of SPLIT. STUDENT, ALPHA, T, BETA as for final_students;
    # PHASE=labelled stops after the labelled-only students; PHASE=transfer runs only KD and PKD with the transfer set,
    # PKD for each strategy in STRATEGIES ("skip last").
    local seed strategy size
    for seed in $SEEDS; do  # seed by seed, so that a stopped experiment has whole seeds
        [ "$PHASE" = transfer ] || SEEDS="$seed" final_students  # FT, KD, PKD-skip, PKD-last on the K labelled
        [ "$PHASE" = labelled ] && continue
        run "final/kd_transfer_seed$seed" "${STUDENT[@]}" "${TRANSFER[@]}" --seed "$seed" --alpha "$ALPHA" --T "$T" --beta 0
        for strategy in ${STRATEGIES:-skip last}; do
            run "final/pkd_${strategy}_transfer_seed$seed" "${STUDENT[@]}" "${TRANSFER[@]}" --seed "$seed" --alpha "$ALPHA" \
                --T "$T" --beta "$BETA" --strategy "$strategy"
        done
        [ "$PHASE" = transfer ] && continue
        run "final/kd_transfer_augment_seed$seed" "${STUDENT[@]}" "${TRANSFER[@]}" --augment 20 --seed "$seed" \
            --alpha "$ALPHA" --T "$T" --beta 0
        [ "$seed" = "$(echo $SEEDS | cut -d' ' -f1)" ] || continue
        for size in $1; do  # the transfer-size curve, first seed only
            run "transfer_size/kd_transfer${size}_seed$seed" "${STUDENT[@]}" --transfer_file "$SPLIT/transfer_$size.tsv" \
                --eval_overlap drop --seed "$seed" --alpha "$ALPHA" --T "$T" --beta 0
        done
    done
}
