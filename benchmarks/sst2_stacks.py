"""The SST-2 MiniLM experiment across the two Paddle stacks: the upgrade's regression check and 5 seeds.

    python benchmarks/sst2_stacks.py --old benchmarks/results/sst2_minilm.json --new runs/sst2_p3 \
        --old_stack "paddle 2.6.2" --new_stack "paddle 3.3.1" --out benchmarks/results/sst2_minilm

--old: the records of the experiment run on the legacy stack (seeds 1-3, scripts/reproduce_sst2_cpu.sh);
--new: the OUT folder of the same script run on the default stack (teacher, seeds 1, 4 and 5).
Writes OUT.json (every run of both, each with its stack), OUT.md (seed 1 old vs new, the 5-seed table:
seeds 1-3 old and 4-5 new, paired differences per seed) and OUT.png (dev accuracy against step of the
new stack's runs; the legacy runs' curves were not kept).
"""
import argparse
import json
import os
import statistics

import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)
import collect_results
from collect_results import mean_std, mode_of

MODES = {"ft": "BERT3-FT", "kd": "BERT3-KD (α 0.5, T 10)", "pkd_skip": "BERT3-PKD-skip (β 100, layers 2, 4)",
         "pkd_last": "BERT3-PKD-last (β 100, layers 4, 5)"}


def kind_of(record):
    """teacher, final, repro or sweep, from the run folder's place in the experiment's layout."""
    parts = record["run"].replace("\\", "/").split("/")
    return "teacher" if parts[-1] == "teacher" else parts[-2]


def load(old_json, new_dir, old_stack, new_stack):
    old = [dict(r, stack=r.get("stack", old_stack)) for r in json.load(open(old_json, encoding="utf-8"))
           if r.get("stack", old_stack) == old_stack]
    files = [os.path.relpath(f) for f in collect_results.find_results([new_dir])]
    new = [dict(collect_results.run_record(f, json.load(open(f, encoding="utf-8"))), stack=new_stack) for f in files]
    return old, new


def pick(records, kind, mode=None, seed=None):
    return [r for r in records if r["finished"] and kind_of(r) == kind and (mode is None or mode_of(r) == mode)
            and (seed is None or r["seed"] == seed)]


def report(old, new, old_stack, new_stack, old_seeds=(1, 2, 3), new_seeds=(4, 5)):
    lines = [f"### Regression check: the same runs on {old_stack} and {new_stack}", "",
             f"| run | {old_stack} best (step) | {new_stack} best (step) | difference, points | "
             f"{old_stack} train s | {new_stack} train s |", "|---|---|---|---|---|---|"]
    pairs = [("teacher", None, "BERT6 teacher")] + [("final", m, f"{label}, seed 1") for m, label in MODES.items()]
    for kind, mode, label in pairs:
        a, b = pick(old, kind, mode, None if kind == "teacher" else 1), pick(new, kind, mode,
                                                                             None if kind == "teacher" else 1)
        if a and b:
            a, b = a[0], b[0]
            lines.append(f"| {label} | {a['best']:.4f} ({a['best_step']}) | {b['best']:.4f} ({b['best_step']}) | "
                         f"{100 * (b['best'] - a['best']):+.2f} | {a['train_seconds']:.0f} | {b['train_seconds']:.0f} |")
    seeds = {s: old_stack for s in old_seeds} | {s: new_stack for s in new_seeds}
    source = {old_stack: old, new_stack: new}
    best = {m: {s: pick(source[st], "final", m, s) for s, st in seeds.items()} for m in MODES}
    lines += ["", f"### 5 seeds: {', '.join(map(str, old_seeds))} on {old_stack}, "
              f"{', '.join(map(str, new_seeds))} on {new_stack} (best dev acc of 8 evaluations)", "",
              "| model | mean ± std | n | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|---|---|---|" + "---|" * len(seeds)]
    for m, label in MODES.items():
        values = {s: r[0]["best"] for s, r in best[m].items() if r}
        lines.append(f"| {label} | {mean_std(list(values.values())) if values else '-'} | {len(values)} | "
                     + " | ".join(f"{values[s]:.4f}" if s in values else "-" for s in seeds) + " |")
    lines += ["", "Paired differences (same seed: same initialisation and data order), points:", "",
              "| comparison | mean | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|---|" + "---|" * len(seeds)]
    for a, b in (("kd", "ft"), ("pkd_skip", "kd"), ("pkd_last", "kd"), ("pkd_last", "pkd_skip")):
        diffs = {s: 100 * (best[a][s][0]["best"] - best[b][s][0]["best"]) for s in seeds if best[a][s] and best[b][s]}
        if diffs:
            lines.append(f"| {a} - {b} | {statistics.mean(diffs.values()):+.2f} | "
                         + " | ".join(f"{diffs[s]:+.2f}" if s in diffs else "-" for s in seeds) + " |")
    lines += ["", "Same configuration and seed run twice (PKD-skip, seed 1):"]
    for stack, records in ((old_stack, old), (new_stack, new)):
        first, again = pick(records, "final", "pkd_skip", 1), pick(records, "repro", "pkd_skip", 1)
        if first and again:
            lines.append(f"- {stack}: best dev acc {first[0]['best']:.4f} and {again[0]['best']:.4f} "
                         f"(steps {first[0]['best_step']} and {again[0]['best_step']}).")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--old_stack", default="paddle 2.6.2")
    parser.add_argument("--new_stack", default="paddle 3.3.1")
    parser.add_argument("--out", required=True, help="path prefix: OUT.json, OUT.md, OUT.png")
    args = parser.parse_args()
    old, new = load(args.old, args.new, args.old_stack, args.new_stack)
    text = report(old, new, args.old_stack, args.new_stack)
    print(text)
    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write(text)
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump(old + new, f, indent=1)
    finals = sorted(pick(new, "final"), key=lambda r: (list(MODES).index(mode_of(r)), r["seed"]))
    if finals:
        import plot_curves

        plot_curves.plot([r["run"] for r in finals], [mode_of(r) for r in finals], args.out + ".png",
                         title=f"SST-2 dev, 3-layer students, {args.new_stack}, seeds "
                               f"{', '.join(str(s) for s in sorted({r['seed'] for r in finals}))} (mean ± std)")


if __name__ == "__main__":
    main()
