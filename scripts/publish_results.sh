#!/usr/bin/env bash
# The finished runs of an experiment, as committed in benchmarks/results/: every finished results.json of
# OUT (teacher, sweep, final; and OUT's *.txt notes such as teacher.txt) copied to RESULTS/NAME_runs/, and
# from those copies RESULTS/NAME.md (table), NAME.json (one record per run), NAME_report.md (students over
# seeds, scripts/report_seeds.py) and NAME.png (dev curves of the final/ students); then the generated
# tables of README.md and docs/ (scripts/readme_tables.py) when RESULTS is the project's benchmarks/results. Safe to run while the experiment goes on:
# what has finished so far. The reproduce_*.sh scripts end with it.
#   bash scripts/publish_results.sh OUT NAME "TITLE"      (RESULTS=benchmarks/results by default)
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: publish_results.sh OUT NAME TITLE" >&2; exit 2; }
OUT="$(realpath "$1")" NAME="$2" TITLE="$3"
source "$(dirname "$0")/setup_env.sh"
RESULTS="$(realpath -m "${RESULTS:-benchmarks/results}")"
COPY="$RESULTS/${NAME}_runs"
[ -d "$OUT" ] || { echo "error: OUT $OUT: no such folder" >&2; exit 2; }

for f in $(grep -l '"finished": true' "$OUT"/*/results.json "$OUT"/*/*/results.json 2>/dev/null); do
    run_dir="${f#"$OUT"/}"
    mkdir -p "$COPY/$(dirname "$run_dir")"
    cp "$f" "$COPY/$run_dir"
done
[ -d "$COPY" ] || { echo "error: no finished run in $OUT yet" >&2; exit 2; }
find "$OUT" -maxdepth 1 -name '*.txt' -exec cp {} "$COPY/" \;

cd "$RESULTS"  # the records name their runs relative to RESULTS: NAME_runs/final/kd_seed1
python "$ROOT/scripts/collect_results.py" "${NAME}_runs" --out "$NAME.md" --runs_json "$NAME.json" > /dev/null
runs=() labels=()
for run_dir in $(ls -d "${NAME}_runs"/final/*_seed* 2>/dev/null | sort -V); do
    runs+=("$run_dir")
    name="$(basename "$run_dir")"
    labels+=("${name%_seed*}")
done
if [ ${#runs[@]} -gt 0 ]; then
    python "$ROOT/scripts/report_seeds.py" "$NAME.json" --out "${NAME}_report.md" --title "$TITLE" > /dev/null
    python "$ROOT/scripts/plot_curves.py" "${runs[@]}" --labels "${labels[@]}" --out "$NAME.png" --title "$TITLE" \
        > /dev/null
fi
cd "$ROOT"
[ "$RESULTS" != "$ROOT/benchmarks/results" ] || python scripts/readme_tables.py  # the tables read only those
echo "wrote $RESULTS/$NAME.md, .json, _report.md, .png from ${#runs[@]} final runs"
