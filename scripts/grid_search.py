"""Grid search over the paper's grid: T in {5,10,20}, alpha in {0.2,0.5,0.7}, beta in {10,100,500,1000}.

    python scripts/grid_search.py --out runs/grid -- --task_name SST-2 --data_dir DATA \
        --model_name_or_path MODEL --teacher_finetuned_model_path TEACHER --holdout_from_train 2000 \
        --num_layers_of_student_model 6 --max_steps 2000

Everything after `--` goes to every run_patient_kd.py run. Choose on a held-out slice of train
(--holdout_from_train), not on the dev set you report. Runs are spread over the visible GPUs,
one per GPU at a time, or run one after another on CPU; finished runs (results.json with
"finished": true) are skipped, so the search can be stopped and started again. At the end the
runs are listed best first.
"""
import argparse
import itertools
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = {"T": (5, 10, 20), "alpha": (0.2, 0.5, 0.7), "beta": (10, 100, 500, 1000)}


def grid_points(grid):
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def run_name(point):
    return "_".join(f"{k}{v:g}" for k, v in point.items())


def finished(out_dir):
    path = os.path.join(out_dir, "results.json")
    return os.path.isfile(path) and json.load(open(path, encoding="utf-8")).get("finished", False)


def visible_gpus():
    devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    if devices is None:
        try:
            import paddle

            count = paddle.device.cuda.device_count() if paddle.is_compiled_with_cuda() else 0
        except ImportError:
            count = 0
        return [str(i) for i in range(count)]
    return [d for d in devices.split(",") if d.strip()]


def command(point, out_dir, passthrough):
    flags = [f"--{k}={v:g}" for k, v in point.items()]
    return [sys.executable, os.path.join(ROOT, "run_patient_kd.py"), *passthrough, *flags, "--output_dir", out_dir]


def run_all(jobs, gpus):
    """Run (name, cmd, log) jobs: one per GPU at a time, or one after another without GPUs."""
    slots = gpus or [None]
    running = {}
    failed = []
    queue = list(jobs)
    while queue or running:
        for slot in slots:
            if slot not in running and queue:
                name, cmd, log = queue.pop(0)
                env = dict(os.environ, **({"CUDA_VISIBLE_DEVICES": slot} if slot is not None else {}))
                print(f"start {name}" + (f" on GPU {slot}" if slot is not None else ""), flush=True)
                running[slot] = (name, subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env))
        for slot, (name, proc) in list(running.items()):
            if proc.poll() is not None:
                del running[slot]
                if proc.returncode:
                    failed.append(name)
                print(f"{'FAILED' if proc.returncode else 'done'} {name}", flush=True)
        time.sleep(1)
    return failed


def main():
    argv = sys.argv[1:]
    passthrough = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="one sub-folder per grid point is made here")
    parser.add_argument("--strategy", choices=("skip", "last"), default="skip")
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if not passthrough:
        parser.error("give the run_patient_kd.py flags after --")
    os.makedirs(args.out, exist_ok=True)
    jobs = []
    for point in grid_points(GRID):
        out_dir = os.path.join(args.out, run_name(point))
        if finished(out_dir):
            print(f"skip {run_name(point)} (finished)")
            continue
        jobs.append((run_name(point), command(point, out_dir, passthrough + ["--strategy", args.strategy]),
                     os.path.join(args.out, run_name(point) + ".log")))
    failed = run_all(jobs, visible_gpus())
    ranked = []
    for point in grid_points(GRID):
        path = os.path.join(args.out, run_name(point), "results.json")
        if os.path.isfile(path):
            ranked.append((json.load(open(path))["best_metric"] or 0.0, run_name(point)))
    for metric, name in sorted(ranked, reverse=True):
        print(f"{metric:.4f}  {name}")
    if failed:
        sys.exit(f"error: {len(failed)} run(s) failed: {', '.join(failed)} (see their .log files)")


if __name__ == "__main__":
    main()
