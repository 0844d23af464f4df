"""FT, KD and PKD students over several seeds, reported as a paper would, from a runs JSON.

    python scripts/collect_results.py runs/sst2_converged --runs_json benchmarks/results/sst2_converged.json
    python scripts/report_seeds.py benchmarks/results/sst2_converged.json --out benchmarks/results/sst2_converged_report.md

The runs JSON holds one record per run (collect_results.py --runs_json); the students are the
records whose folder is under a `final/` folder (or all non-teacher records with --all). Written:
per mode the best dev metric (best of the run's evaluations) and the metric at the last evaluation,
mean ± std over seeds; paired differences by seed (same seed: same initialisation and data order)
with how many seeds agree in sign; the share of the FT -> teacher gap each mode closes (the teacher's
metric on the same dev set, as the KD and PKD runs measured it).
"""
import argparse
import json
import statistics

from collect_results import mean_std, mode_of

MODES = ("ft", "kd", "pkd_skip", "pkd_last", "kd_transfer", "pkd_skip_transfer", "pkd_last_transfer",
         "kd_transfer_augment")
PAIRS = (("kd", "ft"), ("pkd_skip", "kd"), ("pkd_last", "kd"), ("pkd_last", "pkd_skip"),
         ("kd_transfer", "kd"), ("kd_transfer", "ft"), ("pkd_skip_transfer", "kd_transfer"),
         ("pkd_last_transfer", "kd_transfer"), ("kd_transfer_augment", "kd_transfer"))


def students(records, everything=False):
    """{mode: {seed: record}} of the finished student runs."""
    out = {}
    for r in records:
        if r.get("finished") and (everything or "/final/" in r["run"].replace("\\", "/")):
            out.setdefault(mode_of(r), {})[r["seed"]] = r
    return out


def complete(runs):
    """({mode: {seed: record}} kept to the seeds every mode has finished, those seeds): while an experiment
    runs, means over different seed sets would compare unlike things."""
    seeds = set.intersection(*(set(by_seed) for by_seed in runs.values())) if runs else set()
    return {mode: {s: r for s, r in by_seed.items() if s in seeds} for mode, by_seed in runs.items()}, sorted(seeds)


def per_mode_table(runs, seeds, common, metric):
    """Means over COMMON, the seeds every mode has (complete); each seed's own cell for every seed there is."""
    lines = [f"| mode | best dev {metric}, mean ± std | at the last step, mean ± std | "
             + " | ".join(f"seed {s} best / last" for s in seeds) + " | train s per run |",
             "|---|---|---|" + "---|" * len(seeds) + "---|"]
    for mode in (m for m in MODES if m in runs):
        by_seed = runs[mode]
        best = [by_seed[s]["best"] for s in common]
        last = [by_seed[s]["last"] for s in common]
        cells = [f"{by_seed[s]['best']:.4f} / {by_seed[s]['last']:.4f}" if s in by_seed else "-" for s in seeds]
        seconds = [by_seed[s]["train_seconds"] for s in seeds if by_seed.get(s, {}).get("train_seconds")]
        median = f"{statistics.median(seconds):.0f}" if seconds else "-"
        means = f"{mean_std(best)} | {mean_std(last)}" if common else "- | -"
        lines.append(f"| {mode} | {means} | " + " | ".join(cells) + f" | {median} |")
    return lines


def paired_diffs(runs, a, b, key):
    """{seed: 100 * (a - b)} of `key` over the seeds both modes have: points, paired by seed."""
    return {s: 100 * (runs[a][s][key] - runs[b][s][key]) for s in sorted(runs[a]) if s in runs[b]}


def paired_table(runs, seeds, key):
    lines = [f"| {key} | mean, points | " + " | ".join(f"seed {s}" for s in seeds) + " | seeds above 0 |",
             "|---|---|" + "---|" * len(seeds) + "---|"]
    for a, b in PAIRS:
        if a not in runs or b not in runs:
            continue
        diffs = paired_diffs(runs, a, b, key)
        if diffs:
            above = sum(d > 0 for d in diffs.values())
            lines.append(f"| {a} - {b} | {statistics.mean(diffs.values()):+.2f} | "
                         + " | ".join(f"{diffs[s]:+.2f}" if s in diffs else "-" for s in seeds)
                         + f" | {above} of {len(diffs)} |")
    return lines


def gap_closed(runs, teacher):
    """(mode, share) of the FT -> teacher gap each distilled mode closes, from the best-metric means."""
    ft = statistics.mean(r["best"] for r in runs["ft"].values())
    return [(m, (statistics.mean(r["best"] for r in runs[m].values()) - ft) / (teacher - ft))
            for m in MODES[1:] if m in runs]


def report(records, title, everything=False):
    runs = students(records, everything)
    seeds = sorted({s for by_seed in runs.values() for s in by_seed})
    metric = next(iter(next(iter(runs.values())).values()))["metric"]
    teachers = {r["teacher_metric"] for by_seed in runs.values() for r in by_seed.values() if r.get("teacher_metric")}
    complete_runs, common = complete(runs)
    lines = [f"### {title}", ""] + per_mode_table(runs, seeds, common, metric)
    lines += ["", "Paired differences of the best dev metric (same seed = same initialisation and data order):", ""]
    lines += paired_table(runs, seeds, "best")
    lines += ["", "Paired differences of the metric at the last step:", ""] + paired_table(runs, seeds, "last")
    if len(teachers) == 1 and "ft" in runs and common:
        teacher = teachers.pop()
        lines += ["", f"Share of the FT -> teacher gap closed (teacher {metric} {teacher:.4f} on the same dev set, "
                      f"best-metric means over seeds {', '.join(map(str, common))}): "
                      + ", ".join(f"{m} {share:.0%}" for m, share in gap_closed(complete_runs, teacher))]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_json", help="one record per run: collect_results.py --runs_json")
    parser.add_argument("--title", default="Students over seeds")
    parser.add_argument("--all", action="store_true", help="every student record, not only those under final/")
    parser.add_argument("--out", help="also write the markdown here")
    args = parser.parse_args()
    text = report(json.load(open(args.runs_json, encoding="utf-8")), args.title, args.all)
    print(text)
    if args.out:
        open(args.out, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    main()
