"""Wall time of one command with Paddle's and glibc's defaults (PKD_CPU_TUNING=off) and with cpu_env's
choices, run one after the other on the same machine; the metric of each run's results.json beside it.

    python benchmarks/cpu_tuning.py --name demo -- python scripts/demo.py --work_dir {out}
    python benchmarks/cpu_tuning.py --name sst2_pkd_skip -- python run_patient_kd.py ... --output_dir {out}

{out} in the command becomes a fresh folder per variant (under --work_dir). Entries are merged by
name into benchmarks/results/cpu_tuning.json.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import cpu_env  # noqa: E402

VARIANTS = {"default": {cpu_env.OFF: "off"}, "tuned": {}}


def best_metrics(folder):
    """{results.json path relative to folder: best metric} of the runs the command left in folder."""
    found = {}
    for path in sorted(glob.glob(os.path.join(folder, "**", "results.json"), recursive=True)):
        with open(path) as f:
            result = json.load(f)
        if "best_metric" in result:
            found[os.path.relpath(os.path.dirname(path), folder) or "."] = result["best_metric"]
    return found


def run(command, env, out):
    shutil.rmtree(out, ignore_errors=True)
    tic = time.perf_counter()
    proc = subprocess.run([part.replace("{out}", out) for part in command], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - tic
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output on stderr"])[-1]
        sys.exit(f"error: the command failed (exit {proc.returncode}): {last}")
    return {"seconds": round(seconds, 1), "best_metric": best_metrics(out)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs", "cpu_tuning"))
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "cpu_tuning.json"))
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not any("{out}" in part for part in command):
        parser.error("the command needs {out} where its output folder goes")
    base = {k: v for k, v in os.environ.items()
            if k not in ("MKL_DEBUG_CPU_TYPE", cpu_env.CHOSEN, cpu_env.OFF, "FLAGS_use_stride_kernel")
            and not k.startswith("MALLOC_")}
    entry = {"command": " ".join(command)}
    for name, extra in VARIANTS.items():
        entry[name] = run(command, {**base, **extra}, os.path.join(args.work_dir, args.name, name))
        print(f"{args.name} {name}: {entry[name]['seconds']} s, best {entry[name]['best_metric']}", flush=True)
    entry["speedup"] = round(entry["default"]["seconds"] / entry["tuned"]["seconds"], 2)
    results = json.load(open(args.out)) if os.path.exists(args.out) else {}
    results[args.name] = entry
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"{args.name}: {entry['speedup']}x; written {args.out}")


if __name__ == "__main__":
    main()
