"""Does this project work on this machine's GPUs? A few minutes, one pass/fail line per item.

    bash scripts/gpu_check.sh            # or: python scripts/gpu_check.py [--work_dir DIR] [--family ernie3]

On a tiny synthetic task and a tiny BERT made here (nothing downloaded; --family: another encoder family), on GPU 0 (the first of
CUDA_VISIBLE_DEVICES): a fine-tuned teacher, then a few steps each of FT, KD and PKD, the same with
--use_amp, data-parallel training on two GPUs compared with one GPU at the same global batch (when two
are visible), and export with a GPU predictor compared with the eager model. Exit status 1 if any
item failed; without a usable GPU every item is skipped with the reason, exit status 0.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from project_root import ROOT  # first: the project on sys.path, CPU settings before paddle
from runtime import cpu_env

import numpy as np

from runtime import paddle_compat
from demo_assets import TINY_ENCODERS, write_sst2_layout, write_tiny_encoder

ITEMS = ("teacher", "ft", "kd", "pkd", "amp", "two_gpus", "export_predict")
STEPS = 30
DEVICE = "gpu"  # the tests run the same checks on the CPU
MODEL = "model"  # the tiny pre-trained model's folder in the work dir


def run_training(work, name, extra, launcher=(sys.executable,), env=None):
    """results.json of one run_patient_kd.py run on the work dir's data and model; raises with the log's tail."""
    out = os.path.join(work, name)
    argv = [*launcher, os.path.join(ROOT, "run_patient_kd.py"), "--task_name", "SST-2",
            "--data_dir", os.path.join(work, "SST-2"), "--model_name_or_path", os.path.join(work, MODEL),
            "--output_dir", out, "--max_seq_length", "32", "--learning_rate", "1e-3", "--logging_steps", "1",
            "--save_steps", "1000", "--eval_steps", "1000", "--device", DEVICE, "--teacher_cache_dir",
            os.path.join(work, "cache"), *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"exit {proc.returncode}: {tail[0][:300]}")
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def losses(results):
    return np.array([w["loss"] for w in results["train_log"]])


def check_student(work, name, mode_flags):
    teacher = os.path.join(work, "teacher", "best_model")
    r = run_training(work, name, ["--num_layers_of_student_model", "2", "--max_steps", str(STEPS),
                                  "--batch_size", "16", "--teacher_finetuned_model_path", teacher, *mode_flags])
    if not (r["finished"] and np.isfinite(losses(r)).all()):
        raise RuntimeError("did not finish with finite losses")
    return f"{STEPS} steps, loss {losses(r)[0]:.3f} -> {losses(r)[-1]:.3f}, dev acc {r['best_metric']:.3f}"


def check_two_gpus(work):
    """Same global batch (2 x 8 against 1 x 16): the same losses within float rounding on a GPU."""
    one = run_training(work, "dp1", ["--num_layers_of_student_model", "2", "--max_steps", "10", "--batch_size", "16"])
    two = run_training(work, "dp2", ["--num_layers_of_student_model", "2", "--max_steps", "10", "--batch_size", "8"],
                       launcher=(sys.executable, "-m", "paddle.distributed.launch", "--gpus", "0,1",
                                 "--log_dir", os.path.join(work, "dp2_logs")))
    worst = float(np.abs(losses(one) - losses(two)).max())
    if worst > 1e-3:
        raise RuntimeError(f"losses differ by up to {worst:.2e} (1 GPU x 16 vs 2 GPUs x 8)")
    return f"10 steps, largest loss difference {worst:.1e}"


def check_export_predict(work):
    import data
    from tasks import benchmarks
    from deploy import inference
    import modeling
    import paddle

    model_dir = os.path.join(work, "teacher", "best_model")
    exported = inference.export(modeling.load_classifier(model_dir, "x"), os.path.join(work, "exported"))
    tokenizer = modeling.load_tokenizer(model_dir, "x")
    task = benchmarks.get_task("sst-2")
    dev = data.encode_split(benchmarks.load_splits(task, ("dev",), os.path.join(work, "SST-2"))["dev"], task, tokenizer, 32)
    static = inference.predict_logits(inference.create_predictor(exported, DEVICE), dev, data.collator(tokenizer))
    cpu_env.set_device(DEVICE)
    model = modeling.load_classifier(model_dir, "x")
    model.eval()
    with paddle.no_grad():
        batch = data.collator(tokenizer)([{k: e[k] for k in ("input_ids", "token_type_ids")} for e in dev])
        eager = model(paddle.to_tensor(batch["input_ids"]), token_type_ids=paddle.to_tensor(batch["token_type_ids"]))
    worst = float(np.abs(static - eager.numpy()).max())
    if worst > 1e-3:
        raise RuntimeError(f"predictor and eager logits differ by up to {worst:.2e}")
    return f"{len(dev)} dev sentences, largest logit difference {worst:.1e}"


def run_checks(work):
    """{item: (status, detail)} with status pass, fail or skip."""
    checks = {
        "teacher": lambda: run_training(work, "teacher", ["--num_layers_of_student_model", "4", "--max_steps", "150",
                                                          "--batch_size", "16", "--eval_steps", "150"]) and "150 steps",
        "ft": lambda: check_student(work, "ft", ["--alpha", "0", "--beta", "0"]),
        "kd": lambda: check_student(work, "kd", ["--alpha", "0.5", "--T", "5", "--beta", "0"]),
        "pkd": lambda: check_student(work, "pkd", ["--alpha", "0.5", "--T", "5", "--beta", "100"]),
        "amp": lambda: check_student(work, "pkd_amp", ["--alpha", "0.5", "--T", "5", "--beta", "100", "--use_amp"]),
        "two_gpus": lambda: check_two_gpus(work),
        "export_predict": lambda: check_export_predict(work),
    }
    results = {}
    for item in ITEMS:
        if item == "two_gpus" and paddle_compat.visible_gpus() < 2:
            results[item] = ("skip", f"{paddle_compat.visible_gpus()} GPU visible, needs 2")
            continue
        if item != "teacher" and results["teacher"][0] != "pass":
            results[item] = ("skip", "no teacher")
            continue
        try:
            results[item] = ("pass", checks[item]())
        except Exception as e:  # a check that fails is reported, and the others still run
            results[item] = ("fail", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        print(f"{results[item][0].upper():4} {item}: {results[item][1]}", flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default=None, help="default: a temporary folder, removed afterwards")
    parser.add_argument("--family", choices=TINY_ENCODERS, default="bert",
                        help="the tiny model's encoder family (ernie3: ERNIE 3.0; roberta_bpe: English RoBERTa)")
    args = parser.parse_args(argv)
    print(f"{paddle_compat.build_name()}; visible GPUs: {paddle_compat.visible_gpus()}; {args.family}", flush=True)
    problem = paddle_compat.gpu_unusable()
    if problem:
        print(f"no GPU usable: {problem.split(': ', 1)[1]}")
        for item in ITEMS:
            print(f"SKIP {item}: no GPU")
        print(f"0 passed, 0 failed, {len(ITEMS)} skipped")
        return 0
    for line in paddle_compat.gpu_arch_warnings():
        print(line)
    with tempfile.TemporaryDirectory(prefix="pkd-gpu-check-") as tmp:
        work = args.work_dir or tmp
        write_sst2_layout(os.path.join(work, "SST-2"), num_train=800, num_dev=200, num_test=20)
        write_tiny_encoder(args.family, os.path.join(work, MODEL), num_layers=4, hidden_size=64, heads=4)
        results = run_checks(work)
    for item, (status, detail) in results.items():
        if status == "skip":
            print(f"SKIP {item}: {detail}")
    counts = {s: sum(r[0] == s for r in results.values()) for s in ("pass", "fail", "skip")}
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
