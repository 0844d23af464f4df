"""Wall time of one command with Paddle's and glibc's defaults (PKD_CPU_TUNING=off) and with cpu_env's
choices, run one after the other on the same machine; the metric of each run's results.json beside it.

    python benchmarks/cpu_tuning.py --name demo -- python scripts/demo.py --work_dir {out}
    python benchmarks/cpu_tuning.py --name sst2_pkd_skip -- python run_patient_kd.py ... --output_dir {out}

{out} in the command becomes a fresh folder per variant (under --work_dir). Entries are merged by
name into benchmarks/results/cpu_tuning.json, with each run's best metric and train seconds, and
whether the two variants' runs evaluated the same (same_results).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from project_root import ROOT  # first: the project on sys.path, CPU settings before paddle
import collect_results
from runtime import cpu_env

VARIANTS = {"default": {cpu_env.TUNING_VAR: "off"}, "tuned": {}}


def read_runs(folder):
    """{run folder relative to folder: its results.json} for the runs the command left in folder."""
    runs = {}
    for path in collect_results.find_results([folder]):
        with open(path) as f:
            result = json.load(f)
        if "best_metric" in result:
            runs[os.path.relpath(os.path.dirname(path), folder)] = result
    return runs


def compare(default, tuned):
    """Per run: whether every evaluation gave the same value of the run's metric, and the largest
    differences of the evaluation losses and of the logged training losses."""
    out = {}
    for name in sorted(set(default) & set(tuned)):
        a, b = default[name], tuned[name]
        metric = a["best_metric_name"]
        evals = list(zip(a.get("history", []), b.get("history", [])))
        train = list(zip(a.get("train_log", []), b.get("train_log", [])))
        out[name] = {f"same_{metric}_every_evaluation": all(x["step"] == y["step"] and x[metric] == y[metric]
                                                            for x, y in evals) and len(evals) > 0,
                     "max_eval_loss_difference": max((abs(x["loss"] - y["loss"]) for x, y in evals), default=None),
                     "max_train_loss_difference": max((abs(x["loss"] - y["loss"]) for x, y in train), default=None)}
    return out


def run(command, env, out):
    shutil.rmtree(out, ignore_errors=True)
    tic = time.perf_counter()
    proc = subprocess.run([part.replace("{out}", out) for part in command], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - tic
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output on stderr"])[-1]
        sys.exit(f"error: the command failed (exit {proc.returncode}): {last}")
    return seconds, read_runs(out)


def write_entry(path, name, fields):
    """Merge fields into the entry `name` of the JSON file at path."""
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    results[name] = {**results.get(name, {}), **fields}
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"{name}: written {path}: {json.dumps(fields)[:300]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs", "cpu_tuning"))
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "cpu_tuning.json"))
    parser.add_argument("--first", choices=list(VARIANTS), default="default", help="which variant runs first")
    parser.add_argument("--compare_only", action="store_true",
                        help="recompute same_results from the runs already in --work_dir, run nothing")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.compare_only:
        return write_entry(args.out, args.name, {"same_results": compare(
            *(read_runs(os.path.join(args.work_dir, args.name, v)) for v in ("default", "tuned")))})
    if not any("{out}" in part for part in command):
        parser.error("the command needs {out} where its output folder goes")
    entry = {"command": " ".join(command), "order": [args.first, *(v for v in VARIANTS if v != args.first)]}
    runs = {}
    for name in entry["order"]:
        seconds, runs[name] = run(command, {**cpu_env.fresh_environ(), **VARIANTS[name]},
                                  os.path.join(args.work_dir, args.name, name))
        entry[name] = {"seconds": round(seconds, 1),
                       "best_metric": {k: r["best_metric"] for k, r in runs[name].items()},
                       "train_seconds": {k: r.get("train_seconds") for k, r in runs[name].items()}}
        print(f"{args.name} {name}: {entry[name]['seconds']} s, best {entry[name]['best_metric']}", flush=True)
    entry["speedup"] = round(entry["default"]["seconds"] / entry["tuned"]["seconds"], 2)
    train = {v: list(entry[v]["train_seconds"].values()) for v in VARIANTS}
    if all(train[v] and None not in train[v] for v in VARIANTS):
        entry["train_speedup"] = round(sum(train["default"]) / sum(train["tuned"]), 2)
    entry["same_results"] = compare(runs["default"], runs["tuned"])
    write_entry(args.out, args.name, entry)


if __name__ == "__main__":
    main()
