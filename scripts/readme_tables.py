"""Write the results tables of README.md and docs/ from the committed runs JSONs, so no figure is typed by hand.

    python scripts/readme_tables.py            # rewrite every generated table in place
    python scripts/readme_tables.py --check    # exit 1 naming each table that differs from its JSON

A generated table sits between two comments that name its kind and its runs JSON (one record per run,
`collect_results.py --runs_json`), paths relative to the project's root:

    <!-- table students benchmarks/results/sst2_converged.json -->
    ...
    <!-- end table -->

Kinds: `students` (the teacher, then per mode the best dev metric and the metric at the last
evaluation, mean ± std over seeds, the share of the FT -> teacher gap closed, the median train
seconds), `paired` (per pair of modes, the mean paired difference by seed and how many seeds
are above 0) and `transfer_size` (KD with transfer sets of growing size, one seed). Both use the student runs under a `final/` folder, as report_seeds.py does, and only the
seeds that every mode has finished.
"""
import argparse
import json
import os
import re
import statistics
import sys

from collect_results import count_range, mean_std, model_label
from report_seeds import MODES, PAIRS, complete, gap_closed, paired_diffs, students

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ("README.md", "docs/experiments.md")
# the body may not hold another block's start: a lost end marker must not swallow the prose up to the next one
BLOCK = re.compile(r"(<!-- table (\w+) (\S+) -->\n)((?:(?!<!-- table ).)*?)(<!-- end table -->)", re.S)


def teacher_of(records, runs):
    """(the teacher's dev metric, its layers or None): as the KD and PKD runs measured it, else from a run
    named teacher evaluated on dev (the same run on another stack counts once); None when neither."""
    students_seen = [r for by_seed in runs.values() for r in by_seed.values() if r.get("teacher_metric")]
    measured = {(r["teacher_metric"], r.get("teacher_layers")) for r in students_seen}
    if len(measured) == 1:
        return measured.pop()
    on_dev = {(r["best"], r["layers"]) for r in records
              if os.path.basename(r["run"]) == "teacher" and r.get("eval_on") == ["dev"]}
    return on_dev.pop() if len(on_dev) == 1 else None


def label(by_seed):
    """The model column of one mode's runs over seeds."""
    record = by_seed[0]
    key = (record["task"], record["layers"], record["mode"], record["strategy"], record["alpha"], record["T"],
           record["beta"], None, None, count_range(r.get("transfer_examples", 0) for r in by_seed),
           record.get("augment"), record.get("student_model"))
    return model_label(key, augmented_examples=count_range(r.get("augmented_examples", 0) for r in by_seed))


def students_table(records):
    runs, seeds = complete(students(records))
    if "ft" not in runs or not seeds:
        raise ValueError("no seed with every mode finished, FT included, under final/")
    metric = next(iter(runs["ft"].values()))["metric"]
    teacher = teacher_of(records, runs)
    ft = statistics.mean(r["best"] for r in runs["ft"].values())
    gap = dict(gap_closed(runs, teacher[0])) if teacher and teacher[0] != ft else {}
    lines = [f"| Model | best dev {metric}, mean ± std | dev {metric} at the last step | FT -> teacher gap closed "
             f"| seeds | train s per run (median) |", "|---|---|---|---|---|---|"]
    if teacher:
        lines.append(f"| BERT{teacher[1] or ''} teacher | {teacher[0]:.4f} | | | | |")
    for mode in (m for m in MODES if m in runs):
        by_seed = list(runs[mode].values())
        seconds = [r["train_seconds"] for r in by_seed if r.get("train_seconds")]
        share = f"{gap[mode]:.0%}" if mode in gap else ""
        median = f"{statistics.median(seconds):.0f}" if seconds else ""
        lines.append(f"| {label(by_seed)} | {mean_std([r['best'] for r in by_seed])} | "
                     f"{mean_std([r['last'] for r in by_seed])} | {share} | {', '.join(map(str, seeds))} | {median} |")
    return lines


def paired_table(records):
    runs, seeds = complete(students(records))
    lines = ["| paired by seed, points | best: mean | best: seeds above 0 | last step: mean | last step: seeds above 0 |",
             "|---|---|---|---|---|"]
    for a, b in PAIRS:
        if a not in runs or b not in runs or not seeds:
            continue
        cells = []
        for key in ("best", "last"):
            diffs = list(paired_diffs(runs, a, b, key).values())
            cells += [f"{statistics.mean(diffs):+.2f}", f"{sum(d > 0 for d in diffs)} of {len(diffs)}"]
        lines.append(f"| {a} - {b} | " + " | ".join(cells) + " |")
    return lines


def transfer_size_table(records):
    """KD with transfer sets of growing size, one seed: the runs under transfer_size/, the final/ KD runs with and
    without a transfer set of the same seed, and the gain over KD on the labelled examples alone."""
    sized = [r for r in records if r.get("finished") and "/transfer_size/" in r["run"].replace("\\", "/")]
    if not sized:
        raise ValueError("no finished run under transfer_size/")
    seed = sized[0]["seed"]
    runs = students(records)
    if seed not in runs.get("kd", {}) or seed not in runs.get("kd_transfer", {}):
        raise ValueError(f"no finished final/ KD runs with and without a transfer set for seed {seed}")
    base = runs["kd"][seed]
    rows = sorted([base, *sized, runs["kd_transfer"][seed]], key=lambda r: r.get("transfer_examples", 0))
    metric = base["metric"]
    lines = [f"| transfer set (seed {seed}) | best dev {metric} | dev {metric} at the last step | gain over no transfer set, "
             "points (best) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.get('transfer_examples', 0):,} | {r['best']:.4f} | {r['last']:.4f} | "
                     f"{100 * (r['best'] - base['best']):+.2f} |")
    return lines


KINDS = {"students": students_table, "paired": paired_table, "transfer_size": transfer_size_table}


def render(text, root=ROOT):
    """The text with every generated table written anew; ValueError names a block that cannot be."""
    def fill(match):
        head, kind, source, _, end = match.groups()
        if kind not in KINDS:
            raise ValueError(f"unknown table kind {kind!r} (one of {', '.join(KINDS)})")
        with open(os.path.join(root, source), encoding="utf-8") as f:
            records = json.load(f)
        try:
            return head + "\n".join(KINDS[kind](records)) + "\n" + end
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from e
    new = BLOCK.sub(fill, text)
    if new.count("<!-- table ") != new.count("<!-- end table -->"):
        raise ValueError("a '<!-- table KIND JSON -->' line without its '<!-- end table -->'")
    return new


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs from its JSON")
    args = parser.parse_args()
    stale = []
    for page in PAGES:
        path = os.path.join(ROOT, page)
        text = open(path, encoding="utf-8").read()
        try:
            new = render(text)
        except (OSError, ValueError) as e:
            sys.exit(f"error: {page}: {e}")
        if new != text:
            stale.append(page)
            if not args.check:
                open(path, "w", encoding="utf-8").write(new)
    if args.check and stale:
        sys.exit(f"error: tables differ from their JSON in {', '.join(stale)}: run python scripts/readme_tables.py")
    print(("stale: " if args.check else "rewritten: ") + (", ".join(stale) or "none"))


if __name__ == "__main__":
    main()
