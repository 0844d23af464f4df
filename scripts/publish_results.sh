#!/usr/bin/env bash
# The finished runs of an experiment, as committed in benchmarks/results/: every finished results.json of
# OUT (teacher, sweep, final, ...; and OUT's *.txt notes such as teacher.txt) copied to RESULTS/NAME_runs/
# (replacing what was there), and from those copies:
#   NAME.md          the table of the teacher and final/ students (scripts/collect_results.py)
#   NAME.json        one record per run, every run (the input of report_seeds.py and readme_tables.py)
#   NAME_report.md   the students over seeds (scripts/report_seeds.py)
#   NAME.png         the dev curves of the final/ students, seeds averaged
# Safe to run while the experiment goes on (what has finished so far). The reproduce_*.sh scripts end with
# it. The tables of README.md and docs/ are then written by `python scripts/readme_tables.py`.
#   bash scripts/publish_results.sh OUT NAME "TITLE"      (RESULTS=benchmarks/results by default)
# On another machine, an experiment resumes from what was published: copy RESULTS/NAME_runs/final (and
# transfer_size, sweep) into OUT, not teacher/ (its weights are not published: the script trains it again; with
# the same seed and Paddle it came out with the committed record here, field for field).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: publish_results.sh OUT NAME TITLE" >&2; exit 2; }
[ -d "$1" ] || { echo "error: OUT $1: no such folder" >&2; exit 2; }
OUT="$(realpath "$1")" NAME="$2" TITLE="$3"
RESULTS="$(realpath -m "${RESULTS:-$(dirname "$0")/../benchmarks/results}")"
source "$(dirname "$0")/setup_env.sh"
COPY="$RESULTS/${NAME}_runs"

NEW="$RESULTS/.${NAME}_runs.$$"  # built beside, then swapped in: an error leaves the old copies as they were
mkdir -p "$NEW"
trap 'rm -rf "$NEW"' EXIT
for f in "$OUT"/*/results.json "$OUT"/*/*/results.json; do
    [ -f "$f" ] && grep -q '"finished": true' "$f" || continue
    run_dir="${f#"$OUT"/}"
    mkdir -p "$NEW/$(dirname "$run_dir")"
    cp "$f" "$NEW/$run_dir"
done
[ -n "$(ls -A "$NEW")" ] || { echo "error: no finished run in $OUT yet" >&2; exit 2; }
find "$OUT" -maxdepth 1 -name '*.txt' -exec cp {} "$NEW/" \;
rm -rf "$COPY"
mv "$NEW" "$COPY"

cd "$RESULTS"  # the records name their runs relative to RESULTS: NAME_runs/final/kd_seed1
tables=()
for run_dir in "${NAME}_runs"/teacher*/ "${NAME}_runs"/final/; do
    [ -d "$run_dir" ] && tables+=("$run_dir")
done
[ ${#tables[@]} -eq 0 ] || python "$ROOT/scripts/collect_results.py" "${tables[@]}" --out "$NAME.md" > /dev/null
python "$ROOT/scripts/collect_results.py" "${NAME}_runs" --runs_json "$NAME.json" > /dev/null
runs=() labels=()
for run_dir in "${NAME}_runs"/final/*_seed*; do
    [ -d "$run_dir" ] || continue
    runs+=("$run_dir")
    name="$(basename "$run_dir")"
    labels+=("${name%_seed*}")
done
if [ ${#runs[@]} -gt 0 ]; then
    python "$ROOT/scripts/report_seeds.py" "$NAME.json" --out "${NAME}_report.md" --title "$TITLE" > /dev/null
    python "$ROOT/scripts/plot_curves.py" "${runs[@]}" --labels "${labels[@]}" --out "$NAME.png" --title "$TITLE" \
        > /dev/null
    echo "wrote $RESULTS/${NAME}_runs/, $NAME.md, .json, _report.md, .png (${#runs[@]} final runs)"
else
    echo "wrote $RESULTS/${NAME}_runs/, $NAME.md, .json (no final run finished yet: no report, no curves)"
fi
